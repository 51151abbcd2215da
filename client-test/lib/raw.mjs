// Raw Engine.IO clients (no socket.io-client): to read the handshake, send malformed packets, stop answering pings,
// stop reading (slow consumer).

import WebSocket from 'ws';
import { httpRequest } from './http.mjs';
import { withTimeout } from './wait.mjs';

const SEP = '\x1e';

/** Base path normalised to "/x/". */
function normPath(p = '/socket.io') {
  let s = p.startsWith('/') ? p : `/${p}`;
  if (!s.endsWith('/')) s += '/';
  return s;
}

/** URL of the Engine.IO endpoint. */
export function eioUrl(base, { path, eio = 4, transport = 'polling', sid, extra = '' } = {}) {
  let u = `${base}${normPath(path)}?EIO=${eio}&transport=${transport}`;
  if (sid) u += `&sid=${encodeURIComponent(sid)}`;
  u += `&t=${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return u + extra;
}

/** Parse an Engine.IO v4 text polling payload into packets. */
export function decodePayload(text) {
  return text.length === 0 ? [] : text.split(SEP);
}

/**
 * Polling handshake. Resolves to {status, headers, text, open} where open is the parsed JSON of the open packet
 * (undefined if the body is not "0{...}").
 */
export async function pollingHandshake(base, { path, eio = 4, headers = {} } = {}) {
  const res = await httpRequest(eioUrl(base, { path, eio, transport: 'polling' }), { headers });
  let open;
  if (res.status === 200 && res.text.startsWith('0{')) {
    const first = eio === 3 ? res.text.replace(/^\d+:/, '') : decodePayload(res.text)[0];
    try {
      open = JSON.parse(first.slice(1));
    } catch {
      open = undefined;
    }
  }
  return { ...res, open };
}

/** A raw polling session: handshake done, optional socket.io connect. */
export class RawPolling {
  constructor(base, { path } = {}) {
    this.base = base;
    this.path = path;
  }

  async open() {
    const hs = await pollingHandshake(this.base, { path: this.path });
    if (!hs.open) throw new Error(`polling handshake failed: ${hs.status} ${hs.text}`);
    this.sid = hs.open.sid;
    this.handshake = hs.open;
    return hs.open;
  }

  post(body, { timeout = 5000, headers = {} } = {}) {
    return httpRequest(eioUrl(this.base, { path: this.path, sid: this.sid }), {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers },
      body,
      timeout,
    });
  }

  get({ timeout = 5000 } = {}) {
    return httpRequest(eioUrl(this.base, { path: this.path, sid: this.sid }), { timeout });
  }

  /** Send socket.io CONNECT for "/" and read until the CONNECT reply; resolves to the reply packet. */
  async connectNamespace(auth) {
    const r = await this.post(auth ? `40${JSON.stringify(auth)}` : '40');
    if (r.status !== 200) throw new Error(`POST 40 failed: ${r.status} ${r.text}`);
    for (let i = 0; i < 5; i++) {
      const g = await this.get();
      if (g.status !== 200) throw new Error(`GET after 40 failed: ${g.status} ${g.text}`);
      const pkt = decodePayload(g.text).find((p) => p.startsWith('40') || p.startsWith('44'));
      if (pkt) return pkt;
    }
    throw new Error('no CONNECT reply over polling');
  }
}

/**
 * A raw websocket Engine.IO connection. Collects every message; `next(pred)` waits for a matching message
 * (received or future). Answers pings with pongs unless autoPong is false.
 */
export class RawWs {
  constructor(base, { path, eio = 4, sid, autoPong = true, headers = {} } = {}) {
    const url = eioUrl(base.replace(/^http/, 'ws'), { path, eio, sid, transport: 'websocket' });
    this.url = url;
    this.autoPong = autoPong;
    this.messages = []; // {data: string|Buffer, isBinary, at}
    this.waiters = new Set();
    this.upgradeHeaders = null;
    this.ws = new WebSocket(url, { headers, perMessageDeflate: false });
    this.ws.on('upgrade', (res) => {
      this.upgradeHeaders = res.headers;
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => {
        this.openedAt = Date.now();
        resolve();
      });
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => {
        // Keep the refusal (status and body) for tests that check it, then fail `opened`.
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          this.refused = { status: res.statusCode, headers: res.headers, text };
          reject(new Error(`websocket upgrade refused with HTTP ${res.statusCode}: ${text}`));
        });
        res.on('error', () => reject(new Error(`websocket upgrade refused with HTTP ${res.statusCode}`)));
      });
    });
    this.opened.catch(() => {});
    this.ws.on('error', () => {}); // errors surface through `opened` / `closed`
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closedAt = Date.now();
        resolve({ code, reason: reason?.toString(), at: this.closedAt });
      });
    });
    this.ws.on('message', (data, isBinary) => {
      const msg = { data: isBinary ? data : data.toString('utf8'), isBinary, at: Date.now() };
      if (this.autoPong && !isBinary && msg.data === '2') this.ws.send('3');
      this.messages.push(msg);
      for (const w of [...this.waiters]) {
        if (w.pred(msg.data, msg)) {
          this.waiters.delete(w);
          w.resolve(msg.data);
        }
      }
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Wait for a message matching pred (string prefix or function). */
  next(pred = () => true, timeout = 5000) {
    const fn = typeof pred === 'string' ? (d) => typeof d === 'string' && d.startsWith(pred) : pred;
    const found = this.messages.find((m) => fn(m.data, m));
    if (found) return Promise.resolve(found.data);
    let w;
    const p = new Promise((resolve) => {
      w = { pred: fn, resolve };
      this.waiters.add(w);
    });
    return withTimeout(p, timeout, `raw ws message ${typeof pred === 'string' ? JSON.stringify(pred) : 'matching'}`)
      .finally(() => this.waiters.delete(w));
  }

  send(data) {
    this.ws.send(data);
  }

  /** Wait for the server to close the connection (bounded); resolves {code, reason, at}. */
  waitClosed(timeout = 5000) {
    return withTimeout(this.closed, timeout, 'the server to close the websocket');
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      /* ignore */
    }
  }

  /** Stop reading from the TCP socket (the kernel buffers fill up: a slow consumer). */
  pause() {
    this.ws.pause();
  }
}

/**
 * Open a raw websocket, read the Engine.IO open packet and (unless connect=false) connect the "/" namespace.
 * Resolves to {raw, open, connectReply}.
 */
export async function rawSocketIo(base, { path, eio = 4, autoPong = true, connect = true, auth, headers } = {}) {
  const raw = new RawWs(base, { path, eio, autoPong, headers });
  await withTimeout(raw.opened, 5000, 'raw websocket open');
  const openPkt = await raw.next('0{');
  const open = JSON.parse(openPkt.slice(1));
  let connectReply;
  if (connect) {
    raw.send(auth ? `40${JSON.stringify(auth)}` : '40');
    connectReply = await raw.next((d) => typeof d === 'string' && (d.startsWith('40') || d.startsWith('44')));
  }
  return { raw, open, connectReply };
}
