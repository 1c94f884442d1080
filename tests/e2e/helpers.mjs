// Helpers for the browser end-to-end tests: start the real `liveroom` binary
// on port 0 with a temporary SQLite file, find out which API paths it serves,
// launch Debian's Chromium through playwright-core, log people in through the
// UI, collect console errors and save screenshots under target/e2e/.
import { test, after } from 'node:test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../..');
export const SHOTS = path.join(REPO, 'target', 'e2e');
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

/** Where the server binary is: LIVEROOM_BIN, else the cargo target dir's release build. */
export function binaryPath() {
  if (process.env.LIVEROOM_BIN) return process.env.LIVEROOM_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target');
  return path.join(target, 'release', 'liveroom');
}

/**
 * Starts the server. Resolves with {base, has(method, path), stop()} or with
 * {unavailable: reason} when there is no binary or it exits without serving,
 * so the suite can skip with that reason instead of failing or faking.
 */
export async function startServer(extraEnv = {}) {
  const mock = process.env.LIVEROOM_E2E_MOCK === '1';
  const bin = binaryPath();
  if (!mock && !fs.existsSync(bin)) return { unavailable: `no server binary at ${bin} (build it or set LIVEROOM_BIN)` };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'liveroom-e2e-'));
  const env = {
    ...process.env,
    LIVEROOM__SERVER__HOST: '127.0.0.1',
    LIVEROOM__SERVER__PORT: '0',
    LIVEROOM__DATABASE__URL: `sqlite://${path.join(dir, 'e2e.db')}?mode=rwc`,
    LIVEROOM__SERVER__STATIC_DIR: path.join(REPO, 'frontend'),
    LIVEROOM__LIMITS__ENABLED: 'false',
    LIVEROOM__PK__DURATION_S: '10',
    LIVEROOM__RAIN__DURATION_S: '8',
    LIVEROOM__COMMERCE__ORDER_EXPIRY_S: '120',
    RUST_LOG: process.env.RUST_LOG || 'info',
    PK_S: '10', RAIN_S: '8', ORDER_S: '120',
    ...extraEnv,
  };
  const [cmd, args] = mock ? [process.execPath, [path.join(here, 'dev', 'mock-server.mjs')]] : [bin, []];
  const child = spawn(cmd, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(path.join(dir, 'server.log'));
  let out = '';
  const started = new Promise((resolve) => {
    const onData = (chunk) => {
      const text = chunk.toString();
      log.write(text);
      out = (out + text).slice(-20000);
      const m = /listening on (http:\/\/[^\s"',]+?):(\d+)/.exec(out);
      if (m) resolve({ port: Number(m[2]) });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => resolve({ exited: true, code, signal }));
    // unref: once started, this timer must not keep the test process alive.
    setTimeout(() => resolve({ timeout: true }), 60000).unref();
  });
  const res = await started;
  if (res.exited) {
    fs.rmSync(dir, { recursive: true, force: true });
    return { unavailable: `the server exited (code ${res.code}) before listening; last output: ${out.slice(-400).trim() || '(none)'}` };
  }
  if (res.timeout) {
    child.kill('SIGKILL');
    throw new Error(`the server did not log "listening on" within 60 s; output: ${out.slice(-1000)}`);
  }
  const base = `http://127.0.0.1:${res.port}`;
  const paths = await openapiPaths(base);
  return {
    base,
    mock,
    logFile: path.join(dir, 'server.log'),
    /** Whether the server documents `method path` (path as in the contract, `{id}` style). */
    has(method, p) {
      const ops = paths.get(normalise(p));
      return Boolean(ops && (ops.size === 0 || ops.has(method.toLowerCase())));
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([new Promise((r) => child.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      log.end();
      if (!process.env.LIVEROOM_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const normalise = (p) => p.replace(/\{[^}]+\}/g, '{}');

/** The API's documented paths (from /api/openapi.json) with their methods. */
async function openapiPaths(base) {
  const map = new Map();
  try {
    const res = await fetch(`${base}/api/openapi.json`);
    if (!res.ok) return map;
    const doc = await res.json();
    for (const [p, ops] of Object.entries(doc.paths || {})) {
      map.set(normalise(p), new Set(Object.keys(ops || {}).filter((k) => /^(get|post|put|patch|delete)$/.test(k))));
    }
  } catch { /* no OpenAPI yet: every feature test skips */ }
  return map;
}

/** A short reason listing the contract paths a flow needs that the server lacks, or false when all exist. */
export function missing(server, ...needs) {
  if (server.unavailable) return server.unavailable;
  const lacking = needs.filter(([m, p]) => !server.has(m, p)).map(([m, p]) => `${m} ${p}`);
  return lacking.length ? `the server does not serve ${lacking.join(', ')} yet` : false;
}

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

let phoneCounter = Math.floor(Math.random() * 1e6);
/** A fresh phone number for a new user. */
export function freshPhone() {
  phoneCounter += 1;
  return `139${String(Date.now() % 1e4).padStart(4, '0')}${String(phoneCounter % 1e4).padStart(4, '0')}`;
}

/**
 * Opens a browser context at a viewport and logs a person in through the UI.
 * Returns {context, page, errors, token?}. `errors` collects page errors and
 * console errors (network errors of API calls the UI answered in words are
 * kept apart in `apiErrors`).
 */
export async function person(browser, base, { phone = freshPhone(), viewport = DESKTOP, login = true } = {}) {
  const context = await browser.newContext({ viewport, baseURL: base, deviceScaleFactor: 1, reducedMotion: 'no-preference' });
  const page = await context.newPage();
  const errors = [];
  const apiErrors = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = (msg.location() && msg.location().url) || '';
    if (/Failed to load resource/.test(msg.text()) && url.includes('/api/')) apiErrors.push(`${msg.text()} ${url}`);
    else errors.push(`console: ${msg.text()} ${url}`);
  });
  const who = { context, page, errors, apiErrors, phone };
  if (login) await loginThroughUi(page, phone);
  return who;
}

export async function loginThroughUi(page, phone) {
  await visit(page, '/#/login');
  await page.getByLabel('Phone number').fill(phone);
  await page.getByRole('button', { name: 'Send code' }).click();
  await page.getByTestId('dev-code').waitFor();
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(/#\/rooms$/);
  await page.locator('#topbar:not([hidden])').waitFor();
}

/** Calls the API as the person behind `page` (cookie session, same-origin headers). */
export async function apiAs(page, method, p, body) {
  return page.evaluate(async ([m, url, b]) => {
    const res = await fetch(url, { method: m, credentials: 'same-origin', headers: b === undefined ? {} : { 'Content-Type': 'application/json' },
      body: b === undefined ? undefined : JSON.stringify(b) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  }, [method, p, body]);
}

/** Goes to an app route; reloads when already there (a same-hash goto changes nothing). */
export async function visit(page, route) {
  const target = new URL(route, page.url() === 'about:blank' ? 'http://x/' : page.url());
  if (page.url() !== 'about:blank' && new URL(page.url()).hash === target.hash) await page.reload();
  else await page.goto(route);
}

/** Visible controls without an accessible name (label, aria-label or text), described for a message. */
export async function unlabelledControls(page) {
  return page.evaluate(() => {
    const named = (el) => {
      if (el.getAttribute('aria-label')) return true;
      const by = el.getAttribute('aria-labelledby');
      if (by && by.split(' ').some((id) => document.getElementById(id)?.textContent.trim())) return true;
      if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
      if (el.closest('label') && el.closest('label').textContent.trim()) return true;
      if (!['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) && el.textContent.trim()) return true;
      return Boolean(el.getAttribute('title'));
    };
    return [...document.querySelectorAll('button, a[href], input, select, textarea')]
      .filter((el) => el.offsetParent !== null && el.type !== 'hidden' && !named(el))
      .map((el) => el.outerHTML.slice(0, 120));
  });
}

/** Saves a full-page screenshot as target/e2e/<name>.png. */
export async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), animations: 'allow' });
}

/** The anchor opens a room from the console and lands in it. Returns the room id. */
export async function goLive(anchor, title, kind = 'normal') {
  const { page } = anchor;
  await visit(page, '/#/anchor');
  await page.getByLabel('Room title').fill(title);
  if (kind === 'pk') await page.getByText('PK battle').click();
  await page.locator('#open-room').click();
  await page.waitForURL(/#\/room\/\d+$/);
  await page.locator('#conn[data-state="online"]').waitFor();
  return Number(page.url().match(/#\/room\/(\d+)$/)[1]);
}

export async function enterRoom(viewer, roomId) {
  await visit(viewer.page, `/#/room/${roomId}`);
  await viewer.page.locator('#conn[data-state="online"]').waitFor();
}

export async function sendChat(page, text) {
  await page.locator('#chat-input').fill(text);
  await page.locator('#chat-input').press('Enter');
}

/** Recharges through the wallet page, picking the offer with the most coins. */
export async function recharge(who) {
  const { page } = who;
  await visit(page, '/#/wallet');
  await page.locator('#recharge').click();
  const tiles = page.locator('.tile');
  await tiles.first().waitFor();
  const coins = await tiles.evaluateAll((ts) => ts.map((t) => Number(t.querySelector('.tile-coins').textContent.replace(/\D/g, ''))));
  const best = coins.indexOf(Math.max(...coins));
  await tiles.nth(best).click();
  await page.locator('dialog').waitFor({ state: 'detached' });
  await page.locator('.trade[data-kind="recharge"]').first().waitFor();
  return Math.max(...coins);
}

/** Whether two boxes ({x, y, width, height}, as boundingBox gives them) share any area. */
export function overlaps(a, b) {
  if (!a || !b) return false;
  return Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x) > 0.5
    && Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y) > 0.5;
}

/**
 * Where a control is and whether a person can reach it as it is, without scrolling:
 * {box, inViewport, onTop, hit}. `onTop` is true when the element at the box's
 * centre is the control itself or inside it (nothing covers it); `hit` describes
 * what is there otherwise.
 */
export async function reachable(locator) {
  return locator.evaluate((node) => {
    const r = node.getBoundingClientRect();
    const vw = document.documentElement.clientWidth;
    const vh = window.innerHeight;
    const inViewport = r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 && r.right <= vw + 0.5 && r.bottom <= vh + 0.5;
    const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    const onTop = Boolean(at && (at === node || node.contains(at)));
    const hit = at ? `${at.tagName.toLowerCase()}${at.id ? `#${at.id}` : ''}${at.className && typeof at.className === 'string' ? `.${at.className.split(' ').join('.')}` : ''}` : 'nothing';
    return { box: { x: r.left, y: r.top, width: r.width, height: r.height }, inViewport, onTop, hit };
  });
}

/** The visible toasts' words, newest last. */
export async function toastTexts(page) {
  return page.locator('#toasts .toast:not(.toast-out)').evaluateAll((ts) => ts.map((t) => t.textContent));
}

/** The contract paths a flow needs, to skip it (naming them) while the server lacks them. */
export const AUTH = [['POST', '/api/auth/sms'], ['POST', '/api/auth/login'], ['GET', '/api/me']];
export const ROOMS = [...AUTH, ['POST', '/api/rooms'], ['GET', '/api/rooms'], ['GET', '/api/rooms/{id}'], ['GET', '/api/rooms/{id}/im']];
export const WALLET = [['GET', '/api/wallet'], ['GET', '/api/wallet/products'], ['POST', '/api/wallet/recharges'], ['GET', '/api/wallet/trades']];
export const GIFTS = [...ROOMS, ...WALLET, ['GET', '/api/gifts'], ['POST', '/api/rooms/{id}/gifts']];

/**
 * One test file's set-up: its own server (with `env`) and browser, closed after the file's
 * tests. Returns `server`, `flow` (a test whose failure leaves a screenshot of every page it
 * opened under target/e2e/<failPrefix>-*), `join` (a person in a new browser context) and
 * `theAdmin` (logged in once: the same phone may ask for a code only once a minute).
 */
export async function browserSuite(env = {}, { failPrefix = 'failed' } = {}) {
  const server = await startServer(env);
  if (server.unavailable) console.log(`# e2e: skipping every browser test: ${server.unavailable}`);
  else if (server.mock) console.log('# e2e: LIVEROOM_E2E_MOCK=1: running against the dev mock server, NOT the real binary');
  const browser = server.unavailable ? null : await launchBrowser();
  const people = [];
  after(async () => {
    for (const p of people) {
      if (p.errors.length) console.log(`# console errors for ${p.phone}:\n#  ${p.errors.join('\n#  ')}`);
    }
    if (browser) await browser.close();
    if (server.stop) await server.stop();
  });
  function flow(name, opts, fn) {
    test(name, opts, async (t) => {
      const before = people.length;
      try {
        await fn(t);
      } catch (err) {
        for (const [i, p] of people.slice(before).entries()) {
          await shot(p.page, `${failPrefix}-${name.slice(0, 24).replace(/\W+/g, '-')}-${i}`).catch(() => {});
          console.log(`# page ${i} (${p.phone}) at ${p.page.url()}: ${p.errors.join(' | ')}`);
        }
        throw err;
      }
    });
  }
  async function join(opts) {
    const p = await person(browser, server.base, opts);
    people.push(p);
    return p;
  }
  let admin = null;
  async function theAdmin() {
    if (!admin) admin = await join({ phone: '13141150122', viewport: DESKTOP });
    return admin;
  }
  return { server, flow, join, theAdmin };
}
