// Helpers for cluster tests: Rust replicas on a Redis, waiting until every node of a cluster has subscribed, and
// contract-level assertions shared by the cluster test files.

import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { ack } from './client.mjs';
import { httpRequest } from './http.mjs';
import { metricValue } from './metrics.mjs';
import { startEmitter, startNodePeer } from './node-peer.mjs';
import { startRedis, startRedisCluster, subscriberCount } from './redis.mjs';
import { startServer } from './server.mjs';
import { sleep, waitUntil } from './wait.mjs';

export const API_KEY = 'e2e-cluster-api-key-7c1d';
export const apiAuth = { authorization: `Bearer ${API_KEY}` };

let seq = 0;
/** A room name unique to this process and call. */
export const uniqueRoom = (p = 'room') => `${p}-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

/** Redis-related flags of a Rust replica. */
export function redisArgs(redis, { nodeId, mode, subscriptionMode, key, requestTimeout, extra = [] } = {}) {
  const args = ['--redis-url', redis.url, '--api-key', API_KEY];
  if (nodeId) args.push('--node-id', nodeId);
  if (mode) args.push('--redis-mode', mode);
  if (subscriptionMode) args.push('--redis-subscription-mode', subscriptionMode);
  if (key) args.push('--redis-prefix', key);
  if (requestTimeout) args.push('--request-timeout', String(requestTimeout));
  return [...args, ...extra];
}

/**
 * Start a Rust replica on `redis` (a RedisHandle or RedisClusterHandle). `owner` is an e2e Scope (the replica dies
 * with the test) or null (the caller kills it, e.g. in an after hook).
 */
export async function startRust(owner, redis, o = {}) {
  const opts = { args: redisArgs(redis, o), env: o.env };
  const server = owner ? await owner.server(opts) : await startServer(opts);
  if (o.waitConnected !== false) await waitAdapterConnected(server);
  return server;
}

/**
 * Wait until the replica is a full cluster member: `/ready` answers 200 (a cluster member is ready once Redis has
 * confirmed its subscriptions; a later outage does not make it unready) and `sio_adapter_connected` is 1.
 */
export async function waitAdapterConnected(server, { timeout = 10000 } = {}) {
  let last;
  await waitUntil(
    async () => {
      const ready = await httpRequest(`${server.adminUrl}/ready`, { timeout: 1000 }).catch(() => ({ status: 0 }));
      last = await metricValue(server.adminUrl, 'sio_adapter_connected');
      return ready.status === 200 && last === 1;
    },
    { timeout, interval: 20, what: `sio_adapter_connected 1 on ${server.label}` },
  ).catch((e) => {
    throw new Error(`${e.message} (last: ${last})`);
  });
}

/** The channel whose subscriber count is the number of servers, as Node's adapter counts them. */
export function serverCountChannel({ key = 'socket.io', nsp = '/', mode = 'classic' } = {}) {
  return mode === 'classic' ? `${key}-request#${nsp}#` : `${key}#${nsp}#`;
}

/** Wait until `count` servers subscribe to the cluster's channels (every node has finished starting). */
export async function waitServerCount(redis, count, { key, nsp, mode = 'classic', timeout = 10000 } = {}) {
  const ports = redis.ports ?? [redis.port];
  const channel = serverCountChannel({ key, nsp, mode });
  let last;
  await waitUntil(
    async () => {
      last = await subscriberCount(ports, channel, { sharded: mode === 'sharded' });
      return last === count;
    },
    { timeout, what: `${count} subscribers on ${channel}` },
  ).catch((e) => {
    throw new Error(`${e.message} (last count: ${last})`);
  });
}

/**
 * Sharded dynamic mode: wait until `count` servers subscribe to the room's channel (a node subscribes when the room
 * appears on it; nothing, not even Node's adapter, waits for that before acknowledging the join).
 */
export async function waitRoomSubscribers(redis, room, count, { key = 'socket.io', nsp = '/', timeout = 5000 } = {}) {
  const ports = redis.ports ?? [redis.port];
  const channel = `${key}#${nsp}#${room}#`;
  let last;
  await waitUntil(
    async () => {
      last = await subscriberCount(ports, channel, { sharded: true });
      return last >= count;
    },
    { timeout, what: `${count} subscribers on ${channel}` },
  ).catch((e) => {
    throw new Error(`${e.message} (last count: ${last})`);
  });
}

/** Join `room` on each socket (Rust contract or Node peer `join`) and assert the acks. */
export async function joinAll(room, ...sockets) {
  for (const c of sockets) assert.deepEqual(await ack(c, 'join', room), { ok: true, room }, `join ${room} (${c.id})`);
}

