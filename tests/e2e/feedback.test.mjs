// Browser tests of the room's feedback (issue 15 items 7, 8, 9 and 14 in part): grouped toasts
// that keep clear of what a person is using, gift combos, errors as sentences saying what to
// do next, and the anchor's End live and the rain header at 375 px. Each flow skips, naming the
// missing paths, while the server lacks them.
import assert from 'node:assert/strict';
import { browserSuite, apiAs, shot, missing, visit, goLive, enterRoom, sendChat, recharge, overlaps, reachable, toastTexts, DESKTOP, PHONE, AUTH, ROOMS, WALLET, GIFTS } from './helpers.mjs';

// A 20 s rain: enough for the checks made while it falls, on a busy machine too.
const { server, flow, join, theAdmin } = await browserSuite({ LIVEROOM__RAIN__DURATION_S: '20', RAIN_S: '20' }, { failPrefix: 'failed-fb' });
const T = { timeout: 150000 };
const VIEWPORTS = [['desktop', DESKTOP], ['375', PHONE]];

const RAIN = [...ROOMS, ...WALLET, ['POST', '/api/red-packet/applications'], ['GET', '/api/admin/red-packet/applications'],
  ['POST', '/api/admin/red-packet/applications/{id}/approve'], ['POST', '/api/rooms/{id}/rain/prepare'],
  ['POST', '/api/rooms/{id}/rain/start'], ['POST', '/api/rooms/{id}/rain/grab']];
const SHOP = [...ROOMS, ...WALLET, ['POST', '/api/products'], ['GET', '/api/admin/products'], ['POST', '/api/admin/products/{id}/approve'],
  ['GET', '/api/rooms/{id}/products'], ['GET', '/api/rooms/{id}/cart'], ['POST', '/api/rooms/{id}/cart/items'],
  ['POST', '/api/rooms/{id}/orders'], ['POST', '/api/orders/{id}/pay']];

const coinsIn = (text) => Number(String(text).replace(/[^\d]/g, ''));
const fmt = (n) => Number(n).toLocaleString('en-US');
const box = (locator) => locator.boundingBox();
/** The boxes of the visible toasts. */
const toastBoxes = (page) => page.locator('#toasts .toast:not(.toast-out)').evaluateAll((ts) => ts.map((t) => {
  const r = t.getBoundingClientRect();
  return { x: r.left, y: r.top, width: r.width, height: r.height, text: t.textContent };
}));

async function assertToastsClear(page, what, locator) {
  const target = await box(locator);
  assert.ok(target, `${what} is on screen`);
  for (const t of await toastBoxes(page)) {
    assert.ok(!overlaps(t, target), `the toast "${t.text}" (${JSON.stringify(t)}) covers ${what} (${JSON.stringify(target)})`);
  }
}

// ---------------------------------------------------------------- item 9: errors in words

flow('the login field asks for the 4-digit code; a wrong code and a second request too soon say what to do next', { ...T, skip: missing(server, ...AUTH) }, async () => {
  for (const [label, viewport] of VIEWPORTS) {
    const who = await join({ viewport, login: false });
    const { page } = who;
    await visit(page, '/#/login');
    const code = page.getByLabel('Verification code');
    await code.waitFor();
    assert.equal(await code.getAttribute('placeholder'), '4-digit code');
    assert.match(await page.locator('.login-card').textContent(), /The 4-digit code we text to your phone\./);
    await page.getByLabel('Phone number').fill(who.phone);
    await page.getByRole('button', { name: 'Send code' }).click();
    await page.getByTestId('dev-code').waitFor();
    await code.fill('9999');
    await page.getByRole('button', { name: 'Log in' }).click();
    const wrong = page.locator('#login-code-err');
    await wrong.filter({ hasText: /\S/ }).waitFor();
    assert.equal(await wrong.textContent(),
      'That code is wrong or has expired. Check the 4-digit code in your text message, or tap Send code for a new one.');
    await shot(page, `fb-login-wrong-code-${label}`);

    // The same phone asks again within the minute: how long to wait, then what to do.
    await page.reload();
    await page.getByLabel('Phone number').fill(who.phone);
    await page.getByRole('button', { name: 'Send code' }).click();
    const soon = page.locator('#login-error:not(:empty), #login-phone-err:not(:empty)');
    await soon.waitFor();
    assert.match(await soon.textContent(), /^You asked for a code a moment ago\. Wait (\d+ seconds?|\d+ minutes?|a moment), then tap Send code again\.$/);
    await page.locator('#send-code', { hasText: /^Resend in \d+s$/ }).waitFor();
    await shot(page, `fb-login-too-soon-${label}`);
    // The code sent before still logs in.
    await code.fill('1000');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/#\/rooms$/);
    assert.deepEqual(who.errors, []);
  }
});

