//! Room chat: the recent history and live messages, your own marked, system
//! lines (joins, gifts, moderation), the send box with the server's refusals
//! in words, and for the anchor a menu on each name to mute, kick, ban or
//! delete the message, plus the slow-mode switch.

import { post, put, del } from '../api.js';
import { el, mount, toast, busy, fmtClock } from '../ui.js';

const MAX_LINES = 200;

export function createChat({ roomId, me, isAnchor, send }) {
  const list = el('ol.chat-list', { 'aria-label': 'Chat messages', 'aria-live': 'polite', 'data-testid': 'chat-list' });
  const input = el('input.chat-input', { type: 'text', maxlength: 200, autocomplete: 'off', enterkeyhint: 'send',
    placeholder: 'Say something nice…', 'aria-label': 'Chat message', id: 'chat-input' });
  const sendBtn = el('button.btn.btn-primary.btn-send', { type: 'submit', 'aria-label': 'Send message' }, 'Send');
  const note = el('p.chat-note', { role: 'status', 'aria-live': 'polite' });
  const form = el('form.chat-form', { 'aria-label': 'Send a chat message' }, input, sendBtn);
  let slowSeconds = 0;
  let mutedUntil = 0;
  let menu = null;

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (mutedUntil > Date.now()) { showNote(`You are muted until ${fmtClock(new Date(mutedUntil))}.`); return; }
    if (!send('chat', { text })) { showNote('Not connected yet. Your message was not sent.'); return; }
    input.value = '';
  });

  function showNote(text, ms = 4000) {
    note.textContent = text;
    clearTimeout(showNote.t);
    showNote.t = setTimeout(() => { note.textContent = ''; }, ms);
  }

  function scrollToEnd() {
    const nearEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 120;
    if (nearEnd) list.scrollTop = list.scrollHeight;
    while (list.children.length > MAX_LINES) list.firstElementChild.remove();
  }

  /** Adds a chat event `{seq, data: {from, text, at}}`. */
  function addMessage(seq, data) {
    if (seq && list.querySelector(`[data-seq="${seq}"]`)) return;
    const from = data.from || {};
    const mine = me && from.id === me.id;
    const fromAnchor = from.id === anchorId;
    const nameLabel = mine ? 'You' : from.nickname;
    const name = isAnchor && !mine
      ? el('button.chat-name', { type: 'button', 'aria-haspopup': 'menu', 'aria-label': `Moderate ${from.nickname}`,
        onclick: (e) => openMenu(e.currentTarget, from, seq) }, nameLabel)
      : el('span.chat-name', nameLabel);
    const li = el('li.chat-line', { class: mine ? 'mine' : '', dataset: { seq: seq || '', userId: from.id } },
      fromAnchor ? el('span.tag-anchor', 'Anchor') : null,
      name, el('span.chat-text', data.text),
      data.at ? el('time.chat-time', { datetime: data.at }, fmtClock(data.at)) : null);
    // Replayed messages (after a reconnect) go back in their place by seq.
    const later = seq ? [...list.querySelectorAll('.chat-line[data-seq]')].find((x) => Number(x.dataset.seq) > seq) : null;
    if (later) later.before(li); else list.append(li);
    scrollToEnd();
  }

  function system(text, kind = 'info') {
    list.append(el('li.chat-line.system', { class: `sys-${kind}` }, text));
    scrollToEnd();
  }

  /** The last "entered" line, merged with the next while it is the newest line and recent. */
  let entry = null;
  const ENTRY_MERGE_MS = 5000;

  /** `entered {users, count}`: one line for a crowd ("Ann, Bo and 10 others entered"). */
  function entered(data) {
    const users = (data.users || []).filter((u) => !(me && u.id === me.id));
    const count = (data.count || 0) - ((data.users || []).length - users.length);
    if (count <= 0) return;
    const fresh = entry && entry.li === list.lastElementChild && Date.now() - entry.at < ENTRY_MERGE_MS;
    if (fresh) {
      const names = entry.names.filter((n) => !users.some((u) => u.nickname === n));
      entry = { ...entry, names: [...names, ...users.map((u) => u.nickname)].slice(-2), count: entry.count + count, at: Date.now() };
    } else {
      entry = { li: el('li.chat-line.system.sys-enter', { 'data-testid': 'entered' }), names: users.map((u) => u.nickname).slice(-2), count, at: Date.now() };
      list.append(entry.li);
    }
    const { names, count: n } = entry;
    const others = n - names.length;
    let who;
    if (!names.length) who = `${n} ${n === 1 ? 'viewer' : 'viewers'}`;
    else if (others <= 0) who = names.join(' and ');
    else who = `${names.join(', ')} and ${others} ${others === 1 ? 'other' : 'others'}`;
    entry.li.textContent = `👋 ${who} entered the room`;
    scrollToEnd();
  }

  /** The last gift line: the same gift from the same sender within 3 s adds to its count. */
  let lastGift = null;
  const GIFT_MERGE_MS = 3000;

  /** `gift`: "Ann sent Rose ×3", one line per combo as the banner shows it. */
  function gift(data, icon) {
    const who = data.from ? data.from.nickname : 'Someone';
    const key = `${data.from ? data.from.id : ''}:${data.gift.id}:${data.to}`;
    const n = data.count || 1;
    const merge = lastGift && lastGift.key === key && lastGift.li === list.lastElementChild && Date.now() - lastGift.at < GIFT_MERGE_MS;
    if (merge) {
      lastGift.total += n;
      lastGift.at = Date.now();
    } else {
      lastGift = { key, total: n, at: Date.now(), li: el('li.chat-line.system.sys-gift', { 'data-testid': 'gift-line' }) };
      list.append(lastGift.li);
    }
    lastGift.li.textContent = `${icon} ${who} sent ${data.gift.name} ×${lastGift.total}`;
    scrollToEnd();
  }

  let anchorId = null;
  function setAnchor(id) { anchorId = id; }

  /** Renders `recent` from welcome (frames or bare events). */
  function setRecent(recent) {
    mount(list);
    for (const item of recent || []) {
      const ev = item && item.data ? item : { seq: item.seq, data: item };
      addMessage(ev.seq, ev.data);
    }
    list.scrollTop = list.scrollHeight;
  }

  function deleted(seq) {
    const li = list.querySelector(`[data-seq="${seq}"]`);
    if (li) {
      li.classList.add('deleted');
      mount(li, el('span.chat-text', 'Message removed by the anchor'));
    }
  }

  function muted(data) {
    const until = new Date(data.until).getTime();
    if (me && data.user_id === me.id) {
      mutedUntil = until;
      showNote(`The anchor muted you until ${fmtClock(data.until)}.`, 8000);
    }
    const who = data.user_id === (me && me.id) ? 'You were' : 'A viewer was';
    system(`${who} muted until ${fmtClock(data.until)}.`, 'mod');
  }

  function slowMode(seconds) {
    slowSeconds = Number(seconds) || 0;
    if (slowSelect) slowSelect.value = String(nearestSlow(slowSeconds));
    system(slowSeconds ? `Slow mode is on: one message every ${slowSeconds} s.` : 'Slow mode is off.', 'mod');
  }

  /** Words for a socket `error` frame about chat. */
  function error(data) {
    const words = {
      muted: 'You are muted in this room.',
      slow_mode: `Slow mode: wait ${data.retry_after || slowSeconds || 'a few'} s before your next message.`,
      rate_limited: 'You are sending too fast. Slow down a little.',
    };
    showNote(data.message || words[data.code] || 'Your message was not sent.', 5000);
  }

  // ---- anchor moderation menu ----
  function closeMenu() {
    if (menu) { menu.remove(); menu = null; document.removeEventListener('click', outside, true); }
  }
  function outside(e) { if (menu && !menu.contains(e.target)) closeMenu(); }

  function openMenu(anchorEl, user, seq) {
    closeMenu();
    const act = (label, fn, danger) => el('button.menu-item', { type: 'button', role: 'menuitem', class: danger ? 'danger' : '',
      onclick: async (e) => { await busy(e.currentTarget, fn); closeMenu(); } }, label);
    menu = el('div.mod-menu', { role: 'menu', 'aria-label': `Moderate ${user.nickname}` },
      el('p.menu-title', user.nickname),
      act('Mute 1 minute', async () => { await post(`/api/rooms/${roomId}/mutes`, { user_id: user.id, seconds: 60 }); toast(`${user.nickname} is muted for 1 minute.`, 'success'); }),
      act('Mute 10 minutes', async () => { await post(`/api/rooms/${roomId}/mutes`, { user_id: user.id, seconds: 600 }); toast(`${user.nickname} is muted for 10 minutes.`, 'success'); }),
      act('Unmute', async () => { await del(`/api/rooms/${roomId}/mutes/${user.id}`); toast(`${user.nickname} can chat again.`, 'success'); }),
      seq ? act('Delete message', async () => { await del(`/api/rooms/${roomId}/messages/${seq}`); }, true) : null,
      act('Kick out', async () => { await post(`/api/rooms/${roomId}/kicks`, { user_id: user.id }); toast(`${user.nickname} was kicked out.`, 'success'); }, true),
      act('Ban from room', async () => { await post(`/api/rooms/${roomId}/kicks`, { user_id: user.id, ban: true }); toast(`${user.nickname} is banned from this room.`, 'success'); }, true));
    menu.addEventListener('keydown', (e) => {
      const items = [...menu.querySelectorAll('.menu-item')];
      const i = items.indexOf(document.activeElement);
      if (e.key === 'Escape') { closeMenu(); anchorEl.focus(); }
      if (e.key === 'ArrowDown') { e.preventDefault(); items[(i + 1) % items.length].focus(); }
      if (e.key === 'ArrowUp') { e.preventDefault(); items[(i - 1 + items.length) % items.length].focus(); }
    });
    const li = anchorEl.closest('.chat-line');
    li.after(menu);
    menu.querySelector('.menu-item').focus();
    setTimeout(() => document.addEventListener('click', outside, true), 0);
  }

  // ---- slow mode (anchor) ----
  const SLOW = [0, 3, 10, 30, 60, 300];
  const nearestSlow = (s) => SLOW.reduce((a, b) => (Math.abs(b - s) < Math.abs(a - s) ? b : a), 0);
  let slowSelect = null;
  let slowControl = null;
  if (isAnchor) {
    slowSelect = el('select', { id: 'slow-mode', 'aria-label': 'Slow mode' },
      SLOW.map((s) => el('option', { value: String(s) }, s ? `Slow: ${s}s` : 'Slow mode off')));
    slowSelect.addEventListener('change', async () => {
      const seconds = Number(slowSelect.value);
      await busy(slowSelect, () => put(`/api/rooms/${roomId}/slow-mode`, { seconds }));
    });
    slowControl = el('label.slow-control', el('span.sr-only', 'Slow mode'), slowSelect);
  }

  const node = el('div.chat', list, note);
  return { node, form, input, slowControl, addMessage, setRecent, system, entered, gift, deleted, muted, slowMode, error, setAnchor,
    setSlow: (s) => { slowSeconds = Number(s) || 0; if (slowSelect) slowSelect.value = String(nearestSlow(slowSeconds)); } };
}
