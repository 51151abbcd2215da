// Raw Engine.IO clients (no socket.io-client): to read the handshake, send malformed packets, stop answering pings,
// stop reading (slow consumer).

import http from 'node:http';
import WebSocket from 'ws';
import { decodePayloadText, decodeV3BinaryPayload, encodePayload } from './eio-codec.mjs';
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
    this.eio = eio;
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
      // v3 binary frames carry the Engine.IO type byte (4, message): strip it so binary messages look the same in
      // v3 and v4 (the raw frame stays available as `frame`).
      const body = isBinary && this.eio === 3 ? data.subarray(1) : data;
      const msg = { data: isBinary ? body : data.toString('utf8'), isBinary, at: Date.now(), frame: data };
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

  /** Wait for a message matching pred (string prefix or function), among those from index `from` on. */
  next(pred = () => true, timeout = 5000, from = 0) {
    const fn = typeof pred === 'string' ? (d) => typeof d === 'string' && d.startsWith(pred) : pred;
    const found = this.messages.slice(from).find((m) => fn(m.data, m));
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

  /** Send Engine.IO packets: strings as text frames, Buffers as binary messages (v3: with the type byte 4). */
  sendPackets(packets) {
    for (const p of packets) {
      if (Buffer.isBuffer(p)) this.ws.send(this.eio === 3 ? Buffer.concat([Buffer.from([4]), p]) : p);
      else this.ws.send(p);
    }
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

  /** Read again after `pause`. */
  resume() {
    this.ws.resume();
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

/**
 * An HTTP request that never rejects: resolves to {status, type (media type), headers, text, body, json} or
 * {error} (ECONNRESET when the server drops the request, 'timeout'). `signal` aborts it (then {error: 'aborted'}).
 */
export function tryRequest(url, { method = 'GET', headers = {}, body, timeout = 10000, signal } = {}) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const hdrs = { ...headers };
    if (body !== undefined && hdrs['content-length'] === undefined) hdrs['content-length'] = Buffer.byteLength(body);
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...r, at: Date.now() });
    };
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: hdrs, agent: false, signal },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const buf = Buffer.concat(chunks);
          const text = buf.toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const type = String(res.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
          finish({ status: res.statusCode, type, headers: res.headers, text, body: buf, json });
        });
        res.on('error', (e) => finish({ error: e.code || e.message }));
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      finish({ error: 'timeout' });
    }, timeout);
    req.on('error', (e) => finish({ error: signal?.aborted ? 'aborted' : e.code || e.message }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * A raw Engine.IO polling session (v4 or v3, `b64` for v3 text payloads): `get()`/`post()` by hand, or `startLoop()`
 * to keep one GET pending at all times (answering pings unless autoPong is false). Every packet received lands in
 * `messages` ({data: string|Buffer, isBinary, at}) like RawWs, so scenarios read both transports the same way;
 * `ended` resolves when the loop stops: {how: 'close packet' | 'status', status, text, packets, at}.
 */
export class RawPollingConn {
  constructor(base, { path, eio = 4, b64 = false, autoPong = true, pollTimeout = 30000 } = {}) {
    this.base = base;
    this.path = path;
    this.eio = eio;
    this.b64 = b64;
    this.autoPong = autoPong;
    this.pollTimeout = pollTimeout;
    this.messages = [];
    this.waiters = new Set();
    this.aborter = new AbortController();
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  url() {
    return eioUrl(this.base, {
      path: this.path,
      eio: this.eio,
      sid: this.sid,
      extra: this.b64 ? '&b64=1' : '',
    });
  }

  /** Decode a GET answer into packets (text payloads, and v3 binary payloads). */
  decode(res) {
    if (res.status !== 200) return [];
    if (res.type === 'application/octet-stream') return decodeV3BinaryPayload(res.body);
    return decodePayloadText(res.text, this.eio);
  }

  /** Handshake; resolves to the answer, with `packets`; sets sid/open on success. */
  async handshake() {
    const res = await tryRequest(this.url(), { signal: this.aborter.signal });
    res.packets = this.decode(res);
    const first = res.packets[0];
    if (typeof first === 'string' && first.startsWith('0{')) {
      this.open = JSON.parse(first.slice(1));
      this.sid = this.open.sid;
      this.openedAt = res.at;
      this.record(res.packets, res.type);
    }
    return res;
  }

  record(packets, via) {
    for (const p of packets) {
      const msg = { data: p, isBinary: Buffer.isBuffer(p), at: Date.now(), via };
      this.messages.push(msg);
      for (const w of [...this.waiters]) {
        if (w.pred(msg.data, msg)) {
          this.waiters.delete(w);
          w.resolve(msg.data);
        }
      }
    }
  }

  /** One GET; its packets are recorded. Resolves to the answer with `packets`. */
  async get({ timeout = this.pollTimeout } = {}) {
    const res = await tryRequest(this.url(), { timeout, signal: this.aborter.signal });
    res.packets = this.decode(res);
    this.record(res.packets, res.type);
    return res;
  }

  /** POST packets (strings; Buffers are sent base64) or a raw body string/Buffer with `raw: true`. */
  post(packets, { raw = false, headers = {}, timeout = 10000 } = {}) {
    const body = raw ? packets : encodePayload(packets, this.eio);
    return tryRequest(this.url(), {
      method: 'POST',
      headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers },
      body,
      timeout,
      signal: this.aborter.signal,
    });
  }

  /** Same call shape as RawWs.sendPackets: one POST carrying every packet. */
  sendPackets(packets) {
    return this.post(packets);
  }

  /** Keep a GET pending until the session ends (close packet or an error status). */
  startLoop() {
    if (this.looping) return;
    this.looping = (async () => {
      while (!this.aborter.signal.aborted) {
        const res = await this.get();
        if (res.error || res.status !== 200) {
          this.resolveEnded({ how: 'status', status: res.status, error: res.error, text: res.text, at: res.at });
          return;
        }
        if (res.packets.includes('1')) {
          this.resolveEnded({ how: 'close packet', packets: res.packets, at: res.at });
          return;
        }
        if (this.autoPong && this.eio === 4 && res.packets.includes('2')) await this.post(['3']);
      }
    })();
  }

  /** Wait for a message matching pred (string prefix or function), among those from index `from` on. */
  next(pred = () => true, timeout = 5000, from = 0) {
    const fn = typeof pred === 'string' ? (d) => typeof d === 'string' && d.startsWith(pred) : pred;
    const found = this.messages.slice(from).find((m) => fn(m.data, m));
    if (found) return Promise.resolve(found.data);
    let w;
    const p = new Promise((resolve) => {
      w = { pred: fn, resolve };
      this.waiters.add(w);
    });
    return withTimeout(p, timeout, `polling packet ${typeof pred === 'string' ? JSON.stringify(pred) : 'matching'}`)
      .finally(() => this.waiters.delete(w));
  }

  /** Abort every request in flight (test cleanup; the server sees the connections go away). */
  close() {
    this.aborter.abort();
  }
}