flow('a room that does not exist says so and offers the way back to the list, not "Try again"', { ...T, skip: missing(server, ...ROOMS) }, async () => {
  for (const [label, viewport] of VIEWPORTS) {
    const who = await join({ viewport });
    const { page } = who;
    await visit(page, '/#/room/987654321');
    const problem = page.getByTestId('room-problem');
    await problem.waitFor();
    assert.match(await problem.textContent(), /This room doesn't exist any more\. Go back to the list to find a live room\./);
    assert.equal(await page.getByRole('button', { name: /try again/i }).count(), 0, 'no "Try again" for a room that is not there');
    const back = problem.getByRole('link', { name: 'Back to rooms' });
    assert.ok((await reachable(back)).onTop, 'Back to rooms is visible and not covered');
    await shot(page, `fb-room-not-found-${label}`);
    await back.click();
    await page.waitForURL(/#\/rooms$/);
    await page.getByRole('heading', { name: 'Live now' }).waitFor();
    assert.deepEqual(who.errors, []);
  }
});

flow('every error code reads as a sentence that says what to do next', { ...T, skip: missing(server, ...AUTH) }, async () => {
  const who = await join({ viewport: DESKTOP });
  const table = await who.page.evaluate(async () => {
    const { errorSentence } = await import('/js/ui.js');
    const cases = [
      [{ code: 'network', status: 0, message: 'Cannot reach the server.' }], [{ code: 'unavailable', status: 503, message: 'the service is briefly unavailable; try again in a moment', retryAfter: 2 }],
      [{ code: 'internal', status: 500, message: 'internal error' }], [{ code: 'rate_limited', status: 429, message: 'too many requests; slow down', retryAfter: 5 }],
      [{ code: 'rate_limited', status: 429, retryAfter: 40 }, 'sms'], [{ code: 'rate_limited', status: 429, retryAfter: 300 }, 'login'],
      [{ code: 'invalid_code', status: 401, message: 'the code is wrong, expired or already used' }], [{ code: 'unauthorized', status: 401, message: 'log in first' }],
      [{ code: 'csrf', status: 403, message: 'cross-site request refused' }], [{ code: 'insufficient_balance', status: 402, message: 'insufficient balance' }],
      [{ code: 'banned', status: 403, message: 'you are banned from this room' }],
      [{ code: 'kicked', status: 403, message: 'you were removed from this room; you can come back in 10 minutes' }],
      [{ code: 'room_closed', status: 409, message: 'the room is closed' }], [{ code: 'not_found', status: 404, message: 'room not found' }, 'room'],
      [{ code: 'not_found', status: 404, message: 'gift not found' }], [{ code: 'forbidden', status: 403, message: 'only the anchor' }],
      [{ code: 'no_privilege', status: 403, message: 'you need an approved, unused red-packet application' }],
      [{ code: 'already_live', status: 409, message: 'you already have a live room' }], [{ code: 'pk_busy', status: 409, message: 'a challenger has joined already' }],
      [{ code: 'rain_busy', status: 409, message: 'a rain is already prepared or running in this room' }], [{ code: 'not_prepared', status: 409, message: 'prepare a rain first' }],
      [{ code: 'rain_not_running', status: 409, message: 'the rain has ended' }], [{ code: 'rain_empty', status: 409, message: 'all packets are gone' }],
      [{ code: 'cart_empty', status: 409, message: 'the cart is empty' }], [{ code: 'sold_out', status: 409, message: 'none of the cart\'s products has stock left' }],
      [{ code: 'expired', status: 410, message: 'the order expired' }], [{ code: 'too_large', status: 413, message: 'request body is larger than 64 KiB' }],
      [{ code: 'invalid_input', status: 400, message: 'phone must be 11 digits starting with 1', field: 'phone' }],
      [{ code: 'invalid_input', status: 400, message: 'title must be 1 to 60 characters' }],
      [{ code: 'slow_mode', retry_after: 8, message: 'slow mode' }, 'chat'], [{ code: 'muted', retry_after: 60, message: 'you are muted' }, 'chat'],
    ];
    return cases.map(([err, ctx]) => [err.code, ctx || '', errorSentence(err, ctx)]);
  });
  for (const [code, ctx, words] of table) {
    assert.match(words, /^[A-Z"'].*[.!]$/, `${code}${ctx ? ` (${ctx})` : ''}: "${words}" is a sentence`);
    assert.ok(words.split(/[.!] /).length >= 2 || /\b(try|wait|tap|go|pick|add|reload|check|recharge|apply|enter|log in|prepare)\b/i.test(words),
      `${code}: "${words}" says what to do next`);
    assert.ok(!/^(the|you|too|room|log in first|internal error)\b/.test(words), `${code}: not the server's raw words: "${words}"`);
  }
  const byCode = Object.fromEntries(table.map(([c, ctx, w]) => [`${c}${ctx ? `/${ctx}` : ''}`, w]));
  assert.match(byCode['unavailable'], /Try again in 2 seconds\./);
  assert.match(byCode['rate_limited/login'], /Wait 5 minutes/);
  assert.match(byCode.kicked, /You can come back in 10 minutes/);
  assert.match(byCode['not_found/room'], /Go back to the list/);
  assert.match(byCode.insufficient_balance, /Recharge/);
});

flow('a kicked viewer is told when they may come back and where to go meanwhile, also after a reload', { ...T, skip: missing(server, ...ROOMS, ['POST', '/api/rooms/{id}/kicks']) }, async () => {
  const anchor = await join({ viewport: DESKTOP });
  const viewer = await join({ viewport: PHONE });
  const roomId = await goLive(anchor, 'Mind your manners');
  await enterRoom(viewer, roomId);
  await sendChat(viewer.page, 'spam spam spam');
  await anchor.page.locator('.chat-line', { hasText: 'spam spam spam' }).locator('button.chat-name').click();
  await anchor.page.getByRole('menuitem', { name: 'Kick out' }).click();
  const ended = viewer.page.getByTestId('room-ended');
  await ended.filter({ hasText: /come back in \d+ minutes/ }).waitFor();
  assert.match(await ended.textContent(), /^The anchor removed you from this room\. You can come back in \d+ minutes; until then, find another live room\./);
  assert.ok((await reachable(ended.getByRole('link', { name: 'Find another room' }))).onTop);
  await shot(viewer.page, 'fb-kicked-375');
  await viewer.page.reload();
  await ended.filter({ hasText: /come back in \d+ minutes/ }).waitFor();
  await shot(viewer.page, 'fb-kicked-reload-375');
  assert.deepEqual(viewer.errors, []);
  assert.deepEqual(anchor.errors, []);
});

// ---------------------------------------------------------------- items 7 and 9: the gift error

flow('a gift short of coins says once how many coins are missing, offers Recharge, and clears when the balance changes', { ...T, skip: missing(server, ...GIFTS) }, async () => {
  const anchor = await join({ viewport: DESKTOP });
  const roomId = await goLive(anchor, 'Short of coins');
  for (const [label, viewport] of VIEWPORTS) {
    const viewer = await join({ viewport });
    const { page } = viewer;
    await enterRoom(viewer, roomId);
    await page.locator('#gift-btn').click();
    await page.locator('.gift-item').first().waitFor();
    // The dearest gift, five of them: more than a new account has.
    const gifts = await page.locator('.gift-item').evaluateAll((bs) => bs.map((b) => ({ name: b.querySelector('.gift-item-name').textContent, price: Number(b.getAttribute('aria-label').match(/(\d+) coins/)[1]) })));
    const dear = gifts.reduce((a, b) => (b.price > a.price ? b : a));
    await page.locator('.gift-item', { hasText: dear.name }).click();
    await page.locator('#gift-count').selectOption('5');
    const balance = (await apiAs(page, 'GET', '/api/wallet')).body.balance;
    assert.ok(balance < dear.price * 5);
    const send = page.locator('#gift-send');
    for (let i = 0; i < 3; i += 1) {
      await send.click();
      await page.getByTestId('gift-error').filter({ hasText: /more coins/ }).waitFor();
      await page.locator('#gift-send:not([disabled])').waitFor();
    }
    await page.waitForTimeout(600); // the gift_failed notices arrive over the socket
    const error = page.getByTestId('gift-error');
    assert.equal(await error.textContent(),
      `You need ${fmt(dear.price * 5 - balance)} more coins to send ${dear.name} ×5: it costs ${fmt(dear.price * 5)} and you have ${fmt(balance)}. Recharge, then send it again. Recharge now`);
    // Once: one message on the page, however many times Send was pressed.
    assert.equal(await page.getByText(/more coins to send/).count(), 1, 'the shortfall shows once');
    assert.deepEqual((await toastTexts(page)).filter((t) => /coins/.test(t)), [], 'no toast repeats it while the sheet says it');
    assert.ok((await reachable(send)).onTop, 'Send stays visible and uncovered');
    await shot(page, `fb-gift-short-${label}`);

    // Recharge from the message; the new balance clears it, and the recharge toast keeps off Send.
    await page.getByTestId('gift-recharge').click();
    const tiles = page.locator('.tile');
    await tiles.first().waitFor();
    await tiles.last().click();
    await page.locator('dialog').waitFor({ state: 'detached' });
    await page.locator('#toasts .toast', { hasText: /coins\. Your balance is/ }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="gift-error"]').textContent === '');
    await page.waitForTimeout(400); // let the stack settle where it goes
    await assertToastsClear(page, 'the Send button', send);
    await assertToastsClear(page, 'the sheet\'s foot', page.locator('#gift-sheet .sheet-foot'));
    assert.ok((await reachable(send)).onTop, `Send is not covered (${(await reachable(send)).hit})`);
    await shot(page, `fb-gift-recharged-${label}`);

    // With the sheet closed, a refused gift (sent twice, from elsewhere) shows one toast with Recharge.
    await page.locator('#gift-sheet .icon-btn').click();
    const now = (await apiAs(page, 'GET', '/api/wallet')).body.balance;
    const giftId = (await apiAs(page, 'GET', '/api/gifts')).body.find((g) => g.name === dear.name).id;
    const many = 99;
    assert.ok(dear.price * many > now, 'the recharge does not cover 99 of the dearest gift');
    for (let i = 0; i < 2; i += 1) assert.equal((await apiAs(page, 'POST', `/api/rooms/${roomId}/gifts`, { gift_id: giftId, count: many })).status, 402);
    const failed = page.locator('#toasts .toast', { hasText: /more coins/ });
    await failed.waitFor();
    await page.waitForTimeout(800);
    assert.equal(await failed.count(), 1, 'one toast for the refused gifts');
    assert.match(await failed.textContent(), new RegExp(`^You need ${fmt(dear.price * many - now)} more coins to send ${dear.name} ×${many}: .*Recharge now$`));
    await shot(page, `fb-gift-failed-toast-${label}`);
    await failed.getByTestId('toast-recharge').click();
    await page.locator('.tile').first().click();
    await page.locator('dialog').waitFor({ state: 'detached' });
    await failed.waitFor({ state: 'detached' });
    assert.deepEqual(viewer.errors, []);
  }
});

flow('a gift error that is not about coins still says what to do next (offline)', { ...T, skip: missing(server, ...GIFTS) }, async () => {
  const anchor = await join({ viewport: DESKTOP });
  const viewer = await join({ viewport: PHONE });
  const roomId = await goLive(anchor, 'Flaky network');
  await recharge(viewer);
  await enterRoom(viewer, roomId);
  await viewer.page.locator('#gift-btn').click();
  await viewer.page.locator('.gift-item').first().click();
  await viewer.context.setOffline(true);
  await viewer.page.locator('#gift-send').click();
  const error = viewer.page.getByTestId('gift-error');
  await error.filter({ hasText: /\S/ }).waitFor();
  assert.equal(await error.textContent(), 'We can\'t reach Liveroom. Check your internet connection, then try again.');
  await shot(viewer.page, 'fb-gift-offline-375');
  await viewer.context.setOffline(false);
  await viewer.page.locator('#conn[data-state="online"]').waitFor({ timeout: 30000 });
  await viewer.page.locator('#gift-send').click();
  await viewer.page.waitForFunction(() => document.querySelector('[data-testid="gift-error"]').textContent === '');
  assert.deepEqual(viewer.errors, []);
});

// ---------------------------------------------------------------- item 8: combos

flow('gifts of one kind from one sender within 3 s make one banner whose count rises', { ...T, skip: missing(server, ...GIFTS) }, async () => {
  const anchor = await join({ viewport: DESKTOP });
  const fan = await join({ viewport: PHONE });
  const other = await join({ viewport: PHONE });
  const roomId = await goLive(anchor, 'Combo time');
  await recharge(fan);
  await recharge(other);
  await enterRoom(fan, roomId);
  await enterRoom(other, roomId);
  const fanId = (await apiAs(fan.page, 'GET', '/api/me')).body.id;
  const otherId = (await apiAs(other.page, 'GET', '/api/me')).body.id;
  const rose = (await apiAs(fan.page, 'GET', '/api/gifts')).body.reduce((a, b) => (b.price < a.price ? b : a));
  // Record, on the anchor's screen, every banner and every count it shows.
  await anchor.page.evaluate(() => {
    const seen = { banners: [], most: {} };
    window.comboLog = seen;
    const note = () => {
      const now = [...document.querySelectorAll('[data-testid="gift-anim"]:not(.leaving)')];
      const per = {};
      for (const b of now) {
        const key = `${b.dataset.sender}:${b.dataset.giftId}`;
        per[key] = (per[key] || 0) + 1;
        if (!b.dataset.logId) { b.dataset.logId = String(seen.banners.length); seen.banners.push({ key, counts: [] }); }
        const counts = seen.banners[Number(b.dataset.logId)].counts;
        const n = Number(b.querySelector('.gift-anim-count').textContent.replace(/\D/g, ''));
        if (counts[counts.length - 1] !== n) counts.push(n);
      }
      for (const [k, v] of Object.entries(per)) seen.most[k] = Math.max(seen.most[k] || 0, v);
    };
    new MutationObserver(note).observe(document.querySelector('.gift-layer'), { subtree: true, childList: true, characterData: true, attributes: true });
  });
  for (let i = 0; i < 5; i += 1) {
    assert.equal((await apiAs(fan.page, 'POST', `/api/rooms/${roomId}/gifts`, { gift_id: rose.id, count: 1 })).status, 200);
    await fan.page.waitForTimeout(250);
    if (i === 2) assert.equal((await apiAs(other.page, 'POST', `/api/rooms/${roomId}/gifts`, { gift_id: rose.id, count: 1 })).status, 200);
  }
  const key = `${fanId}:${rose.id}`;
  const banner = anchor.page.locator(`[data-testid="gift-anim"][data-sender="${fanId}"]`);
  await banner.filter({ has: anchor.page.locator('.gift-anim-count', { hasText: '×5' }) }).waitFor();
  await fan.page.locator(`[data-testid="gift-anim"][data-sender="${fanId}"][data-combo="5"]`).waitFor();
  await shot(anchor.page, 'fb-gift-combo-desktop');
  await shot(fan.page, 'fb-gift-combo-375');
  let log = await anchor.page.evaluate(() => window.comboLog);
  // The other sender's rose had its own banner.
  assert.deepEqual(log.banners.filter((b) => b.key === `${otherId}:${rose.id}`).map((b) => b.counts), [[1]]);
  const fanBanners = log.banners.filter((b) => b.key === key);
  assert.equal(fanBanners.length, 1, `one banner for five roses, not ${fanBanners.length}: ${JSON.stringify(log)}`);
  assert.equal(log.most[key], 1);
  const counts = fanBanners[0].counts;
  assert.equal(counts[counts.length - 1], 5);
  assert.ok(counts.length >= 2 && counts.every((n, i) => i === 0 || n > counts[i - 1]), `the count rises: ${counts.join(' → ')}`);
  assert.ok(await banner.evaluate((b) => getComputedStyle(b).opacity > 0.5), 'the banner is still showing');
  // The chat merges them too: fewer lines than roses (another line, the other's gift or an
  // "entered", starts a new one), whose counts add up to 5.
  const fanName = (await apiAs(fan.page, 'GET', '/api/me')).body.nickname;
  const lines = (await anchor.page.getByTestId('gift-line').allTextContents()).filter((t) => t.includes(`${fanName} sent`));
  assert.ok(lines.length <= 3, JSON.stringify(lines));
  assert.equal(lines.reduce((n, t) => n + Number(t.match(/×(\d+)/)[1]), 0), 5, JSON.stringify(lines));

  // After 3 s without a rose the combo is over: the next ones start a new banner, counting gifts (2 × 10 = ×20).
  await banner.waitFor({ state: 'detached', timeout: 10000 });
  for (let i = 0; i < 2; i += 1) {
    assert.equal((await apiAs(fan.page, 'POST', `/api/rooms/${roomId}/gifts`, { gift_id: rose.id, count: 10 })).status, 200);
  }
  await anchor.page.locator(`[data-testid="gift-anim"][data-sender="${fanId}"][data-combo="20"]`).waitFor();
  log = await anchor.page.evaluate(() => window.comboLog);
  const again = log.banners.filter((b) => b.key === key);
  assert.equal(again.length, 2, 'a second combo after the pause');
  assert.equal(again[1].counts[again[1].counts.length - 1], 20);
  assert.ok(!again[1].counts.includes(25), 'the first combo does not carry over');
  assert.deepEqual(anchor.errors, []);
  assert.deepEqual(fan.errors, []);
});

// ---------------------------------------------------------------- items 7 and 14: the rain

flow('a rain burst is one toast line counting packets and coins, clear of the rain timer, and the rain header leaves the room title visible', { ...T, skip: missing(server, ...RAIN) }, async () => {
  const anchor = await join({ viewport: DESKTOP });
  const viewer = await join({ viewport: PHONE });
  const boss = await theAdmin();
  await recharge(anchor);
  const roomId = await goLive(anchor, 'A long room title for the rain to leave alone');
  await visit(anchor.page, '/#/anchor');
  await anchor.page.locator('#rain-total').fill('200');
  await anchor.page.locator('#rain-packets').fill('20');
  await anchor.page.locator('#rain-apply').click();
  await anchor.page.locator('.app-row', { hasText: 'pending' }).waitFor();
  await visit(boss.page, '/#/admin');
  const row = boss.page.getByTestId('admin-rain').locator('.admin-row', { hasText: '200 coins in 20 packets' });
  await row.getByRole('button', { name: /Approve/ }).click();
  await row.locator('.status-pill[data-status="approved"]').waitFor();

  await enterRoom(anchor, roomId);
  await enterRoom(viewer, roomId);
  await anchor.page.locator('#rain-prepare').click();
  await anchor.page.locator('#rain-start:not([hidden])').click();
  await viewer.page.getByTestId('packet').first().waitFor();
  await anchor.page.getByTestId('packet').first().waitFor();

  // The rain's header sits under the room's title, which stays visible and uncovered.
  for (const [label, who] of [['375', viewer], ['desktop', anchor]]) {
    const title = who.page.getByTestId('room-title');
    const head = who.page.locator('.rain-head');
    assert.ok(!overlaps(await box(head), await box(title)), `the rain header covers the room title at ${label}`);
    const seen = await reachable(title);
    assert.ok(seen.inViewport && seen.onTop, `the room title is covered at ${label} by ${seen.hit}`);
    await shot(who.page, `fb-rain-header-${label}`);
  }

  // Record every toast about the rain the viewer sees, and how many show at once.
  await viewer.page.evaluate(() => {
    const log = { texts: [], most: 0, lines: 0 };
    window.rainToasts = log;
    const note = () => {
      const now = [...document.querySelectorAll('#toasts .toast:not(.toast-out)')].filter((t) => /rain/i.test(t.textContent));
      log.most = Math.max(log.most, now.length);
      for (const t of now) {
        if (!t.dataset.seen) { t.dataset.seen = '1'; log.lines += 1; }
        if (log.texts[log.texts.length - 1] !== t.textContent) log.texts.push(t.textContent);
      }
    };
    new MutationObserver(note).observe(document.getElementById('toasts'), { subtree: true, childList: true, characterData: true });
  });
  // Grab a burst of packets the keyboard way; one toast line counts them.
  let grabs = 0;
  for (let i = 0; i < 8; i += 1) {
    const packet = viewer.page.getByTestId('packet').last();
    if (await packet.evaluate((p) => { p.focus(); return document.activeElement === p; }).catch(() => false)) {
      await viewer.page.keyboard.press('Enter');
      grabs += 1;
    }
    await viewer.page.waitForTimeout(150);
  }
  assert.ok(grabs >= 3);
  const line = viewer.page.locator('#toasts .toast', { hasText: /from the rain/ });
  await line.filter({ hasText: /^🧧 [2-9]\d* packets grabbed/ }).waitFor();
  await viewer.page.waitForTimeout(500); // the rain_credited notices arrive too
  assert.equal(await line.count(), 1, `one line for the burst: ${JSON.stringify(await toastTexts(viewer.page))}`);
  assert.equal((await toastTexts(viewer.page)).length, 1, 'no other toast stacks up during the rain');
  const m = /^🧧 (\d+) packets grabbed: \+([\d,]+) coins from the rain$/.exec(await line.textContent());
  assert.ok(m, await line.textContent());
  assert.equal(coinsIn(m[2]), coinsIn(await viewer.page.getByTestId('rain-tally').textContent()), 'the line sums the coins grabbed');
  await assertToastsClear(viewer.page, 'the rain\'s timer', viewer.page.locator('.rain-clock'));
  await assertToastsClear(viewer.page, 'the rain\'s header', viewer.page.locator('.rain-head'));
  await shot(viewer.page, 'fb-rain-toast-375');

  // The anchor, on a desktop, grabs too: the line keeps off the timer there as well.
  for (let i = 0; i < 3; i += 1) {
    const packet = anchor.page.getByTestId('packet').last();
    if (await packet.evaluate((p) => { p.focus(); return document.activeElement === p; }).catch(() => false)) await anchor.page.keyboard.press('Enter');
    await anchor.page.waitForTimeout(150);
  }
  const anchorLine = anchor.page.locator('#toasts .toast', { hasText: /from the rain/ });
  if (await anchorLine.count()) {
    await assertToastsClear(anchor.page, 'the rain\'s timer', anchor.page.locator('.rain-clock'));
    await shot(anchor.page, 'fb-rain-toast-desktop');
  }

  // When the rain ends, a line sums it up; never two lines about the rain at once.
  await viewer.page.waitForFunction(() => window.rainToasts.texts.some((t) => t.startsWith('🧧 Rain over.')), null, { timeout: 45000 });
  await shot(viewer.page, 'fb-rain-result-375');
  const log = await viewer.page.evaluate(() => window.rainToasts);
  assert.match(log.texts.find((t) => t.startsWith('🧧 Rain over.')), /^🧧 Rain over\. You grabbed [\d,]+ coins from \d+ packets?\./);
  assert.equal(log.most, 1, `one rain line at a time: ${JSON.stringify(log)}`);
  const counts = log.texts.map((t) => /^🧧 (\d+) packets? grabbed/.exec(t)).filter(Boolean).map((x) => Number(x[1]));
  assert.ok(counts.every((n, i) => i === 0 || n >= counts[i - 1]), `the burst's count only rises: ${counts.join(' → ')}`);
  assert.deepEqual(viewer.errors, []);
  assert.deepEqual(anchor.errors, []);
});

// ---------------------------------------------------------------- item 7: the order panel

flow('toasts keep clear of the order panel while a viewer orders and pays', { ...T, skip: missing(server, ...SHOP) }, async () => {
  const anchor = await join({ viewport: DESKTOP });
  const boss = await theAdmin();
  const roomId = await goLive(anchor, 'Flash deals');
  await visit(anchor.page, '/#/anchor');
  await anchor.page.locator('#product-name').fill('Neon fan');
  await anchor.page.locator('#product-price').fill('5');
  await anchor.page.locator('#product-stock').fill('10');
  await anchor.page.locator('#product-apply').click();
  await anchor.page.locator('.app-row', { hasText: 'Neon fan' }).waitFor();
  await visit(boss.page, '/#/admin');
  const row = boss.page.getByTestId('admin-products').locator('.admin-row', { hasText: 'Neon fan' });
  await row.getByRole('button', { name: /Approve/ }).click();
  await row.locator('.status-pill[data-status="approved"]').waitFor();

  for (const [label, viewport] of VIEWPORTS) {
    const viewer = await join({ viewport });
    const { page } = viewer;
    await recharge(viewer);
    await enterRoom(viewer, roomId);
    await page.locator('#shop-btn').click();
    const product = page.locator('.product', { hasText: 'Neon fan' });
    await product.getByRole('button', { name: /Add Neon fan/ }).click();
    await page.getByTestId('cart-total').filter({ hasText: '5' }).waitFor();
    await page.locator('#place-order').click();
    const order = page.locator('[data-testid="order"][data-status="pending"]');
    await order.waitFor();
    // A toast while the order waits for payment (the anchor's word in the room).
    await page.evaluate(async () => (await import('/js/ui.js')).toast('The anchor says: only a few left!', 'info', 5000));
    await page.locator('#toasts .toast', { hasText: 'only a few left' }).waitFor();
    await page.waitForTimeout(400);
    await assertToastsClear(page, 'the order panel', order);
    assert.ok((await reachable(page.locator('#pay-order'))).onTop, 'Pay is not covered');
    await shot(page, `fb-order-toast-${label}`);
    await page.locator('#pay-order').click();
    await page.locator('#toasts .toast', { hasText: 'Payment done' }).waitFor();
    await page.waitForTimeout(400);
    await assertToastsClear(page, 'the order panel', page.locator('[data-testid="order"][data-status="paid"]'));
    await shot(page, `fb-order-paid-toast-${label}`);
    assert.deepEqual(viewer.errors, []);
  }
});

// ---------------------------------------------------------------- item 14: End live at 375 px

flow('the anchor\'s End live is visible and uncovered at 375 px and on a desktop, and ends the live', { ...T, skip: missing(server, ...ROOMS) }, async () => {
  for (const [label, viewport] of [['375', PHONE], ['desktop', DESKTOP]]) {
    const anchor = await join({ viewport });
    const viewer = await join({ viewport: PHONE });
    const roomId = await goLive(anchor, `End me at ${label}`);
    await enterRoom(viewer, roomId);
    for (let i = 0; i < 6; i += 1) await sendChat(viewer.page, `message number ${i} to fill the chat a little`);
    await anchor.page.locator('.chat-line', { hasText: 'message number 5' }).waitFor();
    const end = anchor.page.locator('#end-live');
    const seen = await reachable(end);
    assert.ok(seen.inViewport, `End live is inside the ${label} screen: ${JSON.stringify(seen.box)}`);
    assert.ok(seen.onTop, `End live is covered at ${label} by ${seen.hit}`);
    await shot(anchor.page, `fb-end-live-${label}`);
    // A plain tap at its centre, no scrolling, ends the live.
    await anchor.page.mouse.click(seen.box.x + seen.box.width / 2, seen.box.y + seen.box.height / 2);
    await anchor.page.getByRole('button', { name: 'End live' }).last().click();
    await anchor.page.waitForURL(/#\/anchor$/);
    await viewer.page.getByTestId('room-ended').waitFor();
    assert.match(await viewer.page.getByTestId('room-ended').textContent(), /ended this live\. Find another room/);
    assert.deepEqual(anchor.errors, []);
  }
});
