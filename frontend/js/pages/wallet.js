//! Wallet: the balance, the recharge dialog and the trade history (paged,
//! newest first, credits and debits told apart).

import { get } from '../api.js';
import { me, onUser, refreshBalance } from '../session.js';
import { el, mount, fmtCoins, fmtTime, loading, emptyState } from '../ui.js';
import { openRecharge } from '../widgets/recharge.js';

const KINDS = {
  recharge: ['Recharge', '💳'], gift: ['Gift sent', '🎁'], red_packet: ['Red packet grabbed', '🧧'],
  rain_fund: ['Rain funded', '🌧'], rain_refund: ['Rain refund', '↩'], order: ['Order paid', '🛍'],
};

export function render(main) {
  const balance = el('span.balance-big', { 'data-testid': 'wallet-balance' }, fmtCoins(me().balance));
  const list = el('ul.trades', { 'aria-label': 'Trade history', 'data-testid': 'trades' });
  const more = el('button.btn.btn-ghost', { type: 'button', hidden: true }, 'Show more');
  const status = el('div.list-status', { role: 'status' });
  let page = 0;
  let total = 0;

  async function loadPage(reset) {
    if (reset) { page = 0; mount(list); }
    mount(status, loading('Loading your trades…'));
    more.hidden = true;
    try {
      const res = await get(`/api/wallet/trades?page=${page + 1}&page_size=20`);
      page += 1;
      total = res.total;
      for (const t of res.items) {
        const [label, icon] = KINDS[t.kind] || [t.kind, '•'];
        list.append(el('li.trade', { dataset: { kind: t.kind } },
          el('span.trade-icon', { 'aria-hidden': 'true' }, icon),
          el('div.trade-text', el('strong', label), el('time', { datetime: t.at }, fmtTime(t.at))),
          el('div.trade-amounts',
            el('span.trade-amount', { class: t.amount >= 0 ? 'credit' : 'debit' }, `${t.amount >= 0 ? '+' : '−'}${fmtCoins(Math.abs(t.amount))}`),
            el('span.trade-after', `Balance ${fmtCoins(t.balance_after)}`))));
      }
      if (!list.children.length) mount(status, emptyState('🪙', 'No trades yet', 'Recharge to get coins for gifts and shopping.'));
      else mount(status);
      more.hidden = page * 20 >= total;
    } catch (err) {
      mount(status, el('div.inline-error', { role: 'alert' }, err.message,
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => loadPage(false) }, 'Retry')));
    }
  }
  more.addEventListener('click', () => loadPage(false));

  const rechargeBtn = el('button.btn.btn-primary.btn-lg', { type: 'button', id: 'recharge' }, 'Recharge');
  rechargeBtn.addEventListener('click', async () => {
    const b = await openRecharge();
    if (b !== undefined) loadPage(true);
  });

  main.append(el('section.page.wallet-page',
    el('div.wallet-card',
      el('p.wallet-label', 'Your balance'),
      el('p.wallet-balance', el('span.coin.coin-lg', { 'aria-hidden': 'true' }), balance, el('span.unit', ' coins')),
      rechargeBtn),
    el('h2.section-title', 'History'), list, status, more,
    el('p.account-line', `Signed in as ${me().nickname} (${me().phone})`,
      el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => document.getElementById('logout').click() }, 'Log out'))));
  const unsub = onUser((u) => { if (u) balance.textContent = fmtCoins(u.balance); });
  refreshBalance();
  loadPage(true);
  return unsub;
}
