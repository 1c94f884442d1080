// Browser test of a busy room's gift window (docs/reference/websocket.md, "Gift combos and the
// gift window"): gifts paid together reach the page as `gift` and `gifts` frames, and the page
// shows every one of them. A room is busy from 100 viewers on (`room.gift_combo_min_viewers`),
// so a third browser fills the room with 150 quiet sockets of its user (allowed here by the
// per-user socket caps).
import assert from 'node:assert/strict';
import { browserSuite, apiAs, shot, missing, goLive, enterRoom, DESKTOP, PHONE } from './helpers.mjs';

const { server, flow, join } = await browserSuite({
  LIVEROOM__ROOM__MAX_SOCKETS_PER_USER_PER_ROOM: '200',
  LIVEROOM__ROOM__MAX_SOCKETS_PER_USER: '200',
});
const T = { timeout: 120000 };

flow('roses paid at once arrive merged in a gifts frame, and the anchor sees all of them', { ...T, skip: missing(server, ['POST', '/api/rooms/{id}/gifts']) }, async () => {
  const anchor = await join({ viewport: DESKTOP });
  const fan = await join({ viewport: PHONE });
  const roomId = await goLive(anchor, 'Rose storm');
  const r = await apiAs(fan.page, 'POST', '/api/wallet/recharges', { product_id: 2 });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await enterRoom(fan, roomId);
  // The crowd: 150 sockets that only ping, so the room's gift window is 7.5 ms (50 µs each).
  const crowd = await join({ viewport: PHONE });
  const opened = await crowd.page.evaluate(async (id) => {
    window.crowd = [];
    for (let i = 0; i < 150; i += 1) {
      const im = await (await fetch(`/api/rooms/${id}/im`, { credentials: 'same-origin' })).json();
      const ws = new WebSocket(im.url || `ws://${location.host}/ws?ticket=${encodeURIComponent(im.ticket)}`);
      await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = fail; });
      window.crowd.push(ws);
    }
    setInterval(() => window.crowd.forEach((ws) => ws.send('{"type":"ping"}')), 5000);
    return window.crowd.length;
  }, roomId);
  assert.equal(opened, 150);
  // Record what the anchor's page receives, from the reload on.
  await anchor.page.addInitScript(() => {
    window.gotFrames = [];
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (e) => window.gotFrames.push(JSON.parse(String(e.data))));
      }
    };
  });
  await anchor.page.reload();
  await anchor.page.locator('#conn[data-state="online"]').waitFor({ timeout: 30000 });
  const gifts = await apiAs(fan.page, 'GET', '/api/gifts');
  const rose = gifts.body.reduce((a, g) => (g.price < a.price ? g : a));
  // Two fans send six roses each at once (a browser's six connections): the wallet commits
  // them together and the room gets them back to back, so most wait for the window and go as
  // one `gifts` frame, one merged rose combo a fan. Timing decides how they split, so a few
  // rounds are allowed to see one.
  const r2 = await apiAs(crowd.page, 'POST', '/api/wallet/recharges', { product_id: 2 });
  assert.equal(r2.status, 201, JSON.stringify(r2.body));
  const frames = () => anchor.page.evaluate(() => window.gotFrames);
  const giftsIn = (fs) => fs.flatMap((f) => (f.type === 'gift' ? [f.data] : f.type === 'gifts' ? f.data.gifts : []));
  const sixRoses = (who) => who.page.evaluate(async ([path, id]) => {
    const one = () => fetch(path, { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ gift_id: id }) }).then((x) => x.status);
    return Promise.all(Array.from({ length: 6 }, one));
  }, [`/api/rooms/${roomId}/gifts`, rose.id]);
  let paid = 0;
  for (let round = 0; round < 5; round += 1) {
    const sent = (await Promise.all([sixRoses(fan), sixRoses(crowd)])).flat();
    assert.deepEqual(sent, Array(12).fill(200));
    paid += 12;
    // Every paid rose reaches the page, in whatever frames.
    await anchor.page.waitForFunction((n) => window.gotFrames
      .flatMap((f) => (f.type === 'gift' ? [f.data] : f.type === 'gifts' ? f.data.gifts : []))
      .reduce((s, g) => s + g.count, 0) === n, paid, { timeout: 10000 });
    if ((await frames()).some((f) => f.type === 'gifts')) break;
  }
  const got = await frames();
  const shape = got.filter((f) => f.type.startsWith('gift')).map((f) => [f.type, f.data.at || '', (f.data.gifts || []).length]);
  assert.ok(got.some((f) => f.type === 'gifts' && f.data.gifts.length >= 2), `a gifts frame came: ${JSON.stringify(shape)}`);
  assert.equal(giftsIn(got).reduce((n, g) => n + g.count, 0), paid, 'the frames add up to what was paid');
  // The page drew them: a combo banner for the fan's roses, and the gifts in the chat.
  await anchor.page.getByTestId('gift-combo').first().waitFor();
  await shot(anchor.page, 'gift-window-combo-desktop');
  assert.deepEqual(anchor.errors, []);
  assert.deepEqual(fan.errors, []);
});
