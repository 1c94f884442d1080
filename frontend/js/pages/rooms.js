//! Room list: tabs for all rooms and PK rooms, cards with live online counts
//! (refreshed every few seconds), paging as you scroll, an empty state and
//! the "go live" entry for anchors.

import { get } from '../api.js';
import { el, mount, fmtCount, avatar, emptyState, loading, toastError, errorSentence } from '../ui.js';

const PAGE_SIZE = 20;
const REFRESH_MS = 5000;

/** A deterministic gradient per room, standing in for the stream's cover. */
export function coverStyle(id) {
  const h = (Number(id) * 67) % 360;
  return { background: `radial-gradient(120% 90% at 20% 10%, hsl(${h} 85% 62%), transparent 60%),
    radial-gradient(100% 100% at 90% 90%, hsl(${(h + 60) % 360} 80% 45%), transparent 60%),
    linear-gradient(160deg, hsl(${(h + 200) % 360} 60% 18%), #120d1c)` };
}

export function render(main) {
  let kind = sessionStorage.getItem('liveroom.rooms_tab') === 'pk' ? 'pk' : '';
  let page = 0;
  let total = Infinity;
  let loadingMore = false;
  let stopped = false;
  const cards = new Map();

  const grid = el('ul.room-grid', { 'aria-label': 'Live rooms', 'data-testid': 'room-grid' });
  const status = el('div.list-status', { role: 'status' });
  const sentinel = el('div.sentinel', { 'aria-hidden': 'true' });
  const tabAll = el('button.tab', { type: 'button', role: 'tab', id: 'tab-all' }, 'All live');
  const tabPk = el('button.tab', { type: 'button', role: 'tab', id: 'tab-pk' }, '⚔ PK battles');
  const tabs = el('div.tabs', { role: 'tablist', 'aria-label': 'Room kinds' }, tabAll, tabPk);

  function selectTabs() {
    for (const [t, k] of [[tabAll, ''], [tabPk, 'pk']]) {
      t.setAttribute('aria-selected', String(kind === k));
      t.tabIndex = kind === k ? 0 : -1;
    }
  }
  tabAll.addEventListener('click', () => switchTo(''));
  tabPk.addEventListener('click', () => switchTo('pk'));
  tabs.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const next = kind === '' ? 'pk' : '';
      switchTo(next);
      (next === '' ? tabAll : tabPk).focus();
    }
  });

  function switchTo(k) {
    if (k === kind && page > 0) return;
    kind = k;
    sessionStorage.setItem('liveroom.rooms_tab', k);
    selectTabs();
    page = 0; total = Infinity; cards.clear();
    grid.replaceChildren();
    loadMore();
  }

  function card(room) {
    const online = el('span.card-online', { 'data-testid': 'room-online', 'aria-label': `${room.online} watching` },
      el('span.eye', { 'aria-hidden': 'true' }, '👁'), fmtCount(room.online));
    const li = el('li.room-card', { dataset: { roomId: room.id } },
      el('a.room-link', { href: `#/room/${room.id}`, 'aria-label': `${room.title}, by ${room.anchor.nickname}, ${room.online} watching` },
        el('div.room-cover', { style: coverStyle(room.id) },
          el('span.badge-live', 'LIVE'),
          room.kind === 'pk' ? el('span.badge-pk', 'PK') : null,
          online),
        el('div.room-meta',
          avatar(room.anchor, 'sm'),
          el('div.room-text', el('h3.room-title', room.title), el('p.room-anchor', room.anchor.nickname)))));
    cards.set(room.id, { li, online });
    return li;
  }

  async function loadMore() {
    if (loadingMore || stopped || page * PAGE_SIZE >= total) return;
    loadingMore = true;
    const myKind = kind;
    mount(status, loading('Loading rooms…'));
    try {
      const q = new URLSearchParams({ page: String(page + 1), page_size: String(PAGE_SIZE) });
      if (myKind) q.set('kind', myKind);
      const res = await get(`/api/rooms?${q}`);
      if (myKind !== kind || stopped) return;
      page += 1;
      total = res.total;
      for (const room of res.items) if (!cards.has(room.id)) grid.append(card(room));
      if (cards.size === 0) {
        mount(status, emptyState('📺', kind === 'pk' ? 'No PK battles right now' : 'Nobody is live right now',
          'Be the first: open a room and your viewers will find it here.',
          el('a.btn.btn-primary', { href: '#/anchor' }, 'Go live')));
      } else if (page * PAGE_SIZE >= total) {
        mount(status, el('p.end-of-list', 'You have seen every live room.'));
      } else {
        mount(status);
      }
    } catch (err) {
      mount(status, el('div.inline-error', { role: 'alert' }, errorSentence(err),
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => loadMore() }, 'Retry')));
    } finally {
      loadingMore = false;
    }
    // Fill the screen when the first page is short of it.
    if (sentinel.getBoundingClientRect().top < innerHeight + 200) setTimeout(loadMore, 0);
  }

  /** Keeps the online counts of the rooms on screen current. */
  async function refreshCounts() {
    if (stopped || document.hidden || loadingMore || page === 0) return;
    try {
      const q = new URLSearchParams({ page: '1', page_size: String(Math.min(100, Math.max(PAGE_SIZE, cards.size))) });
      if (kind) q.set('kind', kind);
      const res = await get(`/api/rooms?${q}`);
      const live = new Set(res.items.map((r) => r.id));
      for (const room of res.items) {
        const c = cards.get(room.id);
        if (c) {
          c.online.lastChild.textContent = fmtCount(room.online);
          c.online.setAttribute('aria-label', `${room.online} watching`);
        } else {
          grid.prepend(card(room));
          if (status.querySelector('.empty')) mount(status);
        }
      }
      if (res.items.length >= res.total) {
        for (const [id, c] of cards) if (!live.has(id)) { c.li.remove(); cards.delete(id); }
        if (cards.size === 0 && !status.querySelector('.empty')) { page = 0; total = Infinity; loadMore(); }
      }
    } catch (err) {
      if (err.status === 401) toastError(err);
    }
  }

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: '300px' });

  main.append(el('section.page.rooms-page',
    el('div.page-head',
      el('div', el('h1', 'Live now'), el('p.sub', 'Tap a room to join the chat, send gifts and grab red packets.')),
      el('a.btn.btn-primary.go-live', { href: '#/anchor' }, el('span.rec-dot', { 'aria-hidden': 'true' }), 'Go live')),
    tabs, grid, status, sentinel));
  selectTabs();
  observer.observe(sentinel);
  loadMore();
  const timer = setInterval(refreshCounts, REFRESH_MS);
  return () => { stopped = true; observer.disconnect(); clearInterval(timer); };
}
