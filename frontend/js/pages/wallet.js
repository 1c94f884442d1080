//! Wallet: the balance, the recharge dialog and the trade history (paged,
//! newest first, credits and debits told apart, each named in words); for an
//! anchor, their income from gifts and sales with who paid for what.

import { get } from '../api.js';
import { me, onUser, refreshBalance } from '../session.js';
import { el, mount, fmtCoins, fmtTime, loading, emptyState, errorSentence } from '../ui.js';
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
          el('div.trade-text', el('strong', t.note || label), el('time', { datetime: t.at }, fmtTime(t.at))),
          el('div.trade-amounts',
            el('span.trade-amount', { class: t.amount >= 0 ? 'credit' : 'debit' }, `${t.amount >= 0 ? '+' : '−'}${fmtCoins(Math.abs(t.amount))}`),
            el('span.trade-after', `Balance ${fmtCoins(t.balance_after)}`))));
      }
      if (!list.children.length) mount(status, emptyState('🪙', 'No trades yet', 'Recharge to get coins for gifts and shopping.'));
      else mount(status);
      more.hidden = page * 20 >= total;
    } catch (err) {
      mount(status, el('div.inline-error', { role: 'alert' }, errorSentence(err),
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => loadPage(false) }, 'Retry')));
    }
  }
  more.addEventListener('click', () => loadPage(false));

  const rechargeBtn = el('button.btn.btn-primary.btn-lg', { type: 'button', id: 'recharge' }, 'Recharge');
  rechargeBtn.addEventListener('click', async () => {
    const b = await openRecharge();
    if (b !== undefined) loadPage(true);
  });

  const income = el('section.income', { hidden: true, 'aria-labelledby': 'h-income', 'data-testid': 'income' });
  async function loadIncome() {
    try {
      const [w, page] = await Promise.all([get('/api/wallet'), get('/api/wallet/earnings?page=1&page_size=20')]);
      if (!w.income && !page.total) return;
      mount(income,
        el('div.income-card',
          el('p.wallet-label', { id: 'h-income' }, 'Your income'),
          el('p.income-total', el('span', { 'data-testid': 'income-total' }, fmtCoins(w.income)), el('span.unit', ' coins')),
          el('p.muted', 'What viewers’ gifts and your sales earned you, after the platform’s share.')),
        el('h2.section-title', 'Earnings'),
        el('ul.trades', { 'aria-label': 'Earnings', 'data-testid': 'earnings' }, page.items.map((e) =>
          el('li.trade', { dataset: { kind: e.kind } },
            el('span.trade-icon', { 'aria-hidden': 'true' }, e.kind === 'gift' ? '🎁' : '🛍'),
            el('div.trade-text', el('strong', `${e.title} from ${e.from.nickname}`),
              el('time', { datetime: e.at }, fmtTime(e.at))),
            el('div.trade-amounts',
              el('span.trade-amount.credit', `+${fmtCoins(e.amount)}`),
              el('span.trade-after', `of ${fmtCoins(e.coins)} paid · platform ${fmtCoins(e.fee)}`))))));
      income.hidden = false;
    } catch { /* the income section stays hidden; the balance and history still show */ }
  }

  main.append(el('section.page.wallet-page',
    el('div.wallet-card',
      el('p.wallet-label', 'Your balance'),
      el('p.wallet-balance', el('span.coin.coin-lg', { 'aria-hidden': 'true' }), balance, el('span.unit', ' coins')),
      rechargeBtn),
    income,
    el('h2.section-title', 'History'), list, status, more,
    el('p.account-line', `Signed in as ${me().nickname} (${me().phone})`,
      el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: () => document.getElementById('logout').click() }, 'Log out'))));
  const unsub = onUser((u) => { if (u) balance.textContent = fmtCoins(u.balance); });
  refreshBalance();
  loadPage(true);
  loadIncome();
  return unsub;
}
