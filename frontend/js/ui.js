//! Small DOM helpers shared by pages and widgets: element builder, toasts,
//! modal dialogs, number and time formatting. No framework.


/**
 * Builds an element: el('button.btn.primary', {type: 'button', onclick}, 'Send').
 * Attributes starting with `on` become listeners; `dataset`, `style` objects are merged.
 * Children may be strings, nodes, arrays, null or false.
 */
export function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const node = document.createElement(tag || 'div');
  if (classes.length) node.className = classes.join(' ');
  if (attrs instanceof Node || typeof attrs === 'string' || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k === 'style' && typeof v === 'object') {
      // Custom properties (`--x`) only take effect through setProperty.
      for (const [prop, val] of Object.entries(v)) {
        if (prop.startsWith('--')) node.style.setProperty(prop, String(val));
        else node.style[prop] = val;
      }
    }
    else if (k === 'class') node.className += (node.className ? ' ' : '') + v;
    else if (k === 'text') node.textContent = v;
    else if (v === true) node.setAttribute(k, '');
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of a node. */
export function mount(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/**
 * Shows a short message in the toast stack. kind: info | success | error.
 * Options: `key` groups a burst: while a toast with that key is on screen it is
 * updated in place (its text replaced, its timer restarted) instead of stacking a
 * new line; `action: {label, onClick, testid?}` adds a button. Without a key, the
 * same words shown again count up on the toast already there ("×2").
 */
export function toast(message, kind = 'info', ms = 3500, { key, action, testid } = {}) {
  const box = document.getElementById('toasts');
  if (!box) return null;
  const k = key || (typeof message === 'string' ? `${kind}|${message}` : `once-${Math.random().toString(36).slice(2)}`);
  let t = [...box.children].find((x) => x.dataset.key === k && !x.classList.contains('toast-out'));
  if (t && !key) t.dataset.repeat = String(Number(t.dataset.repeat || 1) + 1);
  if (!t) {
    t = el('div.toast', { dataset: { key: k } });
    box.append(t);
  }
  t.className = `toast toast-${kind}`;
  t.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  if (testid) t.dataset.testid = testid;
  const repeat = Number(t.dataset.repeat || 1);
  mount(t, el('span.toast-text', message),
    repeat > 1 ? el('span.toast-repeat', { 'aria-label': `${repeat} times` }, `×${repeat}`) : null,
    action ? el('button.btn.btn-sm.toast-action', { type: 'button', 'data-testid': action.testid,
      onclick: () => { dismissToast(k); action.onClick(); } }, action.label) : null);
  while (box.children.length > 4) box.firstElementChild.remove();
  clearTimeout(t.hideTimer);
  t.hideTimer = setTimeout(() => leave(t), ms);
  placeToasts();
  return t;
}

function leave(t) {
  clearTimeout(t.hideTimer);
  t.classList.add('toast-out');
  setTimeout(() => { t.remove(); placeToasts(); }, 300);
}

/** Removes the toast shown under `key`, if any (an error that no longer holds). */
export function dismissToast(key) {
  const box = document.getElementById('toasts');
  if (!box) return;
  [...box.children].filter((x) => x.dataset.key === key).forEach(leave);
}

/**
 * What toasts must never cover: an open sheet (the gift sheet with its Send
 * button, the shop with the order panel and its Pay button), the rain's header
 * with its timer, the room's chat box and buttons, and anything marked
 * `data-keep-clear`. The sheet's parts are named too, for when a sheet is taller
 * than the screen leaves room for.
 */
const KEEP_CLEAR = ['[data-keep-clear]', '.sheet:not([hidden])', '.sheet:not([hidden]) .sheet-foot', '.sheet:not([hidden]) .form-error:not(:empty)',
  '.sheet:not([hidden]) [data-testid="order"]:not([hidden])', '.rain-overlay:not([hidden]) .rain-head', '.room-controls'];

function keepClearRects() {
  const rects = [];
  for (const node of document.querySelectorAll(KEEP_CLEAR.join(','))) {
    let r = node.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    // Only the part a scrolling sheet shows counts.
    const frame = node.closest('.sheet');
    if (frame && frame !== node) {
      const f = frame.getBoundingClientRect();
      r = { left: Math.max(r.left, f.left), right: Math.min(r.right, f.right), top: Math.max(r.top, f.top), bottom: Math.min(r.bottom, f.bottom) };
      if (r.right <= r.left || r.bottom <= r.top) continue;
    }
    rects.push(r);
  }
  return rects;
}

const overlap = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));

