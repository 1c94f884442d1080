// A tiny RFC 6455 WebSocket server side (text frames, ping, close) for the
// dev mock server only. Not used by the real tests' server, which is the binary.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptUpgrade(req, socket) {
  const key = req.headers['sec-websocket-key'];
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
    + `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
  return new Conn(socket);
}

class Conn extends EventEmitter {
  constructor(socket) {
    super();
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.open = true;
    socket.on('data', (d) => { this.buf = Buffer.concat([this.buf, d]); this.parse(); });
    socket.on('close', () => { if (this.open) { this.open = false; this.emit('close', 1006); } });
    socket.on('error', () => {});
  }

  parse() {
    while (this.buf.length >= 2) {
      const b0 = this.buf[0]; const b1 = this.buf[1];
      const op = b0 & 0x0f; const masked = b1 & 0x80;
      let len = b1 & 0x7f; let off = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      const need = off + (masked ? 4 : 0) + len;
      if (this.buf.length < need) return;
      let payload = this.buf.subarray(off + (masked ? 4 : 0), need);
      if (masked) {
        const mask = this.buf.subarray(off, off + 4);
        payload = Buffer.from(payload.map((x, i) => x ^ mask[i % 4]));
      }
      this.buf = this.buf.subarray(need);
      if (op === 1) this.emit('message', payload.toString('utf8'));
      else if (op === 8) { const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005; this.close(code); }
      else if (op === 9) this.frame(10, payload);
    }
  }

  frame(op, payload) {
    if (!this.open) return;
    const len = payload.length;
    let head;
    if (len < 126) head = Buffer.from([0x80 | op, len]);
    else if (len < 65536) { head = Buffer.alloc(4); head[0] = 0x80 | op; head[1] = 126; head.writeUInt16BE(len, 2); }
    else { head = Buffer.alloc(10); head[0] = 0x80 | op; head[1] = 127; head.writeBigUInt64BE(BigInt(len), 2); }
    this.socket.write(Buffer.concat([head, payload]));
  }

  send(text) { this.frame(1, Buffer.from(text, 'utf8')); }

  close(code = 1000) {
    if (!this.open) return;
    const p = Buffer.alloc(2); p.writeUInt16BE(code, 0);
    this.frame(8, p);
    this.open = false;
    this.emit('close', code);
    setTimeout(() => this.socket.destroy(), 50);
  }
}
