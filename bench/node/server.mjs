// The Node peer of the benchmark: socket.io 4.8 with @socket.io/redis-adapter 8 on ioredis, in production settings
// (NODE_ENV=production, ws native add-ons bufferutil/utf-8-validate, perMessageDeflate off as by default, the
// initial HTTP request discarded after the handshake as the socket.io performance-tuning guide recommends).
//
// It implements the part of the project's client contract the benchmark drives, the way server/ does it:
//   join(room)                -> ack {ok, room}           (presence off: no presence events)
//   leave(room)               -> ack {ok, room}
//   message({room, data})     -> others in room get `message` {id, room, from, data, ts}; ack {ok, id, ts}
//   broadcast(data)           -> every other socket gets `broadcast` {id, from, data, ts}; ack {ok, id, ts}
// with the same validation (room: 1..128 characters, no control characters; membership for `message`), a token
// bucket per socket (RATE_LIMIT/s, burst RATE_BURST), failures acked as {ok: false, error, message} or emitted as
// `error` when there is no ack callback.
//
// Configuration (environment): PORT, HOST (127.0.0.1), REDIS_URL (none: runs alone), ADAPTER (classic: the pub/sub
// redis-adapter; streams: @socket.io/redis-streams-adapter with connectionStateRecovery), NODE_ID, TRANSPORTS
// (websocket | polling,websocket), PING_INTERVAL, PING_TIMEOUT (ms), RATE_LIMIT, RATE_BURST, MAX_ROOMS,
// DISCARD_REQUEST (1, set 0 to keep the request). Prints one JSON line {"ready": true, ...} once it listens and its
// Redis connections are ready; exits on SIGTERM/SIGINT.

import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const env = process.env;
const PORT = Number(env.PORT ?? 3000);
const HOST = env.HOST ?? '127.0.0.1';
const NODE_ID = env.NODE_ID ?? `node-${process.pid}`;
const TRANSPORTS = (env.TRANSPORTS ?? 'websocket').split(',').map((t) => t.trim());
const PING_INTERVAL = Number(env.PING_INTERVAL ?? 25000);
const PING_TIMEOUT = Number(env.PING_TIMEOUT ?? 20000);
const RATE_LIMIT = Number(env.RATE_LIMIT ?? 50);
const RATE_BURST = Number(env.RATE_BURST ?? 100);
const MAX_ROOMS = Number(env.MAX_ROOMS ?? 100);
const DISCARD_REQUEST = (env.DISCARD_REQUEST ?? '1') !== '0';
const STREAMS = (env.ADAPTER ?? 'classic') === 'streams';

const fail = (error, message) => ({ ok: false, error, message });

// A room (and `to`) is a string of 1..128 characters without control characters.
function validRoom(r) {
  if (typeof r !== 'string') return false;
  const n = [...r].length;
  // eslint-disable-next-line no-control-regex
  return n >= 1 && n <= 128 && !/[\u0000-\u001f\u007f-\u009f]/.test(r);
}

// Node's socket ids: 20 characters of base64url.
const looksLikeSocketId = (r) => /^[A-Za-z0-9_-]{20}$/.test(r);

class Bucket {
  constructor(rate, burst) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.at = performance.now();
  }

  take() {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

async function main() {
  let adapter;
  const clients = [];
  if (env.REDIS_URL) {
    const pub = new Redis(env.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: null });
    const sub = pub.duplicate();
    for (const c of [pub, sub]) {
      c.on('error', (e) => process.stderr.write(`redis: ${e.message}\n`));
      clients.push(c);
    }
    await Promise.all([pub.connect(), sub.connect()]);
    // Streams: one client (the adapter duplicates it for its blocking XREAD); recovery as Node's defaults.
    adapter = STREAMS ? createStreamsAdapter(pub) : createAdapter(pub, sub, { key: 'socket.io' });
  }

  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter,
    transports: TRANSPORTS,
    pingInterval: PING_INTERVAL,
    pingTimeout: PING_TIMEOUT,
    maxHttpBufferSize: 1e6,
    serveClient: false,
    perMessageDeflate: false,
    ...(STREAMS ? { connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true } } : {}),
  });

  if (DISCARD_REQUEST) {
    io.engine.on('connection', (rawSocket) => {
      rawSocket.request = null;
    });
  }

  io.use((socket, next) => {
    const name = socket.handshake.auth?.name;
    if (name !== undefined && (typeof name !== 'string' || name.length < 1 || name.length > 64)) {
      const err = new Error('bad_request');
      next(err);
      return;
    }
    socket.data = { id: socket.id, name: typeof name === 'string' ? name : null };
    next();
  });

  io.on('connection', (socket) => {
    const bucket = new Bucket(RATE_LIMIT, RATE_BURST);
    const user = socket.data;
    const joined = () => [...socket.rooms].filter((r) => r !== socket.id);

    // Runs a handler the way server/src/contract does: rate limit, then ack or `error` event.
    const handle = (event, fn) => {
      socket.on(event, async (...args) => {
        const cb = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        let out;
        if (!bucket.take()) {
          out = fail('rate_limited', 'too many events; slow down');
        } else {
          try {
            out = await fn(args[0]);
          } catch (e) {
            out = fail('unavailable', String(e?.message ?? e));
          }
        }
        if (cb) cb(out);
        else if (!out.ok) socket.emit('error', { error: out.error, message: out.message, event });
      });
    };

    handle('join', async (room) => {
      if (!validRoom(room)) return fail('bad_request', '`room` must be a string of 1..128 characters');
      if (!socket.rooms.has(room)) {
        if (looksLikeSocketId(room)) {
          const found = await io.in(room).fetchSockets();
          if (found.some((s) => s.id === room)) {
            return fail('bad_request', '`room` is the id of a socket; socket rooms cannot be joined');
          }
        }
        if (joined().length >= MAX_ROOMS) return fail('too_many_rooms', `a socket may join at most ${MAX_ROOMS} rooms`);
        await socket.join(room);
      }
      return { ok: true, room };
    });

    handle('leave', async (room) => {
      if (!validRoom(room)) return fail('bad_request', '`room` must be a string of 1..128 characters');
      if (room === socket.id || !socket.rooms.has(room)) return fail('not_in_room', `not in room ${room}`);
      await socket.leave(room);
      return { ok: true, room };
    });

    handle('message', async (payload) => {
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
        return fail('bad_request', 'expected {room, data}');
      }
      const { room } = payload;
      if (!validRoom(room)) return fail('bad_request', '`room` must be a string of 1..128 characters');
      if (!socket.rooms.has(room)) return fail('not_in_room', `not in room ${room}`);
      const id = randomUUID();
      const ts = Date.now();
      socket.to(room).emit('message', { id, room, from: user, data: payload.data ?? null, ts });
      return { ok: true, id, ts };
    });

    handle('broadcast', async (data) => {
      const id = randomUUID();
      const ts = Date.now();
      socket.broadcast.emit('broadcast', { id, from: user, data: data ?? null, ts });
      return { ok: true, id, ts };
    });
  });

  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(PORT, HOST, resolve);
  });
  process.stdout.write(`${JSON.stringify({ ready: true, node_id: NODE_ID, port: PORT, pid: process.pid })}\n`);

  const stop = () => {
    io.close(() => {
      for (const c of clients) c.disconnect();
      process.exit(0);
    });
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  process.stderr.write(`node peer failed: ${e?.stack ?? e}\n`);
  process.exit(1);
});