/**
 * Puts the toast stack where it covers none of KEEP_CLEAR: its usual place
 * (under the header on phones, at the bottom on desktops) when that is clear,
 * else the same height moved to a side, else just above or below what is in the
 * way, the nearest first.
 */
export function placeToasts() {
  const box = document.getElementById('toasts');
  if (!box) return;
  if (!box.children.length) { box.removeAttribute('style'); return; }
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  const w = Math.min(440, vw - 24);
  box.style.width = `${w}px`;
  const h = box.offsetHeight;
  const bar = document.getElementById('topbar');
  const top = (bar && !bar.hidden ? bar.getBoundingClientRect().bottom : 0) + 10;
  const bottom = vh - 24 - h;
  const desktop = window.matchMedia('(min-width: 901px)').matches;
  const home = desktop ? bottom : top;
  const rects = keepClearRects();
  const ys = [home, desktop ? top : bottom];
  for (const r of rects) ys.push(r.bottom + 8, r.top - 8 - h);
  const fits = (y) => y >= top - 0.5 && y <= vh - h - 8 + 0.5;
  const order = [...new Set(ys.filter(fits).map(Math.round))].sort((a, b) => (a === Math.round(home) ? -1 : b === Math.round(home) ? 1 : Math.abs(a - home) - Math.abs(b - home)));
  const xs = [(vw - w) / 2, vw - w - 12, 12];
  let best = null;
  for (const y of order) {
    for (const x of xs) {
      const cand = { left: x, right: x + w, top: y, bottom: y + h };
      const cost = rects.reduce((s, r) => s + overlap(cand, r), 0);
      if (!best || cost < best.cost) best = { x, y, cost };
      if (cost === 0) break;
    }
    if (best && best.cost === 0) break;
  }
  if (!best) best = { x: (vw - w) / 2, y: home };
  Object.assign(box.style, { left: `${Math.round(best.x)}px`, top: `${Math.round(best.y)}px`, bottom: 'auto', transform: 'none' });
}

// The stack moves out of the way when a sheet opens, a rain starts or the window changes.
if (typeof window !== 'undefined') {
  window.addEventListener('resize', placeToasts);
  setInterval(() => { const box = document.getElementById('toasts'); if (box && box.children.length) placeToasts(); }, 250);
}

/** Toast for any error, as a sentence saying what to do next. */
export function toastError(err, context) {
  // Short of coins: the way to get more is one tap away.
  const action = err && err.code === 'insufficient_balance'
    ? { label: 'Recharge now', testid: 'toast-recharge', onClick: () => import('./widgets/recharge.js').then((m) => m.openRecharge()) }
    : undefined;
  return toast(errorSentence(err, context), 'error', 6000, { action });
}

/** "the room is closed; try again" -> "The room is closed. Try again." */
export function sentenceCase(text) {
  const parts = String(text || '').split(/;\s*/).map((p) => p.trim()).filter(Boolean);
  return parts.map((p) => {
    const s = p[0].toUpperCase() + p.slice(1);
    return /[.!?]$/.test(s) ? s : `${s}.`;
  }).join(' ');
}
const waitWords = (s) => {
  const n = Number(s);
  if (!n || n <= 0) return 'a moment';
  if (n < 90) return `${Math.ceil(n)} second${Math.ceil(n) === 1 ? '' : 's'}`;
  const m = Math.ceil(n / 60);
  return `${m} minute${m === 1 ? '' : 's'}`;
};

/**
 * Every error a person can meet, as a sentence that says what happened and
 * what to do next. `context` names what was being done when it matters for the
 * words: 'room' (entering or in a room), 'gift', 'sms', 'login', 'rain', 'chat'.
 */
