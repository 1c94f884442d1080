#!/usr/bin/env node
// Dev-only stand-in for the Liveroom binary, written from shared/API.md so the
// frontend can be developed and its screenshots checked before the Rust server
// has every endpoint. In-memory, single process, no persistence, few checks.
// The e2e suite runs against the real binary; it uses this mock only when
// LIVEROOM_E2E_MOCK=1 is set by hand, and then says so in its output.
//
// usage: node tests/e2e/dev/mock-server.mjs [port]   (env STATIC_DIR, PK_S, RAIN_S, ORDER_S)
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { acceptUpgrade } from './ws-lite.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const STATIC = process.env.STATIC_DIR || path.resolve(here, '../../../frontend');
const PK_S = Number(process.env.PK_S || 300);
const RAIN_S = Number(process.env.RAIN_S || 30);
const ORDER_S = Number(process.env.ORDER_S || 900);
const CSP = "default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:";
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png' };

let nextId = 100;
const id = () => ++nextId;
const now = () => new Date().toISOString();
const users = new Map(); const byPhone = new Map(); const tokens = new Map();
const rooms = new Map(); const tickets = new Map(); const trades = [];
const apps = new Map(); const products = new Map(); const orders = new Map(); const carts = new Map();
const GIFTS = [
  { id: 1, name: 'Rose', price: 1, effect: 'rose' }, { id: 2, name: 'Heart', price: 10, effect: 'heart' },
  { id: 3, name: 'Crown', price: 99, effect: 'crown' }, { id: 4, name: 'Sports car', price: 520, effect: 'car' },
  { id: 5, name: 'Rocket', price: 1314, effect: 'rocket' }, { id: 6, name: 'Castle', price: 2999, effect: 'castle' }];
const WPRODUCTS = [{ id: 1, name: 'Starter', coins: 60, price_cents: 600 }, { id: 2, name: 'Popular', coins: 300, price_cents: 3000 },
  { id: 3, name: 'Big fan', coins: 980, price_cents: 9800 }, { id: 4, name: 'Whale', coins: 6480, price_cents: 64800 }];

class HttpError extends Error { constructor(s, c, m, f) { super(m); this.s = s; this.c = c; this.f = f; } }
const fail = (s, c, m, f) => { throw new HttpError(s, c, m, f); };
const pub = (u) => ({ id: u.id, nickname: u.nickname, avatar: u.avatar });
const userJson = (u) => ({ id: u.id, nickname: u.nickname, avatar: u.avatar, phone: `${u.phone.slice(0, 3)}****${u.phone.slice(7)}`,
  roles: u.admin ? ['user', 'admin'] : ['user'], balance: u.balance, privileges: { red_packet: false, commerce: false } });
const roomJson = (r) => ({ id: r.id, title: r.title, kind: r.kind, status: r.status, anchor: pub(users.get(r.anchor)), online: online(r), started_at: r.started_at });
const online = (r) => new Set([...r.socks].map((s) => s.user.id)).size;
const page = (items, q) => { const p = Number(q.get('page') || 1); const n = Number(q.get('page_size') || 20);
  return { items: items.slice((p - 1) * n, p * n), page: p, page_size: n, total: items.length }; };

function trade(u, kind, amount) {
  if (u.balance + amount < 0) fail(402, 'insufficient_balance', 'Not enough coins: recharge first.');
  u.balance += amount;
  trades.push({ user: u.id, id: id(), kind, amount, balance_after: u.balance, at: now() });
  pushTo(u.id, null);
}

function emit(r, type, data, keep = true) {
  const f = { type, data };
  if (keep) { f.seq = ++r.seq; r.history.push(f); if (r.history.length > 256) r.history.shift(); }
  const text = JSON.stringify(f);
  r.socks.forEach((s) => s.conn.send(text));
}
function pushTo(userId, frame) { if (!frame) return; for (const r of rooms.values()) r.socks.forEach((s) => { if (s.user.id === userId) s.conn.send(JSON.stringify(frame)); }); }
let noticeId = 1;
const notice = (userId, kind, extra) => pushTo(userId, { type: 'notice', data: { id: noticeId++, kind, ...extra } });
const pkJson = (r) => r.pk && { ...r.pk, host: pub(users.get(r.pk.host)), challenger: r.pk.challenger ? pub(users.get(r.pk.challenger)) : null };
setInterval(() => { for (const r of rooms.values()) if (r.status === 'live' && r.socks.size) emit(r, 'online', { count: online(r) }, false); }, 2000);

