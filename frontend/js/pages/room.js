//! Room page: the stage placeholder with the title, anchor and online count,
//! and every live widget (chat, likes, gifts, ranking, PK, rain, shop) fed
//! by the room's WebSocket. The anchor also gets the room's tools.

import { get, post, del, findMyRoom } from '../api.js';
import { me, setBalance, refreshBalance } from '../session.js';
import { el, mount, toast, avatar, fmtCount, busy, confirmDialog, fmtCoins, errorSentence, sentenceCase } from '../ui.js';
import { RoomSocket } from '../ws.js';
import { setConnection } from '../app.js';
import { coverStyle } from './rooms.js';
import { createChat } from '../widgets/chat.js';
import { createLikes } from '../widgets/likes.js';
import { createGiftBar, createGiftLayer, giftIcon } from '../widgets/gifts.js';
import { createRanking } from '../widgets/ranking.js';
import { createPkBar } from '../widgets/pk.js';
import { createRain } from '../widgets/rain.js';
import { createShop } from '../widgets/shop.js';

const CHAT_ERRORS = new Set(['muted', 'slow_mode', 'rate_limited', 'invalid_input']);

/**
 * The room could not be opened. A room that does not exist offers only the way
 * back to the list; a network or server problem also offers to try again.
 */
function roomProblem(err) {
  const gone = err && (err.status === 404 || err.code === 'not_found');
  const retry = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
  return el('div.page-error', { role: 'alert', 'data-testid': 'room-problem' },
    el('div.empty-icon', { 'aria-hidden': 'true' }, gone ? '📭' : '📡'),
    el('h2', gone ? 'Room not found' : 'This room could not be opened'),
    el('p', errorSentence(err, 'room')),
    el('div.row.center',
      gone ? null : el('button.btn.btn-secondary', { type: 'button', onclick: retry }, 'Try again'),
      el('a.btn.btn-primary', { href: '#/rooms' }, 'Back to rooms')));
}

