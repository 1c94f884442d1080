//! Admin: pending red-packet applications and products, each approved or
//! rejected in place, each naming its anchor; a filter shows the decided ones
//! too. The lists look for new applications every few seconds and add them
//! without disturbing the rows already shown.

import { get, post } from '../api.js';
import { isAdmin } from '../session.js';
import { el, mount, fmtCoins, fmtTime, loading, emptyState, busy, toast, errorSentence } from '../ui.js';

const SECTIONS = {
  rain: { title: '🧧 Red-packet applications', list: '/api/admin/red-packet/applications', act: (id, a) => `/api/admin/red-packet/applications/${id}/${a}`,
    describe: (x) => [el('strong', `${fmtCoins(x.total_coins)} coins in ${fmtCoins(x.packets)} packets`),
      el('span.muted', `by ${anchorName(x)}${x.created_at ? ` · ${fmtTime(x.created_at)}` : ''}`)] },
  products: { title: '🛍 Products', list: '/api/admin/products', act: (id, a) => `/api/admin/products/${id}/${a}`,
    describe: (x) => [el('strong', x.name), el('span.muted', `${fmtCoins(x.price)} coins · stock ${fmtCoins(x.stock)} · by ${anchorName(x)}`)] },
};

/** How often the lists look for new applications. */
const POLL_MS = 5000;

const anchorName = (x) => x.anchor_nickname || `anchor #${x.anchor_id}`;

export function render(main) {
  if (!isAdmin()) {
    main.append(el('section.page', emptyState('🔒', 'Admins only', 'This page is for the platform’s admins.',
      el('a.btn.btn-primary', { href: '#/rooms' }, 'Back to live rooms'))));
    return undefined;
  }
  const status = el('select', { id: 'admin-status', 'aria-label': 'Show' },
    ['pending', 'approved', 'rejected'].map((s) => el('option', { value: s }, s[0].toUpperCase() + s.slice(1))));
  const boxes = {};
  const sections = Object.entries(SECTIONS).map(([key, s]) => {
    boxes[key] = el('ul.admin-list', { 'aria-label': s.title, 'data-testid': `admin-${key}` });
    return el('section.console-section', { 'aria-labelledby': `h-${key}` }, el('h2', { id: `h-${key}` }, s.title), boxes[key]);
  });

  const shown = {};
  function row(key, x) {
    const s = SECTIONS[key];
    const li = el('li.admin-row', { dataset: { id: x.id } }, el('div.admin-text', el('span.muted', `#${x.id}`), ...s.describe(x)),
      el('span.status-pill', { dataset: { status: x.status } }, x.status));
    if (x.status === 'pending') {
      const approve = el('button.btn.btn-primary.btn-sm', { type: 'button', 'aria-label': `Approve #${x.id}` }, 'Approve');
      const reject = el('button.btn.btn-ghost.btn-sm', { type: 'button', 'aria-label': `Reject #${x.id}` }, 'Reject');
      const decide = (btn, a) => busy(btn, async () => {
        const done = await post(s.act(x.id, a));
        toast(`${done.status === 'approved' ? 'Approved' : 'Rejected'}: #${x.id} by ${anchorName(x)}.`, 'success');
        li.classList.add('decided');
        li.querySelector('.status-pill').dataset.status = done.status;
        li.querySelector('.status-pill').textContent = done.status;
        approve.remove(); reject.remove();
      });
      approve.addEventListener('click', () => decide(approve, 'approve'));
      reject.addEventListener('click', () => decide(reject, 'reject'));
      li.append(el('div.admin-actions', approve, reject));
    }
    return li;
  }

  /** Loads a list; `quietly`: only adds what is new (a poll), keeping the rows shown. */
  async function load(key, quietly = false) {
    const s = SECTIONS[key];
    const box = boxes[key];
    if (!quietly) { mount(box, loading()); shown[key] = new Set(); }
    try {
      const res = await get(`${s.list}?status=${status.value}&page=1&page_size=100`);
      const fresh = res.items.filter((x) => !shown[key].has(x.id));
      if (quietly && !fresh.length) return;
      if (!quietly || !shown[key].size) {
        if (!res.items.length) { mount(box, el('li', emptyState('✅', `Nothing ${status.value}`, status.value === 'pending' ? 'All caught up.' : null))); return; }
        mount(box, res.items.map((x) => row(key, x)));
      } else {
        // Newest first: new ones go on top, marked until looked at.
        fresh.reverse().forEach((x) => { const r = row(key, x); r.classList.add('fresh'); box.prepend(r); });
        toast(`${fresh.length} new ${key === 'rain' ? 'red-packet application' : 'product'}${fresh.length > 1 ? 's' : ''} to review.`, 'info');
      }
      res.items.forEach((x) => shown[key].add(x.id));
    } catch (err) {
      if (quietly) return;
      mount(box, el('li.inline-error', { role: 'alert' }, errorSentence(err),
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => load(key) }, 'Try again')));
    }
  }
  const loadAll = () => Object.keys(SECTIONS).forEach((k) => load(k));
  status.addEventListener('change', loadAll);
  const poll = setInterval(() => {
    if (document.hidden) return;
    Object.keys(SECTIONS).forEach((k) => load(k, true));
  }, POLL_MS);

  main.append(el('section.page.admin-page',
    el('div.page-head', el('div', el('h1', 'Admin review'), el('p.sub', 'Approve or reject what anchors applied for.')),
      el('div.row', el('label', { for: 'admin-status' }, 'Show '), status,
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: loadAll }, 'Refresh'))),
    el('div.console-grid', sections)));
  loadAll();
  return () => clearInterval(poll);
}