function endPk(r, winner) {
  if (!r.pk || r.pk.status !== 'running') return;
  clearTimeout(r.pkTimer);
  if (winner === undefined) winner = r.pk.score > 50 ? r.pk.host : r.pk.score < 50 ? r.pk.challenger : null;
  Object.assign(r.pk, { status: 'ended', winner });
  emit(r, 'pk_ended', { pk: pkJson(r), winner });
}
function endRain(r) {
  const rain = r.rain; if (!rain || rain.status !== 'running') return;
  rain.status = 'ended';
  const grabbed = rain.amounts.length - rain.left; const coins = rain.total_coins - rain.amounts.slice(grabbed).reduce((a, b) => a + b, 0);
  const refund = rain.total_coins - coins; if (refund) trade(users.get(r.anchor), 'rain_refund', refund);
  emit(r, 'rain_ended', { rain_id: rain.id, handed_out: grabbed, coins, refunded: refund });
}
const rainJson = (rain) => ({ id: rain.id, room_id: rain.room_id, status: rain.status, total_coins: rain.total_coins, packets: rain.packets, left: rain.left, ends_at: rain.ends_at });
const roomProducts = (r) => [...products.values()].filter((p) => p.anchor_id === r.anchor && p.status === 'approved');
const cartJson = (key) => { const items = (carts.get(key) || []).map((c) => { const p = products.get(c.product_id); return { product_id: p.id, name: p.name, price: p.price, count: c.count }; });
  return { items, total: items.reduce((a, i) => a + i.price * i.count, 0) }; };

