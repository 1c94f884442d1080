//! Gifts: the gift bar (a sheet with the catalogue, prices, count, the PK
//! side to support, the balance and a recharge shortcut) and the animation
//! layer on the stage that plays every gift the room sees.

import { get, post } from '../api.js';
import { me, setBalance, onUser, refreshBalance } from '../session.js';
import { el, mount, fmtCoins, loading, toast, dismissToast, errorSentence } from '../ui.js';
import { openRecharge } from './recharge.js';

const ICONS = [
  [/candy|lolli/i, '🍭'], [/rose|flower/i, '🌹'], [/heart|love/i, '💖'], [/kiss|\blips?\b/i, '💋'], [/rocket/i, '🚀'], [/car|sport/i, '🏎️'],
  [/plane|jet/i, '✈️'], [/castle|palace/i, '🏰'], [/crown|king/i, '👑'], [/diamond|gem/i, '💎'],
  [/firework/i, '🎆'], [/cake/i, '🎂'], [/star/i, '🌟'], [/beer|drink/i, '🍺'],
  [/ship|yacht|boat/i, '🛳️'], [/dragon/i, '🐉'], [/unicorn/i, '🦄'], [/clap|applause/i, '👏'], [/thumb|like/i, '👍'],
];

/** The emoji standing for a gift, from its effect name, then its name. */
export function giftIcon(gift) {
  const keys = `${gift.effect || ''} ${gift.name || ''}`;
  const hit = ICONS.find(([re]) => re.test(keys));
  return hit ? hit[1] : '🎁';
}

/** How grand the animation is: by price times count. */
function tier(gift, count) {
  const value = (gift.price || 0) * (count || 1);
  if (value >= 500) return 'epic';
  if (value >= 50) return 'big';
  return 'small';
}

/** Gifts of one kind from one sender this close together make one combo banner. */
export const COMBO_MS = 3000;

/**
 * The banners on the stage. Gifts of the same kind from the same sender that
 * arrive within COMBO_MS of the last one merge into one banner whose count rises
 * (×1, ×2 … ×12): the count is the total number of gifts, so two sends of ×10
 * show ×20. The banner stays until COMBO_MS after the last gift of its combo.
 */
export function createGiftLayer() {
  const node = el('div.gift-layer', { 'aria-live': 'polite', 'aria-label': 'Gifts' });
  const lanes = el('div.gift-lanes');
  node.append(lanes);
  const queue = [];
  const combos = new Map(); // sender:gift -> the combo still open
  let active = 0;

  function show(data) {
    if (!data || !data.gift) return;
    const key = `${data.from ? data.from.id : '?'}:${data.gift.id ?? data.gift.name}`;
    const n = Math.max(1, Number(data.count) || 1);
    // The server merges a sender's quick gifts too: one frame may stand for several sends.
    const sends = Math.max(1, Number(data.sends) || 1);
    const now = Date.now();
    const open = combos.get(key);
    if (open && now - open.last <= COMBO_MS) {
      open.total += n;
      open.sends += sends;
      open.last = now;
      if (open.banner) bump(open);
      return;
    }
    const combo = { key, data, total: n, sends, last: now, banner: null };
    combos.set(key, combo);
    queue.push(combo);
    pump();
  }

  function pump() {
    while (active < 3 && queue.length) {
      const combo = queue.shift();
      active += 1;
      play(combo).then(() => { active -= 1; pump(); });
    }
  }

  function play(combo) {
    const { from, gift } = combo.data;
    const t = tier(gift, combo.total);
    const icon = giftIcon(gift);
    combo.tier = t;
    combo.count = el('span.gift-anim-count', { 'data-testid': 'gift-combo' }, `×${combo.total}`);
    combo.banner = el('div.gift-anim', { class: `tier-${t}`, 'data-testid': 'gift-anim', role: 'status',
      dataset: { combo: String(combo.total), sender: from && from.id !== undefined ? String(from.id) : '', giftId: String(gift.id ?? '') } },
    el('span.gift-anim-icon', { 'aria-hidden': 'true' }, icon),
    el('span.gift-anim-text', el('strong', from && from.nickname ? from.nickname : 'Someone'), el('span', ` sent ${gift.name}`)),
    combo.count);
    lanes.append(combo.banner);
    if (t !== 'small') burst(icon, t);
    const hold = t === 'epic' ? 4200 : COMBO_MS + 200;
    return new Promise((resolve) => {
      const check = () => {
        // The banner stays while the combo is open (a gift within COMBO_MS keeps it).
        const left = Math.max(combo.last + COMBO_MS, combo.shownAt + hold) - Date.now();
        if (left > 0) { setTimeout(check, left + 20); return; }
        if (combos.get(combo.key) === combo) combos.delete(combo.key);
        combo.banner.classList.add('leaving');
        setTimeout(() => { combo.banner.remove(); resolve(); }, 450);
      };
      combo.shownAt = Date.now();
      setTimeout(check, hold);
    });
  }

  /** One more gift in an open combo: the count rises with a pop, a grander tier bursts again. */
  function bump(combo) {
    combo.count.textContent = `×${combo.total}`;
    combo.banner.dataset.combo = String(combo.total);
    combo.count.classList.remove('bump');
    void combo.count.offsetWidth; // restart the pop animation
    combo.count.classList.add('bump');
    const t = tier(combo.data.gift, combo.total);
    if (t !== combo.tier) {
      combo.banner.classList.remove(`tier-${combo.tier}`);
      combo.banner.classList.add(`tier-${t}`);
      combo.tier = t;
      burst(giftIcon(combo.data.gift), t);
    }
  }

  /** A full-stage burst of the gift's icon for the grander gifts. */
  function burst(icon, t) {
    const big = el('div.gift-burst', { class: `tier-${t}`, 'aria-hidden': 'true' }, el('span.gift-burst-icon', icon));
    const n = t === 'epic' ? 18 : 8;
    for (let i = 0; i < n; i += 1) {
      const s = el('span.spark', { style: { '--a': `${(360 / n) * i}deg`, '--d': `${90 + Math.random() * 80}px`, '--delay': `${Math.random() * 0.3}s` } }, t === 'epic' ? '✨' : '•');
      big.append(s);
    }
    node.append(big);
    setTimeout(() => big.remove(), t === 'epic' ? 3800 : 2400);
  }

  return { node, show };
}

