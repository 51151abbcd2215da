// In-process Node peers of the cluster: a real socket.io 4.8 Server with @socket.io/redis-adapter 8 (classic
// createAdapter, or createShardedAdapter in dynamic/static mode, on a standalone Redis or a Redis Cluster; or
// @socket.io/redis-streams-adapter 0.3, optionally with connection state recovery), and @socket.io/redis-emitter 5.
// They listen on 127.0.0.1 only.
//
// The Node peer speaks a small part of the client contract so that its clients can be placed in rooms: `join` and
// `leave` (ack {ok, room}); `socket.data` is the user object {id, name} as the Rust server sets it.

import http from 'node:http';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import { Emitter } from '@socket.io/redis-emitter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { createClient as createRedisClient, createCluster } from 'redis';
import { Server } from 'socket.io';
import { withTimeout } from './wait.mjs';

/** Every live peer/emitter of this test file, closed by closeAllPeers() (and best-effort at exit). */
const live = new Set();

function quiet(client, errors) {
  // node-redis emits 'error' on every failed reconnect; an unhandled 'error' would crash the test process.
  client.on('error', (e) => errors.push(e));
  return client;
}

/**
 * Redis clients for a peer: {pub, sub} connected (sub is pub.duplicate()).
 * @param {object} o
 * @param {string} [o.url] redis://127.0.0.1:port (standalone)
 * @param {{url: string}[]} [o.rootNodes] Redis Cluster root nodes (createCluster)
 */
export async function redisPair({ url, rootNodes }, errors = []) {
  let pub;
  if (rootNodes) {
    pub = createCluster({ rootNodes, defaults: { socket: { reconnectStrategy: 100, connectTimeout: 2000 } } });
  } else {
    pub = createRedisClient({ url, socket: { reconnectStrategy: 100, connectTimeout: 2000 } });
  }
  quiet(pub, errors);
  const sub = quiet(pub.duplicate(), errors);
  await withTimeout(Promise.all([pub.connect(), sub.connect()]), 10000, 'node peer redis connections');
  return { pub, sub };
}

/** QUIT (lets pending commands such as the adapter's unsubscriptions finish), else drop the connection. */
async function disconnectClient(c) {
  try {
    await withTimeout(Promise.resolve(c.quit()), 2000, 'redis client quit');
  } catch {
    try {
      await withTimeout(Promise.resolve(c.disconnect()), 2000, 'redis client disconnect');
    } catch {
      /* already closed or Redis gone */
    }
  }
}

export class NodePeer {
  constructor({ io, httpServer, port, pub, sub, opts, errors }) {
    this.io = io;
    this.httpServer = httpServer;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.pub = pub;
    this.sub = sub;
    this.opts = opts;
    this.errors = errors;
    /** Server-side emits received from other servers: {event, args}. */
    this.serverSideEmits = [];
  }

  /** The adapter of namespace "/". */
  get adapter() {
    return this.io.of('/').adapter;
  }

  async close() {
    if (this.closed) return;
    this.closed = true;
    live.delete(this);
    try {
      // io.close() disconnects every client, closes the HTTP server and the adapter (which unsubscribes).
      await withTimeout(new Promise((resolve) => this.io.close(() => resolve())), 3000, 'node peer close');
    } catch {
      /* Redis may be gone: go on */
    }
    await Promise.all([disconnectClient(this.sub), disconnectClient(this.pub)]);
  }
}

/**
 * Start a Node socket.io peer on a free 127.0.0.1 port.
 * @param {object} o
 * @param {string} [o.url] Redis URL (standalone)
 * @param {{url: string}[]} [o.rootNodes] Redis Cluster root nodes (sharded mode on a cluster)
 * @param {'classic'|'sharded'|'streams'} [o.mode]
 * @param {{maxDisconnectionDuration: number}} [o.recovery] Node's connectionStateRecovery (streams mode)
 * @param {'dynamic'|'static'} [o.subscriptionMode] sharded only
 * @param {string} [o.key] channel prefix (classic `key`, sharded `channelPrefix`)
 * @param {number} [o.requestsTimeout] classic requestsTimeout
 * @param {boolean} [o.publishOnSpecificResponseChannel]
 * @param {(io: Server, peer: NodePeer) => void} [o.setup] extra handlers
 */
export async function startNodePeer(o = {}) {
  const errors = [];
  const { pub, sub } = await redisPair(o, errors);
  const mode = o.mode ?? 'classic';
  let adapter;
  if (mode === 'streams') {
    adapter = createStreamsAdapter(pub, { streamName: o.key ?? 'socket.io', channelPrefix: o.key ?? 'socket.io' });
  } else if (mode === 'sharded') {
    adapter = createShardedAdapter(pub, sub, {
      channelPrefix: o.key ?? 'socket.io',
      subscriptionMode: o.subscriptionMode ?? 'dynamic',
    });
  } else {
    adapter = createAdapter(pub, sub, {
      key: o.key ?? 'socket.io',
      requestsTimeout: o.requestsTimeout ?? 5000,
      publishOnSpecificResponseChannel: o.publishOnSpecificResponseChannel ?? false,
    });
  }
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    adapter,
    transports: ['polling', 'websocket'],
    ...(o.recovery ? { connectionStateRecovery: { skipMiddlewares: true, ...o.recovery } } : {}),
  });
  io.use((socket, next) => {
    const name = socket.handshake.auth?.name;
    socket.data = { id: socket.id, name: typeof name === 'string' ? name : null };
    next();
  });
  io.on('connection', (socket) => {
    socket.on('join', (room, cb) => {
      Promise.resolve(socket.join(room)).then(() => cb?.({ ok: true, room }));
    });
    socket.on('leave', (room, cb) => {
      Promise.resolve(socket.leave(room)).then(() => cb?.({ ok: true, room }));
    });
    // A round trip through this server: everything it queued for this socket before is delivered before the ack.
    socket.on('rooms', (cb) => cb?.({ ok: true, rooms: [...socket.rooms].filter((r) => r !== socket.id) }));
  });
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', resolve);
  });
  const peer = new NodePeer({ io, httpServer, port: httpServer.address().port, pub, sub, opts: o, errors });
  o.setup?.(io, peer);
  live.add(peer);
  return peer;
}

/** A connected @socket.io/redis-emitter (classic protocol) with its own Redis client: {emitter, close()}. */
export async function startEmitter({ url, key = 'socket.io' }) {
  const errors = [];
  const client = quiet(createRedisClient({ url, socket: { reconnectStrategy: 100, connectTimeout: 2000 } }), errors);
  await withTimeout(client.connect(), 5000, 'emitter redis connection');
  const emitter = new Emitter(client, { key });
  const handle = {
    emitter,
    client,
    errors,
    async close() {
      live.delete(handle);
      await disconnectClient(client);
    },
  };
  live.add(handle);
  return handle;
}

/** Close every peer and emitter still open (after hooks). */
export async function closeAllPeers() {
  await Promise.all([...live].map((p) => p.close()));
}