async function handle(req, res, url, body, user) {
  const m = req.method; const p = url.pathname; const q = url.searchParams; let mm;
  const need = () => user || fail(401, 'unauthorized', 'Please log in.');
  const room = (rid) => rooms.get(Number(rid)) || fail(404, 'not_found', 'This room does not exist.');
  const anchorOf = (r) => { need(); if (r.anchor !== user.id && !user.admin) fail(403, 'forbidden', 'Only the anchor can do that.'); };
  const adminOnly = () => { need(); if (!user.admin) fail(403, 'forbidden', 'Admins only.'); };
  if (m === 'POST' && p === '/api/auth/sms') { if (!/^1\d{10}$/.test(body.phone || '')) fail(400, 'invalid_input', 'Enter an 11-digit phone number starting with 1.', 'phone'); return [200, { sent: true, expires_in: 300, dev_code: '1000' }]; }
  if (m === 'POST' && p === '/api/auth/login') {
    if (body.code !== '1000') fail(401, 'invalid_code', 'That code is wrong or has expired.', 'code');
    let u = byPhone.get(body.phone);
    if (!u) { u = { id: id(), phone: body.phone, nickname: `user${body.phone.slice(-4)}`, avatar: '', balance: 0, admin: body.phone === '13141150122' }; users.set(u.id, u); byPhone.set(u.phone, u); }
    const token = randomUUID(); tokens.set(token, u.id);
    res.setHeader('Set-Cookie', `session=${token}; Path=/; HttpOnly; SameSite=Lax`);
    return [200, { token, user: userJson(u) }];
  }
  if (m === 'GET' && p === '/api/gifts') return [200, GIFTS];
  if (m === 'GET' && p === '/api/health') return [200, { status: 'ok', backends: {} }];
  if (m === 'GET' && p === '/api/openapi.json') return [200, { openapi: '3.0.0', paths: Object.fromEntries(PATHS.map((x) => [x, {}])) }];
  need();
  if (m === 'POST' && p === '/api/auth/logout') { tokens.forEach((v, k) => { if (v === user.id) tokens.delete(k); }); return [204]; }
  if (m === 'GET' && p === '/api/me') return [200, userJson(user)];
  if (m === 'PATCH' && p === '/api/me') { if (body.nickname) user.nickname = body.nickname; return [200, userJson(user)]; }
  if (m === 'GET' && p === '/api/rooms') { const k = q.get('kind'); return [200, page([...rooms.values()].filter((r) => r.status === 'live' && (!k || r.kind === k)).reverse().map(roomJson), q)]; }
  if (m === 'POST' && p === '/api/rooms') {
    if (!body.title || body.title.length > 60) fail(400, 'invalid_input', 'The title needs 1 to 60 characters.', 'title');
    if ([...rooms.values()].some((r) => r.anchor === user.id && r.status === 'live')) fail(409, 'already_live', 'You already have a live room.');
    const r = { id: id(), title: body.title, kind: body.kind === 'pk' ? 'pk' : 'normal', status: 'live', anchor: user.id, started_at: now(), socks: new Set(), seq: 0, history: [], likes: 0, slow: 0, ranking: new Map(), muted: new Map(), bans: new Set() };
    if (r.kind === 'pk') r.pk = { id: id(), host: user.id, challenger: null, status: 'waiting', score: 50, ends_at: null, winner: null };
    rooms.set(r.id, r); return [201, roomJson(r)];
  }
  if ((mm = p.match(/^\/api\/rooms\/(\d+)$/))) {
    const r = room(mm[1]);
    if (m === 'GET') return [200, { ...roomJson(r), pk: pkJson(r) || undefined, rain: r.rain ? rainJson(r.rain) : undefined, products: { items: roomProducts(r) } }];
    if (m === 'DELETE') { anchorOf(r); r.status = 'closed'; endPk(r); endRain(r); emit(r, 'room_closed', {}); r.socks.forEach((s) => s.conn.close(4004)); return [204]; }
  }
  if ((mm = p.match(/^\/api\/rooms\/(\d+)\/(.+)$/))) {
    const r = room(mm[1]); const rest = mm[2];
    if (rest === 'im' && m === 'GET') {
      if (r.status !== 'live') fail(409, 'room_closed', 'This live has ended.');
      if (r.bans.has(user.id)) fail(403, 'forbidden', 'You are banned from this room.');
      const t = randomUUID(); tickets.set(t, { user: user.id, room: r.id });
      return [200, { url: `ws://${req.headers.host}/ws?ticket=${t}`, ticket: t, expires_in: 30 }];
    }
    if (rest === 'gifts' && m === 'POST') {
      const g = GIFTS.find((x) => x.id === body.gift_id) || fail(404, 'not_found', 'No such gift.');
      const count = body.count || 1; trade(user, 'gift', -g.price * count);
      r.ranking.set(user.id, (r.ranking.get(user.id) || 0) + g.price * count);
      emit(r, 'gift', { from: { id: user.id, nickname: user.nickname }, to: body.to || r.anchor, gift: g, count });
      if (r.pk && r.pk.status === 'running') {
        const d = Math.floor((g.price * count) / 10) * ((body.to || r.pk.host) === r.pk.challenger ? -1 : 1);
        r.pk.score = Math.max(0, Math.min(100, r.pk.score + d));
        emit(r, 'pk_progress', { pk: pkJson(r) });
        if (r.pk.score === 100) endPk(r, r.pk.host); else if (r.pk.score === 0) endPk(r, r.pk.challenger);
      }
      return [200, { balance: user.balance, trade_id: trades.at(-1).id }];
    }
    if (rest === 'ranking') return [200, [...r.ranking].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([u, coins]) => ({ user: { id: u, nickname: users.get(u).nickname }, coins }))];
    if (rest === 'mutes' && m === 'POST') { anchorOf(r); const until = new Date(Date.now() + body.seconds * 1000).toISOString(); r.muted.set(body.user_id, until); emit(r, 'muted', { user_id: body.user_id, until }); return [200, {}]; }
    if ((mm = rest.match(/^mutes\/(\d+)$/)) && m === 'DELETE') { anchorOf(r); r.muted.delete(Number(mm[1])); return [204]; }
    if (rest === 'kicks' && m === 'POST') { anchorOf(r); if (body.ban) r.bans.add(body.user_id); r.socks.forEach((s) => { if (s.user.id === body.user_id) s.conn.close(4003); }); return [200, {}]; }
    if (rest === 'slow-mode' && m === 'PUT') { anchorOf(r); r.slow = body.seconds; emit(r, 'slow_mode', { seconds: r.slow }); return [200, {}]; }
    if ((mm = rest.match(/^messages\/(\d+)$/)) && m === 'DELETE') { anchorOf(r); emit(r, 'chat_deleted', { seq: Number(mm[1]) }); return [204]; }
    if (rest === 'pk' && m === 'GET') return r.pk ? [200, pkJson(r)] : fail(404, 'not_found', 'Not a PK room.');
    if (rest === 'pk/join' && m === 'POST') {
      if (r.kind !== 'pk') fail(409, 'not_pk_room', 'This is not a PK room.');
      if (r.anchor === user.id) fail(403, 'forbidden', 'You cannot challenge your own room.');
      if (![...rooms.values()].some((x) => x.anchor === user.id && x.status === 'live')) fail(403, 'forbidden', 'Go live in a room of your own first.');
      if (r.pk.status === 'running') fail(409, 'pk_busy', 'Someone already joined this PK.');
      Object.assign(r.pk, { challenger: user.id, status: 'running', score: 50, winner: null, ends_at: new Date(Date.now() + PK_S * 1000).toISOString() });
      r.pkTimer = setTimeout(() => endPk(r), PK_S * 1000);
      emit(r, 'pk_started', { pk: pkJson(r) }); return [200, pkJson(r)];
    }
    if (rest === 'pk/leave' && m === 'POST') { endPk(r, user.id === r.pk.host ? r.pk.challenger : r.pk.host); return [200, pkJson(r)]; }
    if (rest === 'rain/prepare' && m === 'POST') {
      anchorOf(r);
      const a = [...apps.values()].find((x) => x.anchor_id === user.id && x.status === 'approved') || fail(403, 'no_privilege', 'You need an approved red-packet application first.');
      trade(user, 'rain_fund', -a.total_coins); a.status = 'used';
      const amounts = []; let left = a.total_coins;
      for (let i = a.packets; i > 0; i -= 1) { const v = i === 1 ? left : Math.max(1, Math.floor(Math.random() * ((2 * left) / i - 1)) + 1); amounts.push(Math.min(v, left - (i - 1))); left -= amounts.at(-1); }
      r.rain = { id: id(), room_id: r.id, status: 'prepared', total_coins: a.total_coins, packets: a.packets, left: a.packets, ends_at: null, amounts };
      return [200, rainJson(r.rain)];
    }
    if (rest === 'rain/start' && m === 'POST') {
      anchorOf(r); if (!r.rain || r.rain.status !== 'prepared') fail(409, 'not_prepared', 'Prepare a rain first.');
      Object.assign(r.rain, { status: 'running', ends_at: new Date(Date.now() + RAIN_S * 1000).toISOString() });
      setTimeout(() => endRain(r), RAIN_S * 1000);
      emit(r, 'rain_started', { rain_id: r.rain.id, ends_at: r.rain.ends_at, packets: r.rain.packets }); return [200, rainJson(r.rain)];
    }
    if (rest === 'rain/grab' && m === 'POST') {
      if (!r.rain || r.rain.status !== 'running') fail(409, 'rain_not_running', 'No rain is falling right now.');
      if (!r.rain.left) fail(409, 'rain_empty', 'All packets are gone.');
      const amount = r.rain.amounts[r.rain.packets - r.rain.left]; r.rain.left -= 1; trade(user, 'red_packet', amount);
      return [200, { amount, balance: user.balance }];
    }
    if (rest === 'products' && m === 'GET') return [200, { items: roomProducts(r) }];
    const key = `${r.id}:${user.id}`;
    if (rest === 'cart' && m === 'GET') return [200, cartJson(key)];
    if (rest === 'cart/items' && m === 'POST') { const c = carts.get(key) || []; const it = c.find((x) => x.product_id === body.product_id); if (it) it.count += body.count; else c.push({ product_id: body.product_id, count: body.count }); carts.set(key, c); return [200, cartJson(key)]; }
    if ((mm = rest.match(/^cart\/items\/(\d+)$/)) && m === 'DELETE') { carts.set(key, (carts.get(key) || []).filter((x) => x.product_id !== Number(mm[1]))); return [200, cartJson(key)]; }
    if (rest === 'orders' && m === 'POST') {
      const c = carts.get(key) || []; if (!c.length) fail(409, 'cart_empty', 'Your cart is empty.');
      const items = c.map((it) => { const pr = products.get(it.product_id); const ok = pr.left >= it.count; if (ok) { pr.left -= it.count; emit(r, 'stock', { product_id: pr.id, left: pr.left }); } return { product_id: pr.id, count: it.count, price: pr.price, reserved: ok }; });
      if (!items.some((i) => i.reserved)) fail(409, 'sold_out', 'Sold out.');
      carts.set(key, c.filter((it) => !items.find((i) => i.product_id === it.product_id).reserved));
      const o = { id: id(), user: user.id, status: 'pending', items, total: items.filter((i) => i.reserved).reduce((a, i) => a + i.price * i.count, 0), expires_at: new Date(Date.now() + ORDER_S * 1000).toISOString() };
      orders.set(o.id, o);
      setTimeout(() => { if (o.status === 'pending') { o.status = 'expired'; o.items.forEach((i) => { if (i.reserved) { const pr = products.get(i.product_id); pr.left += i.count; emit(r, 'stock', { product_id: pr.id, left: pr.left }); } }); notice(o.user, 'order_expired', { order_id: o.id }); } }, ORDER_S * 1000);
      const { user: _u, ...oj } = o; return [201, oj];
    }
  }
  if (m === 'GET' && p === '/api/wallet') return [200, { balance: user.balance }];
  if (m === 'GET' && p === '/api/wallet/products') return [200, WPRODUCTS];
  if (m === 'POST' && p === '/api/wallet/recharges') { const wp = WPRODUCTS.find((x) => x.id === body.product_id) || fail(404, 'not_found', 'No such offer.'); trade(user, 'recharge', wp.coins); return [201, { recharge_id: id(), coins: wp.coins, balance: user.balance, status: 'paid' }]; }
  if (m === 'GET' && p === '/api/wallet/trades') return [200, page(trades.filter((t) => t.user === user.id).reverse().map(({ user: _u, ...t }) => t), q)];
  if (m === 'POST' && p === '/api/red-packet/applications') { const a = { id: id(), anchor_id: user.id, total_coins: body.total_coins, packets: body.packets, status: 'pending', created_at: now() }; apps.set(a.id, a); return [201, a]; }
  if (m === 'GET' && p === '/api/admin/red-packet/applications') { adminOnly(); return [200, page([...apps.values()].filter((a) => !q.get('status') || a.status === q.get('status')), q)]; }
  if ((mm = p.match(/^\/api\/admin\/red-packet\/applications\/(\d+)\/(approve|reject)$/))) { adminOnly(); const a = apps.get(Number(mm[1])) || fail(404, 'not_found', 'No such application.'); a.status = mm[2] === 'approve' ? 'approved' : 'rejected'; return [200, a]; }
  if (m === 'POST' && p === '/api/products') { const pr = { id: id(), anchor_id: user.id, name: body.name, price: body.price, stock: body.stock, left: body.stock, status: 'pending' }; products.set(pr.id, pr); return [201, pr]; }
  if (m === 'GET' && p === '/api/admin/products') { adminOnly(); return [200, page([...products.values()].filter((x) => !q.get('status') || x.status === q.get('status')), q)]; }
  if ((mm = p.match(/^\/api\/admin\/products\/(\d+)\/(approve|reject)$/))) {
    adminOnly(); const pr = products.get(Number(mm[1])) || fail(404, 'not_found', 'No such product.'); pr.status = mm[2] === 'approve' ? 'approved' : 'rejected';
    for (const r of rooms.values()) if (r.anchor === pr.anchor_id && r.status === 'live') emit(r, 'products', { items: roomProducts(r) });
    return [200, pr];
  }
  if ((mm = p.match(/^\/api\/orders\/(\d+)\/pay$/))) {
    const o = orders.get(Number(mm[1])); if (!o || o.user !== user.id) fail(404, 'not_found', 'No such order.');
    if (o.status === 'expired') fail(410, 'expired', 'This order expired.'); if (o.status !== 'pending') fail(409, 'not_pending', 'This order is not waiting for payment.');
    trade(user, 'order', -o.total); o.status = 'paid'; notice(user.id, 'order_paid', { order_id: o.id }); const { user: _u, ...oj } = o; return [200, oj];
  }
  fail(404, 'not_found', `No route ${m} ${p}`);
  return null;
}
const PATHS = ['/api/auth/sms', '/api/auth/login', '/api/auth/logout', '/api/me', '/api/rooms', '/api/rooms/{id}', '/api/rooms/{id}/im', '/api/wallet', '/api/wallet/products', '/api/wallet/recharges', '/api/wallet/trades', '/api/gifts', '/api/rooms/{id}/gifts', '/api/rooms/{id}/ranking', '/api/rooms/{id}/mutes', '/api/rooms/{id}/kicks', '/api/rooms/{id}/slow-mode', '/api/rooms/{id}/messages/{seq}', '/api/rooms/{id}/pk/join', '/api/rooms/{id}/pk', '/api/red-packet/applications', '/api/admin/red-packet/applications', '/api/admin/red-packet/applications/{id}/approve', '/api/rooms/{id}/rain/prepare', '/api/rooms/{id}/rain/start', '/api/rooms/{id}/rain/grab', '/api/products', '/api/admin/products', '/api/admin/products/{id}/approve', '/api/rooms/{id}/products', '/api/rooms/{id}/cart', '/api/rooms/{id}/cart/items', '/api/rooms/{id}/orders', '/api/orders/{id}/pay'];