/**
 * The gift sheet. `getTargets()` returns the anchors that may receive a gift:
 * [{id, nickname}] (one normally, host and challenger in a running PK).
 */
export function createGiftBar({ roomId, getTargets, anchorId }) {
  let gifts = null;
  let selected = null;
  const grid = el('div.gift-grid', { role: 'radiogroup', 'aria-label': 'Gifts' }, loading('Loading gifts…'));
  const count = el('select.gift-count', { id: 'gift-count', 'aria-label': 'How many' },
    [1, 5, 10, 66, 99].map((n) => el('option', { value: String(n) }, `×${n}`)));
  const targetBox = el('div.gift-targets', { role: 'radiogroup', 'aria-label': 'Send to' });
  const balance = el('span.sheet-balance', { 'data-testid': 'gift-balance' });
  const error = el('p.form-error', { role: 'alert', 'data-testid': 'gift-error' });
  const sendBtn = el('button.btn.btn-primary', { type: 'button', id: 'gift-send', disabled: true }, 'Send');
  const rechargeBtn = el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => openRecharge() }, 'Recharge');
  const sheet = el('div.sheet.gift-sheet', { role: 'dialog', 'aria-label': 'Send a gift', hidden: true, id: 'gift-sheet' },
    el('div.sheet-head', el('h2', 'Send a gift'),
      el('button.icon-btn', { type: 'button', 'aria-label': 'Close gifts', onclick: () => close() }, '✕')),
    grid, targetBox, error,
    el('div.sheet-foot', el('span.wallet-line', el('span.coin', { 'aria-hidden': 'true' }), balance), rechargeBtn, count, sendBtn));

  // A gift error stays until the balance changes (a recharge, a grab, a gift that went through).
  let errorBalance = null;
  const updateBalance = (u) => {
    balance.textContent = u ? `${fmtCoins(u.balance)} coins` : '';
    if (errorBalance !== null && u && u.balance !== errorBalance) clearError();
  };
  updateBalance(me());
  const unsub = onUser(updateBalance);

  function showError(...content) {
    mount(error, ...content);
    errorBalance = me() ? me().balance : null;
  }
  function clearError() {
    mount(error);
    errorBalance = null;
    dismissToast('gift-failed');
  }
  const rechargeNow = (testid) => ({ label: 'Recharge now', testid, onClick: () => openRecharge() });

  /** "You need 450 more coins …": the amount missing, from the balance the wallet has now. */
  function shortfall(gift, n) {
    const need = (gift.price || 0) * n;
    const have = me() ? me().balance : 0;
    if (!gift.price || need <= have) return errorSentence({ code: 'insufficient_balance' });
    return `You need ${fmtCoins(need - have)} more coins to send ${gift.name} ×${n}: it costs ${fmtCoins(need)} and you have ${fmtCoins(have)}. Recharge, then send it again.`;
  }

  async function load() {
    if (gifts) return;
    try {
      gifts = await get('/api/gifts');
      mount(grid, gifts.map((g) => {
        const b = el('button.gift-item', { type: 'button', role: 'radio', 'aria-checked': 'false', dataset: { giftId: g.id },
          'aria-label': `${g.name}, ${g.price} coins` },
        el('span.gift-item-icon', { 'aria-hidden': 'true' }, giftIcon(g)),
        el('span.gift-item-name', g.name),
        el('span.gift-item-price', el('span.coin', { 'aria-hidden': 'true' }), fmtCoins(g.price)));
        b.addEventListener('click', () => select(g, b));
        return b;
      }));
      if (!gifts.length) mount(grid, el('p', 'No gifts are on offer right now.'));
    } catch (err) {
      gifts = null;
      mount(grid, el('p.form-error', { role: 'alert' }, `The gifts could not be loaded. ${errorSentence(err)}`,
        el('button.btn.btn-link', { type: 'button', onclick: () => { mount(grid, loading('Loading gifts…')); load(); } }, 'Try again')));
    }
  }

  function select(g, b) {
    selected = g;
    grid.querySelectorAll('.gift-item').forEach((x) => x.setAttribute('aria-checked', String(x === b)));
    sendBtn.disabled = false;
    sendBtn.textContent = `Send ${g.name}`;
  }

  function renderTargets() {
    const targets = getTargets();
    if (targets.length < 2) { mount(targetBox); targetBox.hidden = true; return; }
    targetBox.hidden = false;
    // The room's own anchor first (in the challenger's room, the challenger), else the host.
    const own = targets.find((t) => anchorId !== undefined && t.id === anchorId);
    const current = targetBox.dataset.to || String((own || targets[0]).id);
    mount(targetBox, el('span.label', 'Support:'), targets.map((t, i) => el('label.pill-radio',
      el('input', { type: 'radio', name: 'gift-to', value: String(t.id), checked: String(t.id) === current,
        onchange: () => { targetBox.dataset.to = String(t.id); } }),
      el('span', { class: i === 0 ? 'side-host' : 'side-challenger' }, t.nickname))));
    targetBox.dataset.to = current;
  }

  // One error at a time: sending again replaces it (never a second line), success clears it.
  sendBtn.addEventListener('click', async () => {
    if (!selected) return;
    const gift = selected;
    const n = Number(count.value);
    sendBtn.disabled = true;
    const body = { gift_id: gift.id, count: n };
    if (!targetBox.hidden && targetBox.dataset.to) body.to = Number(targetBox.dataset.to);
    try {
      const res = await post(`/api/rooms/${roomId}/gifts`, body);
      clearError();
      setBalance(res.balance);
    } catch (err) {
      if (err.code === 'insufficient_balance') {
        errorBalance = null;
        await refreshBalance();
        const act = rechargeNow('gift-recharge');
        showError(el('span', shortfall(gift, n)), ' ',
          el('button.btn.btn-link', { type: 'button', 'data-testid': act.testid, onclick: act.onClick }, act.label));
      } else {
        showError(errorSentence(err, 'gift'));
      }
    } finally {
      sendBtn.disabled = false;
    }
  });

  /**
   * A `gift_failed` notice: the sheet already says so when it is open; else one
   * toast (replaced, never stacked) with the amount missing and Recharge.
   */
  function failed(data) {
    if (!sheet.hidden) return;
    const gift = gifts && gifts.find((g) => g.id === data.gift_id);
    const text = data.reason && data.reason !== 'insufficient_balance'
      ? 'Your gift could not be sent and no coins were taken. Try again in a moment.'
      : (gift ? shortfall(gift, Number(data.count) || 1) : errorSentence({ code: 'insufficient_balance' }));
    toast(text, 'error', 10000, { key: 'gift-failed', action: rechargeNow('toast-recharge'), testid: 'gift-failed' });
    errorBalance = me() ? me().balance : null;
  }

  sheet.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
  let opener = null;
  function open() {
    opener = document.activeElement;
    sheet.hidden = false;
    renderTargets();
    load().then(() => (grid.querySelector('[aria-checked="true"]') || grid.querySelector('.gift-item') || sendBtn).focus());
  }
  function close() {
    sheet.hidden = true;
    if (opener && opener.focus) opener.focus();
  }
  const toggle = () => (sheet.hidden ? open() : close());
  return { node: sheet, open, close, toggle, renderTargets, failed, destroy: () => { unsub(); dismissToast('gift-failed'); } };
}
