//! Live commerce: the anchor's product shelf with live stock, the cart,
//! placing an order (reserved items and those left in the cart), and paying
//! before the order's countdown runs out.

import { get, post, del } from '../api.js';
import { me, setBalance, refreshBalance } from '../session.js';
import { el, mount, fmtCoins, countdown, secondsLeft, loading, emptyState, toast, errorSentence } from '../ui.js';
import { openRecharge } from './recharge.js';

/** Units of one product a viewer may hold in pending orders (`commerce.max_pending_units_per_product`). */
const MAX_UNITS = 5;


export function createShop({ roomId }) {
  let products = [];
  /** The quantity picked per product, kept when live stock redraws the shelf. */
  const chosen = new Map();
  let order = null;
  let orderTimer = null;
  const shelf = el('ul.shelf', { 'aria-label': 'Products', 'data-testid': 'shelf' });
  const cartBox = el('div.cart', { 'data-testid': 'cart' });
  const orderBox = el('div.order', { 'data-testid': 'order', hidden: true });
  const error = el('p.form-error', { role: 'alert', 'data-testid': 'shop-error' });
  const badge = el('span.count-badge', { hidden: true, 'aria-hidden': 'true' });
  const sheet = el('div.sheet.shop-sheet', { role: 'dialog', 'aria-label': 'Shop', hidden: true, id: 'shop-sheet' },
    el('div.sheet-head', el('h2', '🛍 Shop'), el('button.icon-btn', { type: 'button', 'aria-label': 'Close shop', onclick: () => close() }, '✕')),
    el('div.sheet-scroll', shelf, error, el('h3.sub-head', 'Your cart'), cartBox, orderBox));

  function renderShelf() {
    badge.hidden = products.length === 0;
    badge.textContent = String(products.length);
    if (!products.length) {
      mount(shelf, el('li', emptyState('🛍', 'Nothing on sale yet', 'The anchor has no approved products in this room.')));
      return;
    }
    mount(shelf, products.map((p) => {
      const left = p.left ?? p.stock;
      // Never more than is left (nor than one viewer may hold).
      const most = Math.max(1, Math.min(left, MAX_UNITS));
      const pick = Math.min(chosen.get(p.id) || 1, most);
      const qty = el('select.qty', { 'aria-label': `How many ${p.name}`, disabled: left <= 0 },
        Array.from({ length: most }, (_, i) => el('option', { value: String(i + 1), selected: i + 1 === pick }, String(i + 1))));
      qty.addEventListener('change', () => chosen.set(p.id, Number(qty.value)));
      const add = el('button.btn.btn-primary.btn-sm', { type: 'button', disabled: left <= 0, 'aria-label': `Add ${p.name} to cart` },
        left > 0 ? 'Add to cart' : 'Sold out');
      add.addEventListener('click', () => act(add, async () => renderCart(await post(`/api/rooms/${roomId}/cart/items`, { product_id: p.id, count: Number(qty.value) }))));
      const pct = p.stock ? Math.round((left / p.stock) * 100) : 0;
      return el('li.product', { dataset: { productId: p.id } },
        el('div.product-thumb', { 'aria-hidden': 'true' }, '🛍'),
        el('div.product-info',
          el('h4', p.name),
          el('p.product-price', el('span.coin', { 'aria-hidden': 'true' }), fmtCoins(p.price)),
          el('div.stock-bar', { 'aria-hidden': 'true' }, el('span', { style: { width: `${pct}%` } })),
          el('p.stock', { 'data-testid': 'stock' }, left > 0 ? `${left} left` : 'Sold out')),
        el('div.product-actions', qty, add));
    }));
  }

  function renderCart(cart) {
    const items = (cart && cart.items) || [];
    if (!items.length) { mount(cartBox, el('p.muted', 'Your cart is empty.')); return; }
    mount(cartBox,
      el('ul.cart-items', items.map((it) => el('li.cart-item',
        el('span.cart-name', it.name), el('span.cart-count', `×${it.count}`),
        el('span.cart-price', el('span.coin', { 'aria-hidden': 'true' }), fmtCoins(it.price * it.count)),
        el('button.icon-btn', { type: 'button', 'aria-label': `Remove ${it.name}`,
          onclick: (e) => act(e.currentTarget, async () => renderCart(await del(`/api/rooms/${roomId}/cart/items/${it.product_id}`))) }, '✕')))),
      el('div.cart-foot', el('span', 'Total ', el('strong', { 'data-testid': 'cart-total' }, fmtCoins(cart.total)), ' coins'),
        el('button.btn.btn-primary', { type: 'button', id: 'place-order', onclick: (e) => act(e.currentTarget, placeOrder) }, 'Place order')));
  }

  async function placeOrder() {
    const o = await post(`/api/rooms/${roomId}/orders`);
    showOrder(o);
    const left = o.items.filter((i) => !i.reserved).length;
    if (left) toast(`${left} item${left > 1 ? 's were' : ' was'} out of stock and stayed in your cart.`, 'info');
    renderCart(await get(`/api/rooms/${roomId}/cart`));
  }

  function showOrder(o) {
    order = o;
    clearInterval(orderTimer);
    orderBox.hidden = false;
    const names = new Map(products.map((p) => [p.id, p.name]));
    const clock = el('span.order-clock', { 'data-testid': 'order-countdown' });
    const stateLine = el('p.order-state', { role: 'status', 'data-testid': 'order-status' });
    const payBtn = el('button.btn.btn-primary', { type: 'button', id: 'pay-order' }, `Pay ${fmtCoins(o.total)} coins`);
    payBtn.addEventListener('click', () => act(payBtn, async () => {
      try {
        const paid = await post(`/api/orders/${o.id}/pay`);
        showOrder(paid);
        refreshBalance();
        toast('Payment done. Your order is on its way!', 'success');
      } catch (err) {
        if (err.code === 'expired') { showOrder({ ...o, status: 'expired' }); }
        if (err.code === 'insufficient_balance') {
          const have = me() ? me().balance : 0;
          const missing = Math.max(1, o.total - have);
          mount(error, `You need ${fmtCoins(missing)} more coins to pay ${fmtCoins(o.total)}: you have ${fmtCoins(have)}. Recharge, then pay before the timer runs out. `,
            el('button.btn.btn-link', { type: 'button', onclick: () => openRecharge() }, 'Recharge now'));
          return;
        }
        throw err;
      }
    }));
    mount(orderBox, el('h3.sub-head', `Order #${o.id}`),
      el('ul.order-items', o.items.map((it) => el('li', { class: it.reserved ? '' : 'not-reserved' },
        el('span', names.get(it.product_id) || `Product ${it.product_id}`), el('span', `×${it.count}`),
        el('span', it.reserved ? fmtCoins(it.price * it.count) : 'out of stock')))),
      el('p.order-total', 'Total ', el('strong', fmtCoins(o.total)), ' coins'), stateLine,
      o.status === 'pending' ? el('div.order-pay', clock, payBtn) : null);
    orderBox.dataset.status = o.status;
    if (o.status === 'pending') {
      const tick = () => {
        clock.textContent = `Pay within ${countdown(o.expires_at)}`;
        if (secondsLeft(o.expires_at) <= 0) { clearInterval(orderTimer); stateLine.textContent = 'Time is up: this order expired.'; payBtn.disabled = true; }
      };
      stateLine.textContent = 'Reserved for you. Pay before the timer runs out.';
      tick();
      orderTimer = setInterval(tick, 1000);
    } else if (o.status === 'paid') {
      stateLine.textContent = '✅ Paid. Thank you!';
    } else if (o.status === 'expired') {
      stateLine.textContent = 'This order expired and its stock went back on the shelf.';
    }
  }

  async function act(btn, fn) {
    error.textContent = '';
    btn.disabled = true;
    try { await fn(); } catch (err) { if (!error.textContent) error.textContent = errorSentence(err); } finally { btn.disabled = false; }
  }

  async function load() {
    mount(shelf, loading('Loading products…'));
    try {
      const res = await get(`/api/rooms/${roomId}/products`);
      products = res.items || [];
      renderShelf();
    } catch (err) {
      mount(shelf, el('li.inline-error', { role: 'alert' }, errorSentence(err)));
    }
  }

  async function loadCart() {
    try { renderCart(await get(`/api/rooms/${roomId}/cart`)); } catch (err) { mount(cartBox, el('p.form-error', { role: 'alert' }, errorSentence(err))); }
  }

  /** `products {items}`. */
  function setProducts(items) { products = items || []; renderShelf(); }
  /** `stock {product_id, left}`. */
  function stock({ product_id: id, left }) {
    const p = products.find((x) => x.id === id);
    if (p) { p.left = left; renderShelf(); }
  }
  /** Notices about orders. */
  function notice(data) {
    if (data.kind === 'order_expired') {
      toast('Your order expired before it was paid.', 'error', 6000);
      if (order && (data.order_id === undefined || data.order_id === order.id)) showOrder({ ...order, status: 'expired' });
    } else if (data.kind === 'order_paid') {
      if (order && order.status !== 'paid' && (data.order_id === undefined || data.order_id === order.id)) showOrder({ ...order, status: 'paid' });
      if (typeof data.balance === 'number') setBalance(data.balance);
    }
  }

  let opener = null;
  function open() { opener = document.activeElement; sheet.hidden = false; load(); loadCart(); sheet.querySelector('.icon-btn').focus(); }
  function close() { sheet.hidden = true; if (opener && opener.focus) opener.focus(); }
  sheet.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });

  return { node: sheet, badge, open, close, toggle: () => (sheet.hidden ? open() : close()), load, setProducts, stock, notice,
    destroy: () => clearInterval(orderTimer) };
}
