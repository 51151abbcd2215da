// socket.io-client helpers (4.x, plus the 2.x client for the EIO3 tests).

import { io } from 'socket.io-client';
import ioV2 from 'socket.io-client-v2';
import { onceArgs, withTimeout } from './wait.mjs';

export const ACK_TIMEOUT = 5000;

/**
 * Create a socket.io-client 4.x socket (not awaited). Defaults: a fresh Manager per socket, no reconnection (tests
 * that need it ask for it), websocket-only unless the caller chooses transports.
 */
export function createClient(url, opts = {}) {
  const socket = io(url, {
    forceNew: true,
    reconnection: false,
    transports: ['websocket'],
    timeout: 5000,
    ...opts,
  });
  // Remember disconnect reasons so a test can look at one that happened before it started waiting.
  socket.disconnects = [];
  socket.on('connect', () => {
    socket.connectedAt = Date.now();
  });
  socket.on('disconnect', (reason, details) => socket.disconnects.push({ reason, details, at: Date.now() }));
  return socket;
}

/** Resolve when the socket is connected; reject with the connect_error (message included) otherwise. */
export function waitConnected(socket, timeout = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  let onConnect;
  let onError;
  const p = new Promise((resolve, reject) => {
    onConnect = () => resolve(socket);
    onError = (err) => reject(new Error(`connect_error: ${err?.message ?? err}`, { cause: err }));
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
  return withTimeout(p, timeout, 'connect').finally(() => {
    socket.off('connect', onConnect);
    socket.off('connect_error', onError);
  });
}

/** Resolve with the connect_error Error; reject if the socket connects instead. */
export function waitConnectError(socket, timeout = 5000) {
  let onConnect;
  let onError;
  const p = new Promise((resolve, reject) => {
    onConnect = () => reject(new Error(`expected connect_error but the socket connected (id ${socket.id})`));
    onError = (err) => resolve(err);
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
  return withTimeout(p, timeout, 'connect_error').finally(() => {
    socket.off('connect', onConnect);
    socket.off('connect_error', onError);
  });
}

/** Emit with an ack callback and await the ack (bounded). Resolves with the ack's first argument. */
export async function ack(socket, event, ...args) {
  const sentAt = Date.now();
  try {
    return await socket.timeout(ACK_TIMEOUT).emitWithAck(event, ...args);
  } catch (err) {
    const since = socket.connectedAt ? `${sentAt - socket.connectedAt} ms after connect` : 'before connect';
    throw new Error(
      `no ack for "${String(event).slice(0, 40)}" within ${ACK_TIMEOUT} ms (socket ${socket.id}, sent ${since}, ` +
        `connected=${socket.connected})`,
      { cause: err },
    );
  }
}

/** Emit with an ack and resolve with the array of every argument of the ack. */
export function ackArgs(socket, event, ...args) {
  const p = new Promise((resolve) => {
    socket.emit(event, ...args, (...res) => resolve(res));
  });
  return withTimeout(p, ACK_TIMEOUT, `ack of "${event}"`);
}

/**
 * A round trip that proves every packet the server queued for this socket before now has been delivered: the server
 * writes to one connection in order, so anything emitted to this socket before the ack arrives before it.
 */
export async function barrier(socket) {
  const res = await ack(socket, 'rooms');
  if (!res || res.ok !== true) throw new Error(`barrier "rooms" ack not ok: ${JSON.stringify(res)}`);
}

/**
 * Wait for the socket's next disconnect (or return the one already recorded since `sinceIndex`) and resolve with its
 * reason.
 */
export async function waitDisconnect(socket, timeout = 5000, sinceIndex = 0) {
  const seen = socket.disconnects?.[sinceIndex];
  if (seen) return seen.reason;
  const [reason] = await onceArgs(socket, 'disconnect', { timeout });
  return reason;
}

// ---------------------------------------------------------------------------------------------------------------
// socket.io-client 2.x (Engine.IO v3)

/** Create a socket.io-client 2.x socket (CommonJS module loaded through ESM interop). */
export function createClientV2(url, opts = {}) {
  return ioV2(url, {
    forceNew: true,
    reconnection: false,
    transports: ['websocket'],
    timeout: 5000,
    ...opts,
  });
}

/** 2.x: wait for connect; reject on connect_error / error. */
export function waitConnectedV2(socket, timeout = 5000) {
  if (socket.connected) return Promise.resolve(socket);
  const handlers = {};
  const p = new Promise((resolve, reject) => {
    handlers.connect = () => resolve(socket);
    handlers.connect_error = (err) => reject(new Error(`connect_error: ${err?.message ?? err}`));
    handlers.error = (err) => reject(new Error(`error: ${err?.message ?? JSON.stringify(err)}`));
    for (const [k, h] of Object.entries(handlers)) socket.on(k, h);
  });
  return withTimeout(p, timeout, 'v2 connect').finally(() => {
    for (const [k, h] of Object.entries(handlers)) socket.off(k, h);
  });
}

/** 2.x ack with timeout. */
export function ackV2(socket, event, ...args) {
  const p = new Promise((resolve) => {
    socket.emit(event, ...args, (res) => resolve(res));
  });
  return withTimeout(p, ACK_TIMEOUT, `v2 ack of "${event}"`);
}

// ---------------------------------------------------------------------------------------------------------------
// Assertions helpers on contract shapes

/** Normalise a received binary value (Buffer, ArrayBuffer, typed array) to a Buffer, or null if not binary. */
export function asBuffer(x) {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  return null;
}

/** Recursively convert received binary values to Buffers so deepStrictEqual can compare with what was sent. */
export function normaliseBinary(x) {
  const b = asBuffer(x);
  if (b) return b;
  if (Array.isArray(x)) return x.map(normaliseBinary);
  if (x && typeof x === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(x)) out[k] = normaliseBinary(v);
    return out;
  }
  return x;
}
