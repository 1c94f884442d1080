//! Entry point: hash router, header (navigation, balance, connection state)
//! and the page lifecycle. Each page module exports `render(main, params)`
//! which may return a cleanup function called when the page is left.

import { post, onUnauthorized, errorText } from './api.js';
import { me, loadMe, onUser, setUser, isAdmin } from './session.js';
import { el, mount, toast, fmtCoins, loading, errorSentence } from './ui.js';

const routes = [
  [/^#\/login$/, () => import('./pages/login.js'), { public: true }],
  [/^#\/rooms$/, () => import('./pages/rooms.js')],
  [/^#\/room\/(\d+)$/, () => import('./pages/room.js')],
  [/^#\/wallet$/, () => import('./pages/wallet.js')],
  [/^#\/anchor$/, () => import('./pages/anchor.js')],
  [/^#\/admin$/, () => import('./pages/admin.js')],
  [/^#\/me$/, () => import('./pages/profile.js')],
];

const main = document.getElementById('main');
let cleanup = null;
let generation = 0;

async function route() {
  const hash = location.hash || '#/rooms';
  const found = routes.find(([re]) => re.test(hash));
  if (!found) { location.replace('#/rooms'); return; }
  const [re, load, opts = {}] = found;
  const params = hash.match(re).slice(1);
  if (!opts.public && !me()) {
    sessionStorage.setItem('liveroom.after_login', hash);
    location.replace('#/login');
    return;
  }
  if (opts.public && me() && hash === '#/login') { location.replace('#/rooms'); return; }
  const gen = ++generation;
  if (typeof cleanup === 'function') { try { cleanup(); } catch { /* ignore */ } }
  cleanup = null;
  setConnection(null);
  document.body.dataset.page = hash.split('/')[1] || 'rooms';
  updateNav();
  mount(main, loading());
  try {
    const mod = await load();
    if (gen !== generation) return;
    mount(main);
    cleanup = await mod.render(main, params);
  } catch (err) {
    if (gen !== generation) return;
    mount(main, el('div.page-error', { role: 'alert' }, el('h2', 'This page could not be shown'),
      el('p', errorSentence(err)),
      el('button.btn.btn-primary', { type: 'button', onclick: route }, 'Try again')));
  }
  main.focus({ preventScroll: true });
}

function updateNav() {
  const user = me();
  document.getElementById('topbar').hidden = !user;
  const page = document.body.dataset.page;
  document.querySelectorAll('[data-nav]').forEach((a) => {
    if (a.dataset.nav === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  document.querySelector('[data-nav="admin"]').hidden = !isAdmin();
  const chip = document.getElementById('balance-chip');
  if (user) {
    mount(chip, el('span.coin', { 'aria-hidden': 'true' }), el('span', { 'data-testid': 'header-balance' }, fmtCoins(user.balance)));
    chip.setAttribute('aria-label', `Balance: ${fmtCoins(user.balance)} coins`);
  }
}

/** Shows the room socket's state in the header; null hides it. */
export function setConnection(state) {
  const node = document.getElementById('conn');
  if (!state) { node.hidden = true; return; }
  const words = { connecting: 'Connecting…', online: 'Live', reconnecting: 'Reconnecting…', offline: 'Offline', ended: 'Not connected' };
  node.hidden = false;
  node.dataset.state = state;
  node.textContent = words[state] || state;
}

onUser(updateNav);
onUnauthorized(() => {
  if (!me()) return;
  setUser(null);
  toast('Your session has ended. Please log in again.', 'error');
  location.hash = '#/login';
});

document.getElementById('logout').addEventListener('click', async () => {
  try { await post('/api/auth/logout'); } catch { /* logged out locally anyway */ }
  setUser(null);
  location.hash = '#/login';
});

window.addEventListener('hashchange', route);
window.addEventListener('offline', () => toast('You are offline. We will reconnect when the network is back.', 'error'));
window.addEventListener('online', () => toast('Back online.', 'success'));

(async () => {
  try {
    await loadMe();
  } catch (err) {
    toast(errorText(err), 'error');
  }
  route();
})();
