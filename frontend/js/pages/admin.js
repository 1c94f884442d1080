//! Admin: pending red-packet applications and products, each approved or
//! rejected in place; a filter shows the decided ones too.

import { get, post } from '../api.js';
import { isAdmin } from '../session.js';
import { el, mount, fmtCoins, fmtTime, loading, emptyState, busy, toast } from '../ui.js';

const SECTIONS = {
  rain: { title: '🧧 Red-packet applications', list: '/api/admin/red-packet/applications', act: (id, a) => `/api/admin/red-packet/applications/${id}/${a}`,
    describe: (x) => [el('strong', `${fmtCoins(x.total_coins)} coins in ${fmtCoins(x.packets)} packets`),
      el('span.muted', `Anchor #${x.anchor_id}${x.created_at ? ` · ${fmtTime(x.created_at)}` : ''}`)] },
  products: { title: '🛍 Products', list: '/api/admin/products', act: (id, a) => `/api/admin/products/${id}/${a}`,
    describe: (x) => [el('strong', x.name), el('span.muted', `${fmtCoins(x.price)} coins · stock ${fmtCoins(x.stock)} · anchor #${x.anchor_id}`)] },
};

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

  async function load(key) {
    const s = SECTIONS[key];
    const box = boxes[key];
    mount(box, loading());
    try {
      const res = await get(`${s.list}?status=${status.value}&page=1&page_size=100`);
      if (!res.items.length) { mount(box, el('li', emptyState('✅', `Nothing ${status.value}`, status.value === 'pending' ? 'All caught up.' : null))); return; }
      mount(box, res.items.map((x) => {
        const row = el('li.admin-row', { dataset: { id: x.id } }, el('div.admin-text', el('span.muted', `#${x.id}`), ...s.describe(x)),
          el('span.status-pill', { dataset: { status: x.status } }, x.status));
        if (x.status === 'pending') {
          const approve = el('button.btn.btn-primary.btn-sm', { type: 'button', 'aria-label': `Approve #${x.id}` }, 'Approve');
          const reject = el('button.btn.btn-ghost.btn-sm', { type: 'button', 'aria-label': `Reject #${x.id}` }, 'Reject');
          const decide = (btn, a) => busy(btn, async () => {
            const done = await post(s.act(x.id, a));
            toast(`#${x.id} ${done.status}.`, 'success');
            row.classList.add('decided');
            row.querySelector('.status-pill').dataset.status = done.status;
            row.querySelector('.status-pill').textContent = done.status;
            approve.remove(); reject.remove();
          });
          approve.addEventListener('click', () => decide(approve, 'approve'));
          reject.addEventListener('click', () => decide(reject, 'reject'));
          row.append(el('div.admin-actions', approve, reject));
        }
        return row;
      }));
    } catch (err) {
      mount(box, el('li.inline-error', { role: 'alert' }, err.message,
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => load(key) }, 'Retry')));
    }
  }
  const loadAll = () => Object.keys(SECTIONS).forEach(load);
  status.addEventListener('change', loadAll);

  main.append(el('section.page.admin-page',
    el('div.page-head', el('div', el('h1', 'Admin review'), el('p.sub', 'Approve or reject what anchors applied for.')),
      el('div.row', el('label', { for: 'admin-status' }, 'Show '), status,
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: loadAll }, 'Refresh'))),
    el('div.console-grid', sections)));
  loadAll();
  return undefined;
}