const server = http.createServer((req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (!url.pathname.startsWith('/api/')) {
    const file = path.join(STATIC, url.pathname === '/' ? 'index.html' : path.normalize(url.pathname));
    if (!file.startsWith(STATIC) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) { res.writeHead(404); res.end('not found'); return; }
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream', 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' });
    fs.createReadStream(file).pipe(res); return;
  }
  let raw = '';
  req.on('data', (d) => { raw += d; });
  req.on('end', async () => {
    const token = (req.headers.authorization || '').replace(/^Bearer /, '') || (/(?:^|;\s*)session=([^;]+)/.exec(req.headers.cookie || '') || [])[1];
    const user = users.get(tokens.get(token));
    try {
      let body = {}; if (raw) { try { body = JSON.parse(raw); } catch { fail(400, 'invalid_input', 'The request body is not valid JSON.'); } }
      const [status, json] = await handle(req, res, url, body, user);
      res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(json === undefined ? '' : JSON.stringify(json));
    } catch (e) {
      if (!(e instanceof HttpError)) { console.error(e); e = new HttpError(500, 'internal', 'Something went wrong.'); }
      res.writeHead(e.s, { 'Content-Type': 'application/json' }); res.end(JSON.stringify({ error: { code: e.c, message: e.message, field: e.f } }));
    }
  });
});

