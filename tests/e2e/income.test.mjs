// Browser tests of issue 15's money and tools: anchor income (items 4, 5), who entered and
// the profile (item 10), the anchor's and admin's lists (item 11), the shop's stock limits
// (item 13). Each person is a separate browser context against the real binary.
import assert from 'node:assert/strict';
import { browserSuite, apiAs, shot, missing, visit, goLive, enterRoom, sendChat, DESKTOP, PHONE } from './helpers.mjs';

const { server, flow, join, theAdmin } = await browserSuite();
const T = { timeout: 120000 };

async function named(who, nickname) {
  const r = await apiAs(who.page, 'PATCH', '/api/me', { nickname });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.id;
}

async function rechargeApi(who, product = 2) {
  const r = await apiAs(who.page, 'POST', '/api/wallet/recharges', { product_id: product });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

/** An approved product of `anchor` (through the API, approved by the admin). */
async function approvedProduct(anchor, name, price, stock) {
  const p = await apiAs(anchor.page, 'POST', '/api/products', { name, price, stock });
  assert.equal(p.status, 201, JSON.stringify(p.body));
  const boss = await theAdmin();
  const ok = await apiAs(boss.page, 'POST', `/api/admin/products/${p.body.id}/approve`);
  assert.equal(ok.status, 200);
  return p.body.id;
}

const needs = (...paths) => ({ ...T, skip: missing(server, ...paths.map((p) => ['GET', p])) });

flow('gifts and a sale show as the anchor\'s income, naming the gift and the sender; the sender\'s trade names the gift', needs('/api/wallet/earnings'), async () => {
  const anchor = await join({ viewport: DESKTOP });
  const fan = await join({ viewport: PHONE });
  await named(anchor, 'Star Anchor');
  await named(fan, 'Generous Fan');
  const roomId = await goLive(anchor, 'Earning live');
  const product = await approvedProduct(anchor, 'Signed photo', 30, 5);
  await rechargeApi(fan);
  await enterRoom(fan, roomId);
  // A gift through the gift sheet, as a viewer sends one.
  await fan.page.locator('#gift-btn').click();
  await fan.page.locator('.gift-item', { hasText: 'Crown' }).click();
  await fan.page.locator('#gift-send').click();
  await anchor.page.getByTestId('gift-anim').filter({ hasText: 'Crown' }).first().waitFor();
  // A sale.
  await apiAs(fan.page, 'POST', `/api/rooms/${roomId}/cart/items`, { product_id: product, count: 1 });
  const order = await apiAs(fan.page, 'POST', `/api/rooms/${roomId}/orders`);
  assert.equal(order.status, 201, JSON.stringify(order.body));
  assert.equal((await apiAs(fan.page, 'POST', `/api/orders/${order.body.id}/pay`)).status, 200);

  await visit(anchor.page, '/#/wallet');
  const income = anchor.page.getByTestId('income');
  await income.waitFor();
  // 100 + 30 paid, half to the platform: 65.
  assert.equal((await anchor.page.getByTestId('income-total').textContent()).trim(), '65');
  const rows = anchor.page.getByTestId('earnings').locator('.trade');
  assert.equal(await rows.count(), 2);
  assert.match(await rows.nth(1).textContent(), /Crown ×1 from Generous Fan.*\+50.*of 100 paid · platform 50/);
  assert.match(await rows.nth(0).textContent(), /Order #\d+: Signed photo ×1 from Generous Fan.*\+15/);
  await shot(anchor.page, 'income-desktop');
  await anchor.page.setViewportSize(PHONE);
  await shot(anchor.page, 'income-375');
  await anchor.page.setViewportSize(DESKTOP);

  await visit(fan.page, '/#/wallet');
  await fan.page.locator('.trade[data-kind="gift"]', { hasText: 'Gift sent: Crown ×1' }).waitFor();
  await fan.page.locator('.trade[data-kind="order"]', { hasText: 'Signed photo ×1' }).waitFor();
  assert.equal(await fan.page.getByTestId('income').isHidden(), true, 'a viewer who earned nothing sees no income section');
  await shot(fan.page, 'wallet-notes-375');
  assert.deepEqual(anchor.errors, []);
  assert.deepEqual(fan.errors, []);
});

flow('viewers who enter at once are one line in the chat, and a nickname set on the profile page shows in the room', needs('/api/me'), async () => {
  const anchor = await join({ viewport: DESKTOP });
  const roomId = await goLive(anchor, 'Welcome party');
  const guests = [];
  for (let i = 0; i < 4; i += 1) guests.push(await join({ viewport: PHONE }));
  for (const [i, g] of guests.entries()) await named(g, `Guest ${i + 1}`);
  await Promise.all(guests.map((g) => enterRoom(g, roomId)));
  const line = anchor.page.getByTestId('entered').last();
  await anchor.page.waitForFunction(() => {
    const lines = [...document.querySelectorAll('[data-testid="entered"]')].map((l) => l.textContent);
    const counted = lines.reduce((n, t) => {
      const m = t.match(/and (\d+) others?/);
      return n + (t.match(/Guest \d/g) || []).length + (m ? Number(m[1]) : 0);
    }, 0);
    return counted >= 4;
  }, null, { timeout: 15000 });
  assert.ok((await anchor.page.getByTestId('entered').count()) <= 2, 'a crowd is one line (two at most, split by the second tick)');
  assert.match(await line.textContent(), /Guest \d.*entered the room/);
  await shot(anchor.page, 'entered-desktop');

  const g = guests[0];
  await visit(g.page, '/#/me');
  await g.page.locator('#profile-nickname').fill('Night Owl');
  await g.page.locator('#profile-avatar').fill('http://not-secure.example/a.png');
  await g.page.locator('#profile-save').click();
  await g.page.getByText('Use a link that starts with https://').waitFor();
  await g.page.locator('#profile-avatar').fill('');
  await g.page.locator('#profile-save').click();
  await g.page.getByText('Saved.').waitFor();
  await shot(g.page, 'profile-375');
  await enterRoom(g, roomId);
  await sendChat(g.page, 'hoot hoot');
  await anchor.page.locator('.chat-line', { hasText: 'hoot hoot' }).locator('text=Night Owl').waitFor();
  for (const p of [anchor, ...guests]) assert.deepEqual(p.errors, []);
});

flow('the anchor sees each application as it stands and lifts a ban from a list; the admin sees names and new applications arrive by themselves',
  needs('/api/red-packet/applications', '/api/products', '/api/rooms/{id}/bans'), async () => {
  const anchor = await join({ viewport: DESKTOP });
  const viewer = await join({ viewport: PHONE });
  const boss = await theAdmin();
  await named(anchor, 'Console Anchor');
  const viewerId = await named(viewer, 'Rowdy Viewer');
  const roomId = await goLive(anchor, 'Tools');
  await visit(boss.page, '/#/admin');
  await boss.page.getByTestId('admin-rain').locator('.admin-row, .empty-state, li').first().waitFor();

  await visit(anchor.page, '/#/anchor');
  await anchor.page.locator('#rain-total').fill('80');
  await anchor.page.locator('#rain-packets').fill('8');
  await anchor.page.locator('#rain-apply').click();
  const mine = anchor.page.getByTestId('my-applications').locator('.app-row', { hasText: '80 coins in 8 packets' });
  await mine.locator('.status-pill[data-status="pending"]').waitFor();

  // The admin page was open before the application: it arrives without a reload, named.
  const row = boss.page.getByTestId('admin-rain').locator('.admin-row', { hasText: '80 coins in 8 packets' });
  await row.waitFor({ timeout: 15000 });
  assert.match(await row.textContent(), /by Console Anchor/);
  await shot(boss.page, 'admin-names-desktop');
  await row.getByRole('button', { name: /Approve/ }).click();
  await row.locator('.status-pill[data-status="approved"]').waitFor();
  // ... and the anchor's console shows the decision without a reload.
  await mine.locator('.status-pill[data-status="approved"]').waitFor({ timeout: 15000 });
  await shot(anchor.page, 'anchor-applications-desktop');

  await enterRoom(viewer, roomId);
  const kick = await apiAs(anchor.page, 'POST', `/api/rooms/${roomId}/kicks`, { user_id: viewerId, ban: true });
  assert.equal(kick.status, 200);
  await visit(anchor.page, '/#/anchor');
  const banned = anchor.page.getByTestId('bans').locator('.app-row', { hasText: 'Rowdy Viewer' });
  await banned.waitFor();
  await anchor.page.setViewportSize(PHONE);
  await banned.scrollIntoViewIfNeeded();
  await shot(anchor.page, 'anchor-bans-375');
  await anchor.page.setViewportSize(DESKTOP);
  await banned.getByRole('button', { name: 'Unban Rowdy Viewer' }).click();
  await anchor.page.getByTestId('bans').getByText('Nobody is banned from your room.').waitFor();
  const back = await apiAs(viewer.page, 'GET', `/api/rooms/${roomId}/im`);
  assert.equal(back.status, 200, 'the viewer may come back');
  assert.deepEqual(anchor.errors, []);
  assert.deepEqual(boss.errors, []);
});

flow('the shop never offers more than is left, and a cart asking for more is told so by product name', needs('/api/rooms/{id}/products'), async () => {
  const anchor = await join({ viewport: DESKTOP });
  const viewer = await join({ viewport: PHONE });
  const rival = await join({ viewport: PHONE });
  const roomId = await goLive(anchor, 'Last few');
  await approvedProduct(anchor, 'Lucky charm', 5, 3);
  await enterRoom(viewer, roomId);
  await viewer.page.locator('#shop-btn').click();
  const product = viewer.page.locator('.product', { hasText: 'Lucky charm' });
  await product.getByTestId('stock').filter({ hasText: '3 left' }).waitFor();
  const options = async () => product.locator('.qty option').evaluateAll((os) => os.map((o) => Number(o.value)));
  assert.deepEqual(await options(), [1, 2, 3]);
  await shot(viewer.page, 'shop-qty-375');

  // A rival takes two: the shelf follows the live stock.
  await rechargeApi(rival, 1);
  const pid = Number(await product.getAttribute('data-product-id'));
  await apiAs(rival.page, 'POST', `/api/rooms/${roomId}/cart/items`, { product_id: pid, count: 2 });
  assert.equal((await apiAs(rival.page, 'POST', `/api/rooms/${roomId}/orders`)).status, 201);
  await product.getByTestId('stock').filter({ hasText: '1 left' }).waitFor();
  assert.deepEqual(await options(), [1]);

  // A page that did not hear of it (a stale list) asks for 3: the cart refuses by name.
  await product.locator('.qty').evaluate((s) => { s.append(new Option('3', '3')); s.value = '3'; });
  await product.getByRole('button', { name: /Add Lucky charm/ }).click();
  const err = viewer.page.getByTestId('shop-error');
  await err.filter({ hasText: 'Lucky charm' }).waitFor();
  assert.match(await err.textContent(), /^Only 1 Lucky charm is left\. Put 1 in the cart\.$/);
  const cart = await apiAs(viewer.page, 'GET', `/api/rooms/${roomId}/cart`);
  assert.deepEqual(cart.body.items, [], 'nothing went into the cart');
  await shot(viewer.page, 'shop-refused-375');
  assert.deepEqual(viewer.errors, []);
});

flow('a gift that reaches the end of the bar is announced as a knockout in both anchors\' rooms', needs('/api/rooms/{id}/pk'), async () => {
  const host = await join({ viewport: DESKTOP });
  const challenger = await join({ viewport: PHONE });
  const viewer = await join({ viewport: PHONE });
  await named(host, 'Host Star');
  const hostRoom = await goLive(host, 'KO night', 'pk');
  const ownRoom = await goLive(challenger, 'Challenger home');
  const joined = await apiAs(challenger.page, 'POST', `/api/rooms/${hostRoom}/pk/join`);
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  await enterRoom(challenger, ownRoom);
  await host.page.locator('[data-testid="pk"][data-status="running"]').waitFor();
  await challenger.page.locator('[data-testid="pk"][data-status="running"]').waitFor();
  // A rocket (1,000 coins) moves the bar 100 points at 10 coins a point: from 50, past the end.
  await rechargeApi(viewer, 4);
  const hostId = (await apiAs(host.page, 'GET', '/api/me')).body.id;
  const sent = await apiAs(viewer.page, 'POST', `/api/rooms/${hostRoom}/gifts`, { gift_id: 6, to: hostId });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  for (const p of [host, challenger]) {
    const banner = p.page.getByTestId('pk-winner');
    await banner.filter({ hasText: 'KO!' }).waitFor({ timeout: 15000 });
    assert.match(await banner.textContent(), /KO! .*Host Star wins by knockout/);
  }
  await shot(host.page, 'pk-ko-desktop');
  await shot(challenger.page, 'pk-ko-challenger-375');
  assert.deepEqual(host.errors, []);
  assert.deepEqual(challenger.errors, []);
});
