// Many light socket.io clients for load tests: a raw websocket speaking just enough Engine.IO v4 / socket.io v5
// (open packet, namespace CONNECT, event with ack id, ack, ping/pong), counting what it receives instead of
// decoding it, so that thousands of them fit in one test process.

import WebSocket from 'ws';
import { withTimeout } from './wait.mjs';

export class LightClient {
  constructor(base, { path = '/socket.io/', auth } = {}) {
    const u = new URL(base);
    this.url = `ws://${u.host}${path}?EIO=4&transport=websocket`;
    this.auth = auth;
    this.acks = new Map();
    this.nextAck = 0;
    /** Counts of received socket.io events by name (parsed from the packet head only). */
    this.events = new Map();
    this.closed = false;
  }

  /** Open the websocket and connect namespace "/"; resolves with the socket id. */
  connect(timeout = 10000) {
    const p = new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, { perMessageDeflate: false });
      this.ws = ws;
      ws.on('error', reject);
      ws.on('close', (code) => {
        this.closed = true;
        this.closedAt = Date.now();
        this.closeCode = code;
        for (const w of this.acks.values()) w.reject(new Error(`connection closed (${code})`));
        this.acks.clear();
        reject(new Error('closed before connect'));
      });
      ws.on('message', (buf, isBinary) => {
        if (isBinary) return;
        const s = buf.toString();
        const t = s.charCodeAt(0);
        if (t === 50 /* '2' ping */) {
          ws.send('3');
        } else if (t === 48 /* '0' open */) {
          ws.send(this.auth ? `40${JSON.stringify(this.auth)}` : '40');
        } else if (s.startsWith('40')) {
          this.id = JSON.parse(s.slice(2)).sid;
          resolve(this.id);
        } else if (s.startsWith('44')) {
          reject(new Error(`connect_error ${s}`));
        } else if (s.startsWith('43')) {
          const m = /^43(\d+)/.exec(s);
          const id = Number(m[1]);
          const w = this.acks.get(id);
          if (w) {
            this.acks.delete(id);
            w.resolve(JSON.parse(s.slice(2 + m[1].length))[0]);
          }
        } else if (t === 49 /* '1' close */ || s.startsWith('41')) {
          this.serverClosed = s;
        } else if (s.startsWith('42')) {
          const m = /^42\["([^"]*)"/.exec(s);
          const name = m ? m[1] : '?';
          this.events.set(name, (this.events.get(name) ?? 0) + 1);
        }
      });
    });
    return withTimeout(p, timeout, 'light client connect');
  }

  /** Emit `event` with args and an ack id; resolves with the ack's first argument. */
  emitWithAck(event, ...args) {
    if (this.closed) return Promise.reject(new Error(`connection closed (${this.closeCode})`));
    const id = this.nextAck++;
    const p = new Promise((resolve, reject) => this.acks.set(id, { resolve, reject }));
    this.ws.send(`42${id}${JSON.stringify([event, ...args])}`);
    return p;
  }

  count(event) {
    return this.events.get(event) ?? 0;
  }

  close() {
    try {
      this.ws?.terminate();
    } catch {
      /* ignore */
    }
  }
}

/** Run `fn(i)` for i in [0, n) with at most `concurrency` in flight; resolves with the results. */
export async function pool(n, concurrency, fn) {
  const out = new Array(n);
  let next = 0;
  async function worker() {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}