server.on('upgrade', (req, socket) => {
  const t = new URL(req.url, 'http://x').searchParams.get('ticket'); const tk = tickets.get(t); tickets.delete(t);
  if (!tk) { socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n'); return; }
  const conn = acceptUpgrade(req, socket); const r = rooms.get(tk.room); const user = users.get(tk.user);
  const s = { conn, user, lastChat: 0 }; r.socks.add(s);
  conn.send(JSON.stringify({ type: 'welcome', data: { room: roomJson(r), you: userJson(user), online: online(r), last_seq: r.seq, recent: r.history.filter((f) => f.type === 'chat').slice(-50), slow_mode: r.slow, pk: pkJson(r) || undefined, rain: r.rain ? rainJson(r.rain) : undefined } }));
  emit(r, 'online', { count: online(r) }, false);
  conn.on('message', (text) => {
    let f; try { f = JSON.parse(text); } catch { conn.send(JSON.stringify({ type: 'error', data: { code: 'invalid_frame', message: 'Not JSON.' } })); return; }
    const d = f.data || {};
    if (f.type === 'ping') conn.send('{"type":"pong"}');
    else if (f.type === 'chat') {
      const until = r.muted.get(user.id);
      if (until && new Date(until) > new Date()) { conn.send(JSON.stringify({ type: 'error', data: { code: 'muted', message: 'You are muted in this room.' } })); return; }
      if (r.slow && user.id !== r.anchor && Date.now() - s.lastChat < r.slow * 1000) { conn.send(JSON.stringify({ type: 'error', data: { code: 'slow_mode', message: `Slow mode: wait ${r.slow} s between messages.`, retry_after: r.slow } })); return; }
      s.lastChat = Date.now();
      emit(r, 'chat', { from: { id: user.id, nickname: user.nickname }, text: String(d.text).trim().slice(0, 200), at: now() });
    } else if (f.type === 'like') { r.likes += d.count || 1; emit(r, 'likes', { total: r.likes }, false); }
    else if (f.type === 'resume') { r.history.filter((h) => h.seq > d.last_seq).forEach((h) => conn.send(JSON.stringify(h))); }
    else if (f.type === 'ack') { /* acknowledged */ }
    else conn.send(JSON.stringify({ type: 'error', data: { code: 'invalid_frame', message: 'Unknown frame type.' } }));
  });
  conn.on('close', () => { r.socks.delete(s); emit(r, 'online', { count: online(r) }, false); });
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
