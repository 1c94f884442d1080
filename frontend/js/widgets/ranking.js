//! The room's gift ranking: the top gifters of this live session, refreshed
//! shortly after every gift.

import { get } from '../api.js';
import { el, mount, avatar, fmtCoins, emptyState, loading } from '../ui.js';

export function createRanking({ roomId, me }) {
  const list = el('ol.ranking', { 'aria-label': 'Top gifters', 'data-testid': 'ranking' });
  const node = el('div.ranking-panel', list);
  let timer = null;
  let loaded = false;

  async function load() {
    if (!loaded) mount(list, loading('Loading ranking…'));
    try {
      const rows = await get(`/api/rooms/${roomId}/ranking`);
      loaded = true;
      if (!rows.length) { mount(list, emptyState('🏆', 'No gifts yet', 'Send the first gift and top the board.')); return; }
      mount(list, rows.map((r, i) => el('li.rank-row', { class: me && r.user.id === me.id ? 'mine' : '' },
        el('span.rank-pos', { class: i < 3 ? `top${i + 1}` : '' }, String(i + 1)),
        avatar(r.user, 'sm'),
        el('span.rank-name', r.user.nickname, me && r.user.id === me.id ? ' (you)' : ''),
        el('span.rank-coins', el('span.coin', { 'aria-hidden': 'true' }), fmtCoins(r.coins)))));
    } catch (err) {
      mount(list, el('li.inline-error', { role: 'alert' }, err.message));
    }
  }

  /** Called on every gift: one reload a moment later, however many arrive. */
  function bump() {
    clearTimeout(timer);
    timer = setTimeout(load, 800);
  }

  return { node, load, bump, destroy: () => clearTimeout(timer) };
}