export function errorSentence(err, context = '') {
  const code = (err && err.code) || '';
  const status = (err && err.status) || 0;
  const raw = (err && err.message) || '';
  const wait = waitWords(err && (err.retryAfter ?? err.retry_after));
  switch (code) {
    case 'network':
      return 'We can\'t reach Liveroom. Check your internet connection, then try again.';
    case 'unavailable':
      return `Liveroom is busy for a moment. Try again in ${wait}.`;
    case 'internal':
      return 'Something went wrong on our side. Try again in a moment; if it keeps happening, reload the page.';
    case 'rate_limited':
      if (context === 'sms') return `You asked for a code a moment ago. Wait ${wait}, then tap Send code again.`;
      if (context === 'login') return `Too many tries for this number. Wait ${wait}, then ask for a new code.`;
      if (context === 'chat') return `You are sending too fast. Wait ${wait}, then send your message again.`;
      if (context === 'rain') return 'You are grabbing too fast. Tap a little slower.';
      return `That was too fast. Wait ${wait}, then try again.`;
    case 'invalid_code':
      return 'That code is wrong or has expired. Check the 4-digit code in your text message, or tap Send code for a new one.';
    case 'unauthorized':
      return 'Your session has ended. Log in again to carry on.';
    case 'csrf':
      return 'Your browser sent the request from another page. Reload Liveroom and try again.';
    case 'insufficient_balance':
      return 'You don\'t have enough coins for that. Recharge your wallet, then try again.';
    case 'banned':
      return 'You are banned from this room. Go back to the list to find another live room.';
    case 'kicked': {
      const when = /come back (in [^.;]+)/.exec(raw);
      return `The anchor removed you from this room. You can come back ${when ? when[1] : 'in a few minutes'}; until then, find another live room.`;
    }
    case 'room_closed':
      return 'This live has ended. Go back to the list to find another room.';
    case 'not_found':
      if (context === 'room' || /^room\b/.test(raw)) return 'This room doesn\'t exist any more. Go back to the list to find a live room.';
      if (context === 'gift' || /^gift\b/.test(raw)) return 'That gift is no longer on offer. Pick another gift.';
      if (/^order\b/.test(raw)) return 'We can\'t find that order. Open the shop to see your orders.';
      if (/^product\b/.test(raw)) return 'That product is no longer on sale. Reload the shop to see what is.';
      return 'That is no longer here. Go back and try again from the list.';
    case 'forbidden':
      return 'You are not allowed to do that here. Only the room\'s anchor (or an admin) can.';
    case 'no_privilege':
      return 'You need an approved red-packet application first. Apply on the Go live page and wait for an admin.';
    case 'already_live':
      return 'You already have a live room. Enter it from the Go live page, or close it to open a new one.';
    case 'pk_busy':
      return 'Another anchor joined this PK first. Pick another PK room to challenge.';
    case 'not_pk_room':
      return 'This room is not a PK room. Pick a PK room to challenge.';
    case 'pk_not_running':
      return 'No PK is running in this room any more. Wait for the anchor to start the next one.';
    case 'rain_busy':
      return 'A rain is already prepared or falling in this room. Wait for it to end, then prepare the next one.';
    case 'not_prepared':
      return /already/.test(raw) ? 'This rain has started already.' : 'Prepare a rain first, then start it.';
    case 'rain_not_running':
      return 'The rain is over. Watch for the next one!';
    case 'rain_empty':
      return 'All the packets are gone. Be quicker at the next rain!';
    case 'cart_empty':
      return 'Your cart is empty. Add a product first, then place the order.';
    case 'sold_out':
      // A cart line asking for more than is left names the product; an order, the whole cart.
      if (raw && !/^none of the cart/.test(raw)) return sentenceCase(raw);
      return 'Everything in your cart is sold out. Pick another product.';
    case 'limit_exceeded':
      return `${sentenceCase(raw)} Pay or wait for your pending orders first.`;
    case 'expired':
      return 'This order expired before it was paid. Add the items to your cart again.';
    case 'not_pending':
      return `${sentenceCase(raw) || 'This was decided already.'} Reload to see where it stands.`;
    case 'too_large':
      return 'That is too large to send. Make it shorter and try again.';
    case 'muted':
      return `The anchor muted you. You can chat again ${err && (err.retryAfter ?? err.retry_after) ? `in ${wait}` : 'when the mute ends'}.`;
    case 'slow_mode':
      return `Slow mode is on. Wait ${wait}, then send your message.`;
    case 'invalid_input':
      if (err && err.field === 'code') return 'Enter the 4-digit code from your text message.';
      if (err && err.field === 'phone') return 'Enter an 11-digit phone number starting with 1.';
      return `${sentenceCase(raw) || 'Something you entered was not accepted.'} Check it and try again.`;
    default:
      if (status >= 500) return 'Something went wrong on our side. Try again in a moment.';
      return sentenceCase(raw) || 'Something went wrong. Try again in a moment.';
  }
}