export async function render(main, [idText]) {
  const roomId = Number(idText);
  let room;
  try {
    room = await get(`/api/rooms/${roomId}`);
  } catch (err) {
    if (err.status === 401) throw err; // the app sends the person to log in
    main.append(roomProblem(err));
    return undefined;
  }
  const user = me();
  const isAnchor = user && room.anchor && room.anchor.id === user.id;
  let socket = null;

  // ---- widgets ----
  const send = (type, data) => (socket ? socket.send(type, data) : false);
  const chat = createChat({ roomId, me: user, isAnchor, send });
  chat.setAnchor(room.anchor.id);
  const likes = createLikes({ send });
  const giftLayer = createGiftLayer();
  const pk = createPkBar();
  const giftBar = createGiftBar({ roomId, anchorId: room.anchor && room.anchor.id, getTargets: () => { const t = pk.targets(); return t.length ? t : [room.anchor]; } });
  const ranking = createRanking({ roomId, me: user });
  const rain = createRain({ roomId, onChange: (on) => { if (on) page.dataset.rain = 'on'; else delete page.dataset.rain; } });
  const shop = createShop({ roomId });

  // ---- stage ----
  const onlineNode = el('span', { 'data-testid': 'online' }, fmtCount(room.online));
  const titleNode = el('h1.stage-title', { 'data-testid': 'room-title' }, room.title);
  const connBanner = el('div.conn-banner', { role: 'status', 'aria-live': 'polite', hidden: true });
  const ended = el('div.ended-overlay', { hidden: true, role: 'alert', 'data-testid': 'room-ended' });
  const challengeBtn = el('button.btn.btn-pk.btn-sm', { type: 'button', hidden: true, id: 'pk-join' }, '⚔ Join as challenger');
  // Only an anchor with a live room of their own may challenge: looked up once, when a PK waits.
  let myRoom;
  const ownRoom = () => { if (myRoom === undefined) myRoom = user ? findMyRoom(user.id).catch(() => null) : Promise.resolve(null); return myRoom; };
  challengeBtn.addEventListener('click', () => busy(challengeBtn, async () => {
    pk.update(await post(`/api/rooms/${roomId}/pk/join`));
    toast('You joined the PK. Fight!', 'success');
    // The challenger goes back to host their own room, where the battle shows too.
    const mine = await ownRoom();
    if (mine) location.hash = `#/room/${mine.id}`;
  }));
  const stage = el('div.stage', { style: coverStyle(room.id) },
    el('div.stage-fx', { 'aria-hidden': 'true' }, el('span.blob.b1'), el('span.blob.b2'), el('span.blob.b3')),
    el('div.stage-placeholder', { 'aria-hidden': 'true' }, el('span.cam', '🎥'), el('span', 'Live video plays here')),
    el('header.stage-top',
      el('div.anchor-chip', avatar(room.anchor, 'md'),
        el('div.anchor-text', titleNode, el('p.anchor-name', { 'data-testid': 'anchor-name' }, room.anchor.nickname))),
      el('div.stage-stats',
        el('span.stat.online', { title: 'Watching now' }, el('span.live-dot', { 'aria-hidden': 'true' }), onlineNode,
          el('span.sr-only', ' watching')),
        likes.stat),
      el('a.icon-btn.leave', { href: '#/rooms', 'aria-label': 'Leave room' }, '✕')),
    // Hidden until a PK shows: in a PK room, and in the challenger's own room during a battle.
    pk.node,
    room.kind === 'pk' ? challengeBtn : null,
    giftLayer.node, likes.layer, rain.node, connBanner, ended);

  // ---- side panel: chat and ranking ----
  const tabChat = el('button.tab', { type: 'button', role: 'tab', 'aria-selected': 'true', id: 'tab-chat', 'aria-controls': 'panel-chat' }, 'Chat');
  const tabRank = el('button.tab', { type: 'button', role: 'tab', 'aria-selected': 'false', id: 'tab-rank', 'aria-controls': 'panel-rank', tabIndex: -1 }, '🏆 Top gifters');
  const panelChat = el('div.panel', { role: 'tabpanel', id: 'panel-chat', 'aria-labelledby': 'tab-chat' }, chat.node);
  const panelRank = el('div.panel', { role: 'tabpanel', id: 'panel-rank', 'aria-labelledby': 'tab-rank', hidden: true }, ranking.node);
  const showTab = (rank) => {
    tabChat.setAttribute('aria-selected', String(!rank)); tabRank.setAttribute('aria-selected', String(rank));
    tabChat.tabIndex = rank ? -1 : 0; tabRank.tabIndex = rank ? 0 : -1;
    panelChat.hidden = rank; panelRank.hidden = !rank;
    if (rank) ranking.load();
  };
  tabChat.addEventListener('click', () => showTab(false));
  tabRank.addEventListener('click', () => showTab(true));
  const tabs = el('div.tabs.side-tabs', { role: 'tablist', 'aria-label': 'Room panels' }, tabChat, tabRank);
  tabs.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    const rank = tabChat.getAttribute('aria-selected') === 'true';
    showTab(rank); (rank ? tabRank : tabChat).focus();
  });

  const giftBtn = el('button.round-btn.gift-btn', { type: 'button', 'aria-label': 'Gifts', id: 'gift-btn', 'aria-controls': 'gift-sheet',
    onclick: () => { shop.close(); giftBar.toggle(); } }, el('span', { 'aria-hidden': 'true' }, '🎁'));
  const shopBtn = el('button.round-btn.shop-btn', { type: 'button', 'aria-label': 'Shop', id: 'shop-btn', 'aria-controls': 'shop-sheet',
    onclick: () => { giftBar.close(); shop.toggle(); } }, el('span', { 'aria-hidden': 'true' }, '🛍'), shop.badge);
  const controls = el('div.room-controls', chat.form, el('div.round-btns', shopBtn, giftBtn, likes.button));

  const anchorTools = isAnchor ? anchorBar() : null;
  const side = el('aside.side', { 'aria-label': 'Room chat' }, tabs, panelChat, panelRank, anchorTools, controls);
  const page = el('section.room-page', { dataset: { roomId, kind: room.kind }, class: isAnchor ? 'is-anchor' : '' },
    stage, side, giftBar.node, shop.node);
  main.append(page);

  function anchorBar() {
    const rainBtn = el('button.btn.btn-sm.btn-rain', { type: 'button', id: 'rain-prepare' }, '🧧 Prepare rain');
    const rainStart = el('button.btn.btn-sm.btn-rain', { type: 'button', id: 'rain-start', hidden: true }, 'Start rain');
    rainBtn.addEventListener('click', () => busy(rainBtn, async () => {
      const r = await post(`/api/rooms/${roomId}/rain/prepare`);
      toast(`Rain prepared: ${fmtCoins(r.total_coins)} coins in ${r.packets} packets.`, 'success');
      rainBtn.hidden = true; rainStart.hidden = false; rainStart.focus();
      refreshBalance();
    }));
    rainStart.addEventListener('click', () => busy(rainStart, async () => {
      await post(`/api/rooms/${roomId}/rain/start`);
      rainStart.hidden = true; rainBtn.hidden = false;
    }));
    const endBtn = el('button.btn.btn-sm.btn-danger', { type: 'button', id: 'end-live' }, 'End live');
    endBtn.addEventListener('click', async () => {
      if (!(await confirmDialog('End this live?', 'Your viewers will be told the room has closed.', 'End live'))) return;
      await busy(endBtn, async () => { await del(`/api/rooms/${roomId}`); location.hash = '#/anchor'; });
    });
    return el('div.anchor-tools', { role: 'toolbar', 'aria-label': 'Anchor tools' }, chat.slowControl, rainBtn, rainStart, endBtn);
  }

  // ---- socket ----
  function showEnded(text) {
    mount(ended, el('div.ended-card', el('h2', text), el('a.btn.btn-primary', { href: '#/rooms' }, 'Find another room')));
    ended.hidden = false;
    page.dataset.ended = 'true';
    connBanner.hidden = true;
    giftBar.close(); shop.close();
    side.querySelectorAll('.room-controls input, .room-controls button, .anchor-tools button').forEach((x) => { x.disabled = true; });
  }

  function onFrame({ type, seq, data, resumed }) {
    switch (type) {
      case 'welcome':
        if (data.online !== undefined) onlineNode.textContent = fmtCount(data.online);
        if (!resumed) chat.setRecent(data.recent);
        if (data.slow_mode !== undefined) chat.setSlow(data.slow_mode);
        if (data.likes !== undefined) likes.setTotal(data.likes);
        if (data.room && data.room.title) titleNode.textContent = data.room.title;
        if (data.you && typeof data.you.balance === 'number') setBalance(data.you.balance);
        if (data.pk) updatePk(data.pk);
        if (data.rain && data.rain.status === 'running') rain.start({ rain_id: data.rain.id, ends_at: data.rain.ends_at });
        if (resumed) chat.system('Reconnected.', 'info');
        break;
      case 'resync': chat.system('Catching up with the room…', 'info'); break;
      case 'chat': chat.addMessage(seq, data); break;
      case 'online': onlineNode.textContent = fmtCount(data.count); break;
      case 'likes': likes.setTotal(data.total); break;
      case 'entered': chat.entered(data); break;
      case 'muted': chat.muted(data); break;
      case 'chat_deleted': chat.deleted(data.seq); break;
      case 'slow_mode': chat.slowMode(data.seconds); break;
      case 'gift':
        giftLayer.show(data);
        chat.gift(data, giftIcon(data.gift));
        ranking.bump();
        break;
      // A busy room's gifts of one window, each as a `gift` frame's data.
      case 'gifts':
        for (const g of data.gifts || []) {
          giftLayer.show(g);
          chat.gift(g, giftIcon(g.gift));
        }
        ranking.bump();
        break;
      case 'pk_started': case 'pk_progress': updatePk(data.pk); break;
      case 'pk_ended': pk.ended(data); challengeBtn.hidden = true; chat.system('The PK is over.', 'info'); break;
      case 'rain_started': rain.start(data); chat.system('🧧 A red-packet rain has started!', 'gift'); break;
      case 'rain_ended':
        rain.end(data);
        if (data.handed_out !== undefined) chat.system(`🧧 The rain is over: ${data.handed_out} packets, ${fmtCoins(data.coins)} coins handed out.`, 'gift');
        break;
      case 'products': shop.setProducts(data.items); break;
      case 'stock': shop.stock(data); break;
      case 'room_closed': socket.close(); setConnection('ended'); showEnded('The anchor ended this live. Find another room to watch.'); break;
      case 'error':
        // In words that say what to do next, whatever the server's own wording.
        if (CHAT_ERRORS.has(data.code)) chat.error({ ...data, message: errorSentence(data, 'chat') });
        else toast(errorSentence(data), 'error', 6000, { key: `room-error-${data.code}` });
        break;
      case 'notice': onNotice(data); break;
      default: break;
    }
  }

  function updatePk(p) {
    if (!p) return;
    pk.update(p);
    challengeBtn.hidden = true;
    if (p.status === 'waiting' && !isAnchor && room.kind === 'pk') {
      ownRoom().then((mine) => { challengeBtn.hidden = !(mine && pk.pk && pk.pk.status === 'waiting'); });
    }
    if (!giftBar.node.hidden) giftBar.renderTargets();
  }

  function onNotice(data) {
    if (data.kind === 'gift_failed') giftBar.failed(data);
    else if (data.kind === 'rain_credited') rain.credited(data);
    else shop.notice(data);
    if (typeof data.balance === 'number') setBalance(data.balance);
  }

  socket = new RoomSocket(roomId, {
    onFrame,
    onState: (state, detail) => {
      setConnection(state);
      page.dataset.conn = state;
      const words = { connecting: 'Connecting to the room…', reconnecting: 'Reconnecting…', offline: 'You are offline. We will reconnect when the network is back.' };
      connBanner.hidden = state === 'online' || !words[state] || !ended.hidden;
      connBanner.textContent = state === 'reconnecting' && detail ? `${sentenceCase(detail)} Reconnecting…` : (words[state] || '');
    },
    onFinal: (reason, message) => {
      // 403 on /im (after a reload): a kick's message says when they may come back, a ban's does not.
      if (reason === 'banned') reason = /come back|removed/.test(message || '') ? 'kicked_for' : 'banned';
      const words = {
        kicked: 'The anchor removed you from this room. Find another live room to watch.',
        kicked_for: errorSentence({ code: 'kicked', message }),
        banned: 'The anchor removed you from this room for good (a ban). Go back to the list to find another live room.',
        room_closed: 'This live has ended. Go back to the list to find another room.',
        unauthorized: errorSentence({ code: 'unauthorized' }),
      };
      showEnded(words[reason] || sentenceCase(message) || 'You left the room. Go back to the list to find another one.');
      // A 4003 close says "kicked" for a kick and a ban alike: /im tells which, and for how long.
      if (reason === 'kicked') {
        get(`/api/rooms/${roomId}/im`).then(() => {}, (err) => {
          if (err.code === 'banned') showEnded(words.banned);
          else if (err.code === 'kicked') showEnded(errorSentence(err));
        });
      }
    },
  });
  if (room.status === 'closed') {
    showEnded('This live has ended. Go back to the list to find another room.');
  } else {
    socket.connect();
    if (room.pk) updatePk(room.pk);
    if (room.products) shop.setProducts(room.products.items || room.products);
    else shop.load();
  }

  const onKey = (e) => {
    if (e.key === 'Escape') { giftBar.close(); shop.close(); }
  };
  document.addEventListener('keydown', onKey);
  // Exposed for the reconnect test and for people debugging in the console.
  window.liveroomSocket = socket;

  return () => {
    socket.close();
    window.liveroomSocket = undefined;
    document.removeEventListener('keydown', onKey);
    [likes, giftBar, ranking, pk, rain, shop].forEach((w) => w.destroy && w.destroy());
    setConnection(null);
  };
}

