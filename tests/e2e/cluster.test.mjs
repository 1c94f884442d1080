// The app on three nodes of one cluster (Postgres, Redis, RabbitMQ), each person on a
// different node as a load balancer would spread them: the host anchor on A, the challenger
// on B, a viewer on C. Runs only with LIVEROOM_E2E_CLUSTER=1 (.ci/run sets it), since it needs
// the real servers; each run gets its own database, key prefix and queue prefix.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, launchBrowser, person, shot, visit, goLive, enterRoom, sendChat, recharge, DESKTOP, PHONE } from './helpers.mjs';

const wanted = process.env.LIVEROOM_E2E_CLUSTER === '1';
const db = `e2e_cluster_${Date.now()}`;
const nodes = [];
let skip = wanted ? false : 'set LIVEROOM_E2E_CLUSTER=1 to run it (needs Postgres, Redis and RabbitMQ on their usual ports)';
if (wanted) {
  execFileSync('createdb', ['-h', '127.0.0.1', '-U', 'postgres', db]);
  const env = {
    LIVEROOM__DATABASE__URL: `postgres://postgres@127.0.0.1/${db}`,
    LIVEROOM__REDIS__URL: 'redis://127.0.0.1:6379',
    LIVEROOM__REDIS__PREFIX: `${db}:`,
    LIVEROOM__AMQP__URL: 'amqp://guest:guest@127.0.0.1:5672/%2f',
    LIVEROOM__AMQP__PREFIX: db,
    LIVEROOM__CLUSTER__ENABLED: 'true',
    LIVEROOM__CLUSTER__RENEW_MS: '200',
    LIVEROOM__CLUSTER__EXPIRE_MS: '800',
  };
  for (const id of ['e2e-a', 'e2e-b', 'e2e-c']) {
    const n = await startServer({ ...env, LIVEROOM__CLUSTER__NODE_ID: id });
    nodes.push(n);
    if (n.unavailable) skip = n.unavailable;
  }
}
const browser = wanted && !skip ? await launchBrowser() : null;
const people = [];

after(async () => {
  for (const p of people) {
    if (p.errors.length) console.log(`# console errors for ${p.phone}:\n#  ${p.errors.join('\n#  ')}`);
  }
  if (browser) await browser.close();
  for (const n of nodes) if (n.stop) await n.stop();
  if (wanted) execFileSync('dropdb', ['-h', '127.0.0.1', '-U', 'postgres', '--if-exists', db]);
});

async function on(node, opts) {
  const p = await person(browser, nodes[node].base, opts);
  people.push(p);
  return p;
}

test('three nodes: chat and a PK between anchors on two nodes reach a viewer on the third', { timeout: 120000, skip }, async () => {
  // Every node lists the three.
  for (const n of nodes) {
    for (let i = 0; ; i += 1) {
      const h = await (await fetch(`${n.base}/api/health`)).json();
      if (h.cluster && h.cluster.nodes.length === 3) break;
      assert.ok(i < 100, `a node sees ${JSON.stringify(h.cluster)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const host = await on(0, { viewport: DESKTOP });
  const challenger = await on(1, { viewport: DESKTOP });
  const viewer = await on(2, { viewport: PHONE });
  const roomId = await goLive(host, 'PK across nodes', 'pk');
  const ownRoomId = await goLive(challenger, 'Live from node B');
  await recharge(viewer);
  await enterRoom(viewer, roomId);

  // Chat both ways between node A and node C, in one order on both screens.
  await sendChat(viewer.page, 'hello from node C');
  await host.page.locator('.chat-line', { hasText: 'hello from node C' }).waitFor();
  await sendChat(host.page, 'welcome, node C');
  await viewer.page.locator('.chat-line', { hasText: 'welcome, node C' }).waitFor();
  const order = (page) => page.locator('.chat-line').evaluateAll((ls) => ls
    .map((l) => (l.textContent.match(/hello from node C|welcome, node C/) || [])[0]).filter(Boolean));
  assert.deepEqual(await order(viewer.page), await order(host.page));

  // The anchor on node B challenges the host on node A; the viewer on node C sees it start.
  await visit(challenger.page, '/#/anchor');
  await challenger.page.getByRole('button', { name: /Challenge/ }).first().click();
  // The challenger stays in their own room (homed wherever), which shows the same battle.
  await challenger.page.waitForURL(new RegExp(`#/room/${ownRoomId}$`));
  await challenger.page.locator('[data-testid="pk"][data-status="running"]').waitFor();
  await viewer.page.locator('[data-testid="pk"][data-status="running"]').waitFor();
  await host.page.locator('[data-testid="pk"][data-status="running"]').waitFor();

  // 99 gifts from node C to the host move the bar on node A's and node B's screens too.
  await viewer.page.locator('#gift-btn').click();
  await viewer.page.locator('.gift-item').first().click();
  await viewer.page.locator('#gift-count').selectOption('99');
  await viewer.page.locator('input[name="gift-to"]:checked').waitFor({ state: 'attached' });
  await viewer.page.locator('#gift-send').click();
  for (const who of [host, challenger, viewer]) {
    await who.page.waitForFunction(() => Number(document.querySelector('[data-testid="pk"]').dataset.score) > 50);
  }
  await viewer.page.locator('#gift-sheet .icon-btn').click();
  // The coins counted for the host read the same on every node.
  await host.page.getByTestId('pk-host-coins').filter({ hasText: /🪙 [1-9]/ }).waitFor();
  const coins = await host.page.getByTestId('pk-host-coins').textContent();
  for (const who of [challenger, viewer]) await who.page.getByTestId('pk-host-coins').filter({ hasText: coins }).waitFor();
  await shot(host.page, 'cluster-pk-host-node-a-desktop');
  await shot(viewer.page, 'cluster-pk-viewer-node-c-375');
  for (const who of [host, challenger, viewer]) assert.deepEqual(who.errors, []);
});
