//! Gifts: the gift bar (a sheet with the catalogue, prices, count, the PK
//! side to support, the balance and a recharge shortcut) and the animation
//! layer on the stage that plays every gift the room sees.

import { get, post } from '../api.js';
import { me, setBalance, onUser } from '../session.js';
import { el, mount, fmtCoins, loading } from '../ui.js';
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

export function createGiftLayer() {
  const node = el('div.gift-layer', { 'aria-live': 'polite', 'aria-label': 'Gifts' });
  const lanes = el('div.gift-lanes');
  node.append(lanes);
  const queue = [];
  let active = 0;

  function show(data) {
    queue.push(data);
    pump();
  }

  function pump() {
    while (active < 3 && queue.length) {
      const data = queue.shift();
      active += 1;
      play(data).then(() => { active -= 1; pump(); });
    }
  }

  function play({ from, gift, count }) {
    const t = tier(gift, count);
    const icon = giftIcon(gift);
    const banner = el('div.gift-anim', { class: `tier-${t}`, 'data-testid': 'gift-anim', role: 'status' },
      el('span.gift-anim-icon', { 'aria-hidden': 'true' }, icon),
      el('span.gift-anim-text', el('strong', from && from.nickname ? from.nickname : 'Someone'), el('span', ` sent ${gift.name}`)),
      el('span.gift-anim-count', `×${count || 1}`));
    lanes.append(banner);
    if (t !== 'small') burst(icon, t);
    return new Promise((resolve) => setTimeout(() => {
      banner.classList.add('leaving');
      setTimeout(() => { banner.remove(); resolve(); }, 450);
    }, t === 'epic' ? 4200 : 3200));
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

  const updateBalance = (u) => { balance.textContent = u ? `${fmtCoins(u.balance)} coins` : ''; };
  updateBalance(me());
  const unsub = onUser(updateBalance);

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
      mount(grid, el('p.form-error', { role: 'alert' }, err.message));
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

  sendBtn.addEventListener('click', async () => {
    if (!selected) return;
    error.textContent = '';
    sendBtn.disabled = true;
    const body = { gift_id: selected.id, count: Number(count.value) };
    if (!targetBox.hidden && targetBox.dataset.to) body.to = Number(targetBox.dataset.to);
    try {
      const res = await post(`/api/rooms/${roomId}/gifts`, body);
      setBalance(res.balance);
    } catch (err) {
      mount(error, err.message, err.code === 'insufficient_balance'
        ? el('button.btn.btn-link', { type: 'button', onclick: () => openRecharge() }, 'Recharge now') : null);
    } finally {
      sendBtn.disabled = false;
    }
  });

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
  return { node: sheet, open, close, toggle, renderTargets, destroy: unsub };
}
