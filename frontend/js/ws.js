//! The room's WebSocket: fetches a one-use ticket from `/im`, pings every 5 s,
//! tracks the last room event `seq`, reconnects with backoff after a drop and
//! sends `resume {last_seq}` so missed events are replayed, acks notices (once
//! each, even when the server repeats them) and reports its state.

import { get } from './api.js';

const PING_MS = 5000;
const FINAL_CODES = { 4003: 'kicked', 4004: 'room_closed' };

export class RoomSocket {
  /**
   * handlers: { onFrame(frame), onState(state, detail), onFinal(reason, code) }
   * state is one of connecting | online | reconnecting | offline.
   */
  constructor(roomId, handlers) {
    this.roomId = roomId;
    this.h = handlers;
    this.ws = null;
    this.lastSeq = 0;
    this.ahead = new Set();
    this.welcomed = false;
    this.attempt = 0;
    this.closed = false;
    this.pingTimer = null;
    this.retryTimer = null;
    this.seenNotices = new Set();
    this.onOnline = () => { if (!this.ws && !this.closed) this.reconnectNow(); };
    window.addEventListener('online', this.onOnline);
  }

  async connect() {
    if (this.closed) return;
    this.setState(this.welcomed ? 'reconnecting' : 'connecting');
    let im;
    try {
      im = await get(`/api/rooms/${this.roomId}/im`);
    } catch (err) {
      if (this.closed) return;
      if (err.code === 'room_closed' || err.status === 404) { this.finish('room_closed', err.message); return; }
      if (err.status === 403) { this.finish('banned', err.message); return; }
      if (err.status === 401) { this.finish('unauthorized', err.message); return; }
      this.scheduleRetry(err.message);
      return;
    }
    if (this.closed) return;
    let ws;
    try {
      ws = new WebSocket(im.url || this.defaultUrl(im.ticket));
    } catch {
      this.scheduleRetry('Could not open the live connection.');
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      this.startPing();
    });
    ws.addEventListener('message', (ev) => this.receive(ev.data));
    ws.addEventListener('close', (ev) => this.onClose(ws, ev));
    ws.addEventListener('error', () => { /* a close event follows; handled there */ });
  }

  defaultUrl(ticket) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
  }

  receive(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    if (!frame || typeof frame.type !== 'string') return;
    const data = frame.data || {};
    if (frame.type === 'welcome') {
      const resumed = this.welcomed && this.lastSeq > 0;
      this.attempt = 0;
      this.setState('online');
      if (resumed) {
        // Ask for what we missed; the welcome's `recent` is already on screen.
        this.send('resume', { last_seq: this.lastSeq });
        this.h.onFrame({ type: 'welcome', data, resumed: true });
      } else {
        this.welcomed = true;
        this.lastSeq = Number(data.last_seq || 0);
        this.ahead.clear();
        this.h.onFrame({ type: 'welcome', data, resumed: false });
      }
      return;
    }
    if (frame.type === 'pong') return;
    if (frame.type === 'resync') {
      // Our gap is gone from the room's history: start again from a fresh welcome.
      this.welcomed = false;
      this.lastSeq = 0;
      this.ahead.clear();
      this.h.onFrame({ type: 'resync', data });
      this.reconnectNow();
      return;
    }
    if (frame.type === 'notice') {
      if (data.id !== undefined) this.send('ack', { id: data.id });
      const key = String(data.id);
      if (this.seenNotices.has(key)) return;
      this.seenNotices.add(key);
    }
    if (typeof frame.seq === 'number' && !this.accept(frame.seq)) return; // already shown
    this.h.onFrame({ type: frame.type, seq: frame.seq, data });
  }

  /**
   * Records a room event's seq; false when it was seen already. Live events may
   * arrive between a resumed `welcome` and the replay of what was missed, so
   * this keeps the seqs past the last gapless one, and `lastSeq` (what
   * `resume` asks from) only moves over a gapless run.
   */
  accept(seq) {
    if (seq <= this.lastSeq || this.ahead.has(seq)) return false;
    this.ahead.add(seq);
    while (this.ahead.has(this.lastSeq + 1)) {
      this.ahead.delete(this.lastSeq + 1);
      this.lastSeq += 1;
    }
    if (this.ahead.size > 1000) { // a gap that never fills: give up on it
      this.lastSeq = Math.max(...this.ahead);
      this.ahead.clear();
    }
    return true;
  }

  send(type, data) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(data === undefined ? { type } : { type, data }));
    return true;
  }

  get isOpen() { return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN && this.welcomed); }

  startPing() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => this.send('ping'), PING_MS);
  }

  onClose(ws, ev) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    this.ws = null;
    if (this.closed) return;
    if (FINAL_CODES[ev.code]) { this.finish(FINAL_CODES[ev.code], ev.reason); return; }
    const why = {
      4000: 'The connection went quiet.',
      4001: 'The connection fell behind.',
      4401: 'The live ticket expired.',
      1009: 'A message was too large.',
      1008: 'Too many messages were sent.',
    }[ev.code] || 'The connection dropped.';
    this.scheduleRetry(why);
  }

  scheduleRetry(reason) {
    clearTimeout(this.retryTimer);
    this.attempt += 1;
    const offline = navigator.onLine === false;
    this.setState(offline ? 'offline' : 'reconnecting', reason);
    const delay = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5)) + Math.random() * 300;
    this.retryTimer = setTimeout(() => this.connect(), offline ? 15000 : delay);
  }

  reconnectNow() {
    clearTimeout(this.retryTimer);
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      clearInterval(this.pingTimer);
      try { old.close(1000); } catch { /* already closing */ }
    }
    this.connect();
  }

  /** Simulates a network drop (used by the page's reconnect control and tests). */
  drop() {
    if (this.ws) this.ws.close(4999, 'client drop');
  }

  finish(reason, message) {
    this.close();
    this.setState('ended', message);
    if (this.h.onFinal) this.h.onFinal(reason, message);
  }

  setState(state, detail) {
    this.state = state;
    if (this.h.onState) this.h.onState(state, detail);
  }

  close() {
    this.closed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.retryTimer);
    window.removeEventListener('online', this.onOnline);
    if (this.ws) { const ws = this.ws; this.ws = null; try { ws.close(1000); } catch { /* ignore */ } }
  }
}