/**
 * Opens a modal dialog. `build(close)` returns the dialog's content. Resolves
 * with what close() was called with (undefined when dismissed).
 */
export function openDialog(title, build, { className = '' } = {}) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dlg = el('dialog.dialog', { 'aria-labelledby': titleId, class: className });
    const close = (value) => { dlg.close(); dlg.remove(); resolve(value); };
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
    dlg.addEventListener('click', (e) => { if (e.target === dlg) close(undefined); });
    dlg.append(
      el('div.dialog-head', el('h2', { id: titleId }, title),
        el('button.icon-btn', { type: 'button', 'aria-label': 'Close', onclick: () => close(undefined) }, '✕')),
      el('div.dialog-body', build(close)),
    );
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A yes/no question. */
export function confirmDialog(title, text, yes = 'Confirm') {
  return openDialog(title, (close) => [
    el('p', text),
    el('div.row.end',
      el('button.btn.btn-ghost', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      el('button.btn.btn-primary', { type: 'button', onclick: () => close(true) }, yes)),
  ]);
}

/** Runs an async action with a button disabled and a busy state; errors become toasts. */
export async function busy(button, fn) {
  if (button) { button.disabled = true; button.setAttribute('aria-busy', 'true'); }
  try {
    return await fn();
  } catch (err) {
    toastError(err);
    return undefined;
  } finally {
    if (button) { button.disabled = false; button.removeAttribute('aria-busy'); }
  }
}

export const fmtCoins = (n) => Number(n || 0).toLocaleString('en-US');
export const fmtCount = (n) => {
  n = Number(n || 0);
  if (n >= 10000) return `${(n / 1000).toFixed(n >= 100000 ? 0 : 1)}k`;
  return n.toLocaleString('en-US');
};
export const fmtYuan = (cents) => `¥${(Number(cents || 0) / 100).toFixed(2)}`;
export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}
export function fmtClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}
/** mm:ss until an ISO time, never negative. */
export function countdown(iso) {
  const s = Math.max(0, Math.ceil((new Date(iso).getTime() - Date.now()) / 1000));
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}
export const secondsLeft = (iso) => Math.max(0, Math.ceil((new Date(iso).getTime() - Date.now()) / 1000));

/** A round avatar: the image when the user has one, else the initial on a colour of their id. */
export function avatar(user, size = 'md') {
  const name = (user && user.nickname) || '?';
  const hue = ((user && user.id) || 0) * 47 % 360;
  const node = el('span.avatar', { class: `avatar-${size}`, style: { '--hue': hue }, 'aria-hidden': 'true' });
  if (user && user.avatar && /^https:\/\//.test(user.avatar)) {
    node.append(el('img', { src: user.avatar, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' }));
  } else {
    node.textContent = [...name][0].toUpperCase();
  }
  return node;
}

/** The label for a form control, with an optional hint and inline error slot. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2)}`;
  input.id = id;
  const err = el('p.field-error', { id: `${id}-err`, role: 'alert' });
  input.setAttribute('aria-describedby', `${id}-err`);
  return el('div.field', el('label', { for: id }, label), input, hint ? el('p.hint', hint) : null, err);
}

/** Shows an error under a field (or clears it with ''). */
export function setFieldError(input, message) {
  const err = document.getElementById(`${input.id}-err`);
  if (err) err.textContent = message || '';
  input.toggleAttribute('aria-invalid', Boolean(message));
}

/** Visible empty state for lists. */
export function emptyState(icon, title, text, action) {
  return el('div.empty', el('div.empty-icon', { 'aria-hidden': 'true' }, icon), el('h3', title),
    text ? el('p', text) : null, action || null);
}

/** Skeleton rows shown while a list loads. */
export function loading(label = 'Loading…') {
  return el('div.loading', { role: 'status' }, el('span.spinner', { 'aria-hidden': 'true' }), label);
}
