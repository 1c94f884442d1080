//! Anchor console: open a normal or PK room, close it, join another anchor's
//! PK as challenger, apply for a red-packet rain and prepare/start it, apply
//! to sell products, see each application as it stands (refreshed while the
//! page is open), and lift bans in the live room.

import { get, post, del, findMyRoom } from '../api.js';
import { me, setUser, refreshBalance } from '../session.js';
import { el, mount, field, setFieldError, toast, busy, confirmDialog, fmtCoins, fmtCount, loading, emptyState, errorSentence } from '../ui.js';

/** How often the applications list asks how its applications stand. */
const APPS_POLL_MS = 5000;

/** A chip saying whether an admin granted a privilege. */
function privilege(granted, yes, no) {
  return el('p.privilege', { class: granted ? 'granted' : '' }, granted ? `✓ ${yes}` : no);
}

export async function render(main) {
  try { setUser(await get('/api/me')); } catch { /* the cached user is good enough here */ }
  const user = me();
  const privs = user.privileges || {};
  const liveBox = el('div.card.live-card', { 'data-testid': 'my-room' }, loading('Looking for your live room…'));
  const pkBox = el('ul.pk-list', { 'aria-label': 'PK rooms to challenge' });
  const rainBox = el('div.card');
  const productBox = el('div.card');
  const appsBox = el('ul.apps', { 'aria-label': 'Your applications', 'data-testid': 'my-applications' });
  const bansBox = el('ul.apps', { 'aria-label': 'Banned viewers', 'data-testid': 'bans' });
  let myRoom = null;

  main.append(el('section.page.anchor-page',
    el('div.page-head', el('div', el('h1', 'Anchor console'), el('p.sub', 'Go live, battle other anchors, rain red packets and sell.'))),
    el('div.console-grid',
      el('section.console-section', { 'aria-labelledby': 'h-live' }, el('h2', { id: 'h-live' }, '🔴 Your live room'), liveBox),
      el('section.console-section', { 'aria-labelledby': 'h-pk' }, el('h2', { id: 'h-pk' }, '⚔ Challenge a PK'),
        el('p.sub', 'With a live room of your own, join a waiting PK room as the challenger.'), pkBox),
      el('section.console-section', { 'aria-labelledby': 'h-rain' }, el('h2', { id: 'h-rain' }, '🧧 Red-packet rain'), rainBox),
      el('section.console-section', { 'aria-labelledby': 'h-shop' }, el('h2', { id: 'h-shop' }, '🛍 Sell products'), productBox),
      el('section.console-section', { 'aria-labelledby': 'h-apps' }, el('h2', { id: 'h-apps' }, '📋 Your applications'), appsBox),
      el('section.console-section', { 'aria-labelledby': 'h-bans' }, el('h2', { id: 'h-bans' }, '🚫 Banned from your room'), bansBox))));

  /** Your applications as the server has them, newest first: rains, then products. */
  async function renderApps() {
    let rains; let products;
    try {
      [rains, products] = await Promise.all([
        get('/api/red-packet/applications?page=1&page_size=20'), get('/api/products?page=1&page_size=20')]);
    } catch (err) {
      if (!appsBox.children.length) mount(appsBox, el('li.inline-error', { role: 'alert' }, `${errorSentence(err)} The list will try again in a few seconds.`));
      return;
    }
    const rows = [
      ...rains.items.map((a) => ({ key: `rain-${a.id}`, text: `🧧 Rain #${a.id}: ${fmtCoins(a.total_coins)} coins in ${a.packets} packets`, status: a.status })),
      ...products.items.map((p) => ({ key: `product-${p.id}`, text: `🛍 ${p.name}: ${fmtCoins(p.price)} coins, stock ${p.stock}`, status: p.status })),
    ];
    if (!rows.length) { mount(appsBox, el('li.muted', 'Applications you send appear here with how they stand.')); return; }
    mount(appsBox, rows.map((a) => el('li.app-row', { dataset: { key: a.key } }, el('span', a.text),
      el('span.status-pill', { dataset: { status: a.status } }, a.status))));
  }

  /** Who is banned from your live room, each with a button that lifts the ban. */
  async function renderBans() {
    if (!myRoom) { mount(bansBox, el('li.muted', 'Go live to see who is banned from your room.')); return; }
    let page;
    try { page = await get(`/api/rooms/${myRoom.id}/bans?page=1&page_size=100`); } catch (err) {
      mount(bansBox, el('li.inline-error', { role: 'alert' }, errorSentence(err),
        el('button.btn.btn-ghost.btn-sm', { type: 'button', onclick: renderBans }, 'Try again')));
      return;
    }
    if (!page.items.length) { mount(bansBox, el('li.muted', 'Nobody is banned from your room.')); return; }
    mount(bansBox, page.items.map((b) => {
      const lift = el('button.btn.btn-ghost.btn-sm', { type: 'button', 'aria-label': `Unban ${b.user.nickname}` }, 'Unban');
      lift.addEventListener('click', () => busy(lift, async () => {
        await del(`/api/rooms/${myRoom.id}/bans/${b.user.id}`);
        toast(`${b.user.nickname} may come back into your room.`, 'success');
        await renderBans();
      }));
      return el('li.app-row', el('span', b.user.nickname), lift);
    }));
  }

  async function renderLive() {
    try { myRoom = await findMyRoom(user.id); } catch (err) { mount(liveBox, el('p.form-error', { role: 'alert' }, errorSentence(err))); return; }
    if (myRoom) {
      const closeBtn = el('button.btn.btn-danger', { type: 'button', id: 'close-room' }, 'Close room');
      closeBtn.addEventListener('click', async () => {
        if (!(await confirmDialog('Close your room?', 'The live ends for everyone watching.', 'Close room'))) return;
        await busy(closeBtn, async () => { await del(`/api/rooms/${myRoom.id}`); toast('Your room is closed.', 'success'); await renderLive(); renderRain(); });
      });
      mount(liveBox,
        el('div.live-now', el('span.badge-live', 'LIVE'), el('strong', myRoom.title),
          el('span.muted', `${myRoom.kind === 'pk' ? 'PK room' : 'Normal room'} · ${fmtCount(myRoom.online)} watching`)),
        el('div.row', el('a.btn.btn-primary', { href: `#/room/${myRoom.id}`, id: 'enter-room' }, 'Enter your room'), closeBtn));
      return;
    }
    const title = el('input', { type: 'text', maxlength: 60, required: true, id: 'room-title', placeholder: 'Late-night music and chat' });
    const kindNormal = el('input', { type: 'radio', name: 'kind', value: 'normal', checked: true, id: 'kind-normal' });
    const kindPk = el('input', { type: 'radio', name: 'kind', value: 'pk', id: 'kind-pk' });
    const submit = el('button.btn.btn-primary.btn-lg', { type: 'submit', id: 'open-room' }, el('span.rec-dot', { 'aria-hidden': 'true' }), 'Go live');
    const err = el('p.form-error', { role: 'alert' });
    const form = el('form.open-room', { novalidate: true },
      field('Room title', title, '1 to 60 characters.'),
      el('fieldset.kind-pick', el('legend', 'Room kind'),
        el('label.kind-option', kindNormal, el('span', el('strong', 'Normal'), el('small', 'Chat, gifts, rain and shop'))),
        el('label.kind-option', kindPk, el('span', el('strong', 'PK battle'), el('small', 'Another anchor can challenge you')))),
      err, submit);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      setFieldError(title, ''); err.textContent = '';
      const t = title.value.trim();
      if (!t) { setFieldError(title, 'Give your room a title.'); title.focus(); return; }
      submit.disabled = true;
      try {
        const room = await post('/api/rooms', { title: t, kind: kindPk.checked ? 'pk' : 'normal' });
        toast('You are live!', 'success');
        location.hash = `#/room/${room.id}`;
      } catch (ex) {
        if (ex.field === 'title') setFieldError(title, errorSentence(ex)); else err.textContent = errorSentence(ex);
        submit.disabled = false;
      }
    });
    mount(liveBox, el('p.sub', 'You are not live. Open a room and your viewers can find you.'), form);
  }

  async function renderPk() {
    mount(pkBox, loading('Loading PK rooms…'));
    try {
      const res = await get('/api/rooms?kind=pk&page=1&page_size=50');
      const others = res.items.filter((r) => r.anchor.id !== user.id);
      if (!others.length) { mount(pkBox, el('li', emptyState('⚔', 'No PK room to challenge', 'When another anchor opens a PK room it shows up here.'))); return; }
      mount(pkBox, others.map((r) => {
        const b = el('button.btn.btn-pk.btn-sm', { type: 'button', 'aria-label': `Challenge ${r.anchor.nickname}` }, 'Challenge');
        b.addEventListener('click', () => busy(b, async () => {
          await post(`/api/rooms/${r.id}/pk/join`);
          toast(`You challenged ${r.anchor.nickname}. Fight!`, 'success');
          // The challenger stays the anchor of their own room, where the battle shows too.
          const mine = await findMyRoom(user.id);
          location.hash = `#/room/${mine ? mine.id : r.id}`;
        }));
        return el('li.pk-row', el('div', el('strong', r.title), el('span.muted', ` by ${r.anchor.nickname}`)), b);
      }));
    } catch (err) {
      mount(pkBox, el('li.inline-error', { role: 'alert' }, errorSentence(err)));
    }
  }

  function renderRain() {
    const total = el('input', { type: 'number', min: 1, max: 10000000, step: 1, value: 1000, id: 'rain-total', required: true });
    const packets = el('input', { type: 'number', min: 1, max: 100000, step: 1, value: 20, id: 'rain-packets', required: true });
    const apply = el('button.btn.btn-secondary', { type: 'submit', id: 'rain-apply' }, 'Apply');
    const err = el('p.form-error', { role: 'alert' });
    const form = el('form.inline-form', { novalidate: true }, el('div.two', field('Total coins', total), field('Packets', packets)), err, apply);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      const t = Number(total.value); const p = Number(packets.value);
      if (!(t >= 1 && p >= 1 && t >= p)) { err.textContent = 'Total coins must be at least the number of packets, both at least 1.'; return; }
      await busy(apply, async () => {
        await post('/api/red-packet/applications', { total_coins: t, packets: p });
        await renderApps();
        toast('Application sent. An admin will review it.', 'success');
      });
    });
    const prep = el('button.btn.btn-rain', { type: 'button', id: 'console-rain-prepare', disabled: !myRoom }, 'Prepare rain');
    const start = el('button.btn.btn-rain', { type: 'button', id: 'console-rain-start', disabled: !myRoom }, 'Start rain');
    const state = el('p.muted', { role: 'status' }, myRoom ? 'Prepare pays the coins from your wallet; start lets them fall in your room.' : 'Go live first to prepare a rain in your room.');
    prep.addEventListener('click', () => busy(prep, async () => {
      const r = await post(`/api/rooms/${myRoom.id}/rain/prepare`);
      state.textContent = `Prepared: ${fmtCoins(r.total_coins)} coins in ${r.packets} packets. Start when your viewers are ready.`;
      refreshBalance();
    }));
    start.addEventListener('click', () => busy(start, async () => {
      await post(`/api/rooms/${myRoom.id}/rain/start`);
      state.textContent = 'The rain is falling in your room now!';
    }));
    mount(rainBox, el('p.sub', 'Apply with the coins and packets; once an admin approves, prepare and start it in your room.'),
      privilege(privs.red_packet, 'You have an approved red-packet application.', 'No approved application yet.'), form,
      el('div.row', prep, start), state);
  }

  function renderProducts() {
    const name = el('input', { type: 'text', maxlength: 60, id: 'product-name', required: true, placeholder: 'Limited tee' });
    const price = el('input', { type: 'number', min: 1, step: 1, id: 'product-price', value: 99, required: true });
    const stock = el('input', { type: 'number', min: 1, max: 1000000, step: 1, id: 'product-stock', value: 10, required: true });
    const apply = el('button.btn.btn-secondary', { type: 'submit', id: 'product-apply' }, 'Apply to sell');
    const err = el('p.form-error', { role: 'alert' });
    const form = el('form.inline-form', { novalidate: true }, field('Product name', name),
      el('div.two', field('Price (coins)', price), field('Stock', stock)), err, apply);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = ''; setFieldError(name, '');
      if (!name.value.trim()) { setFieldError(name, 'Name the product.'); name.focus(); return; }
      await busy(apply, async () => {
        try {
          await post('/api/products', { name: name.value.trim(), price: Number(price.value), stock: Number(stock.value) });
          await renderApps();
          toast('Product sent for review.', 'success');
          name.value = '';
        } catch (ex) {
          if (ex.field === 'name') setFieldError(name, errorSentence(ex)); else err.textContent = errorSentence(ex);
        }
      });
    });
    mount(productBox, el('p.sub', 'Approved products appear on the shelf of your live room.'),
      privilege(privs.commerce, 'You may sell: approved products are on your shelf.', 'Selling starts once an admin approves a product.'), form);
  }

  renderApps();
  renderProducts();
  await renderLive();
  renderRain();
  renderPk();
  renderBans();
  const poll = setInterval(() => { if (!document.hidden) renderApps(); }, APPS_POLL_MS);
  return () => clearInterval(poll);
}