export const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Assert a failure ack {ok:false, error:<code>, message}. */
export function assertFail(res, code, ctx = '') {
  assert.equal(res?.ok, false, `${ctx} expected ok:false, got ${JSON.stringify(res)}`);
  assert.equal(res.error, code, `${ctx} expected error ${code}, got ${JSON.stringify(res)}`);
  assert.equal(typeof res.message, 'string', `${ctx} message must be a string: ${JSON.stringify(res)}`);
}

/** Assert a contract `members` ack lists exactly `users` (order ignored). */
export async function assertMembers(socket, room, users, ctx = '') {
  const res = await ack(socket, 'members', room);
  assert.equal(res?.ok, true, `${ctx} members(${room}) not ok: ${JSON.stringify(res)}`);
  assert.equal(res.room, room, `${ctx} members room`);
  assert.deepEqual(res.members.slice().sort(byId), users.slice().sort(byId), `${ctx} members(${room})`);
}

/**
 * Resources shared by the tests of one describe block: Redis servers, Rust replicas, Node peers and emitters started
 * by `build(fx)` in a before hook, all destroyed in the after hook (also when build or a test failed). Use the
 * fx.redis / fx.rust / fx.peer / fx.emitter methods inside build so that teardown knows about everything.
 */
export function sharedCluster(build, { timeout = 60000 } = {}) {
  const fx = new Fixture();
  before(async () => build(fx), { timeout });
  after(async () => fx.destroy(), { timeout: 30000 });
  return fx;
}

export class Fixture {
  constructor() {
    this.owned = [];
  }

  own(resource, destroy) {
    this.owned.push(destroy);
    return resource;
  }

  async redis(opts) {
    const r = await startRedis(opts);
    return this.own(r, () => r.destroy());
  }

  async redisCluster(opts) {
    const r = await startRedisCluster(opts);
    return this.own(r, () => r.destroy());
  }

  async rust(redis, opts) {
    const s = await startRust(null, redis, opts);
    return this.own(s, () => s.kill());
  }

  async peer(opts) {
    const p = await startNodePeer(opts);
    return this.own(p, () => p.close());
  }

  async emitter(opts) {
    const e = await startEmitter(opts);
    return this.own(e, () => e.close());
  }

  /** Peers and emitters first, then the servers, then Redis (reverse order of creation). */
  async destroy() {
    const list = this.owned.reverse();
    this.owned = [];
    for (const d of list) {
      try {
        await d();
      } catch {
        /* best effort */
      }
    }
  }
}

/**
 * Poll `members` until it lists exactly `users` (a disconnect has no event that other sockets could await when no
 * presence is sent), then assert it. Each poll takes one token of the socket's rate limit.
 */
export async function waitMembers(socket, room, users, ctx = '', timeout = 5000) {
  const want = JSON.stringify(users.slice().sort(byId));
  let last;
  await waitUntil(
    async () => {
      last = await ack(socket, 'members', room);
      return last?.ok === true && JSON.stringify(last.members.slice().sort(byId)) === want;
    },
    { timeout, interval: 50, what: `${ctx} members(${room}) to list ${want}` },
  ).catch((e) => {
    throw new Error(`${e.message}; last answer ${JSON.stringify(last)}`);
  });
}

/** 25 messages/s per sender, under the default rate limit (50/s). */
const SEND_INTERVAL_MS = 40;

/**
 * Send `message` {room, data: {from, seq, sentAt}} every SEND_INTERVAL_MS without waiting for acks (a slow ack must
 * not slow the sender down); every send and its ack are recorded in `sender.sent`. `await sender.stop()` stops it
 * and waits for the last acks.
 */
export function startSender(socket, from, room) {
  const sender = { sent: [], stopped: false };
  sender.done = (async () => {
    for (let seq = 0; !sender.stopped; seq++) {
      const rec = { seq, sentAt: Date.now(), ack: null, ackAt: null, err: null };
      sender.sent.push(rec);
      socket.timeout(5000).emit('message', { room, data: { from, seq, sentAt: rec.sentAt } }, (err, res) => {
        rec.ackAt = Date.now();
        if (err) rec.err = err.message;
        else rec.ack = res;
      });
      await sleep(SEND_INTERVAL_MS); // load pacing, not synchronisation
    }
  })();
  sender.stop = async () => {
    sender.stopped = true;
    await sender.done;
    // Let the last acks arrive (each one is bounded by its 5 s timeout).
    await waitUntil(() => sender.sent.every((r) => r.ackAt !== null), { timeout: 6000, what: `acks of ${from}` });
  };
  return sender;
}
