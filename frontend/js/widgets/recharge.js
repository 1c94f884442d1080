//! The recharge dialog: the wallet's products as tiles; buying one posts a
//! recharge with an Idempotency-Key (kept across retries of the same choice)
//! and updates the balance everywhere.

import { get, post, idempotencyKey } from '../api.js';
import { setBalance } from '../session.js';
import { el, mount, openDialog, toast, fmtCoins, fmtYuan, loading, errorSentence } from '../ui.js';

/** Opens the dialog; resolves with the new balance, or undefined when closed. */
export function openRecharge() {
  return openDialog('Recharge coins', (close) => {
    const body = el('div.recharge', loading('Loading offers…'));
    const error = el('p.form-error', { role: 'alert' });
    const keys = new Map(); // product id -> idempotency key, reused if the person retries
    get('/api/wallet/products').then((products) => {
      if (!products.length) { mount(body, el('p', 'No recharge offers are available right now.')); return; }
      mount(body, el('div.product-tiles', { role: 'list' }, products.map((p) => {
        const btn = el('button.tile', { type: 'button', role: 'listitem', dataset: { productId: p.id },
          'aria-label': `${p.name}: ${p.coins} coins for ${fmtYuan(p.price_cents)}` },
        el('span.tile-coins', el('span.coin', { 'aria-hidden': 'true' }), fmtCoins(p.coins)),
        el('span.tile-name', p.name),
        el('span.tile-price', fmtYuan(p.price_cents)));
        btn.addEventListener('click', async () => {
          error.textContent = '';
          if (!keys.has(p.id)) keys.set(p.id, idempotencyKey());
          body.querySelectorAll('button').forEach((b) => { b.disabled = true; });
          btn.setAttribute('aria-busy', 'true');
          try {
            const res = await post('/api/wallet/recharges', { product_id: p.id }, { headers: { 'Idempotency-Key': keys.get(p.id) } });
            setBalance(res.balance);
            toast(`+${fmtCoins(res.coins)} coins. Your balance is ${fmtCoins(res.balance)}.`, 'success');
            close(res.balance);
          } catch (err) {
            error.textContent = errorSentence(err);
            body.querySelectorAll('button').forEach((b) => { b.disabled = false; });
            btn.removeAttribute('aria-busy');
          }
        });
        return btn;
      })), el('p.fine', 'Payment is simulated on this server: coins arrive at once.'));
    }).catch((err) => mount(body, el('p.form-error', { role: 'alert' }, errorSentence(err))));
    return [body, error];
  }, { className: 'dialog-recharge' });
}
