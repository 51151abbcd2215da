// Connection state recovery (`--recovery on`) with the real socket.io-client 4.x: a client whose transport closes
// comes back with `socket.recovered === true`, the same id and rooms, and every event it missed, once and in order;
// none after `--recovery-max-disconnection`.
// - one node without Redis (the in-memory store);
// - `--redis-mode streams` behind HAProxy (the shipped config): the client leaves replica A and comes back through
//   the proxy on replica B (its sticky cookie now names B), also after A drains on SIGTERM;
// - a mixed cluster with a Node server running @socket.io/redis-streams-adapter: recovery from Node to Rust and
//   back, with events of the streams emitter's wire format in between.
//
// The clients reconnect by hand (`reconnection: false`, then `connect()`): socket.io-client keeps its pid and last
// offset for that, and the test decides what happens while they are away.

import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import { createClient as createRedisClient } from 'redis';
import { ack, waitConnected } from '../lib/client.mjs';
import { startRust, uniqueRoom } from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { closeAllPeers, startNodePeer } from '../lib/node-peer.mjs';
import { SHIPPED, Topology } from '../lib/proxy.mjs';
import { Pins, assertOffsets, cut, received, recording, rustConnected, send } from '../lib/recovery.mjs';
import { startRedis } from '../lib/redis.mjs';
import { sleep, waitUntil } from '../lib/wait.mjs';

/** Short enough for the expiry check, long enough for every recovery of these tests. */
const MAX_DISCONNECTION_MS = 3000;
const RECOVERY = ['--recovery', 'on', '--recovery-max-disconnection', `${MAX_DISCONNECTION_MS}ms`];

describe('connection state recovery', () => {
  after(closeAllPeers);

  e2e('one node without Redis: missed events once and in order, same id and rooms; none after the maximum', async (t, s) => {
    const server = await s.server({ args: RECOVERY });
    const room = uniqueRoom();
    const alice = recording(server.url, 'alice');
    const bob = recording(server.url, 'bob');
    s.defer(() => [alice, bob].forEach((c) => c.close()));
    await Promise.all([waitConnected(alice), waitConnected(bob)]);
    await send(alice, 'join', room);
    await send(bob, 'join', room);
    await send(bob, 'message', { room, data: 0 });
    await waitUntil(() => alice.events.length === 1, { what: 'first message' });
    assert.equal(alice.recovered, false);

    const id = await cut(alice, () => rustConnected(server, 1));
    const mark = alice.events.length;
    await send(bob, 'message', { room, data: 1 });
    await send(bob, 'direct', { to: id, data: 2 });
    await send(bob, 'message', { room, data: 3 });
    alice.connect();
    await waitConnected(alice);
    assert.equal(alice.recovered, true);
    assert.equal(alice.id, id);
    assert.deepEqual((await ack(alice, 'rooms')).rooms, [room]);
    assert.deepEqual(received(alice, mark), [['message', 1], ['direct', 2], ['message', 3]]);
    assertOffsets(alice, mark);

    // Away for longer than --recovery-max-disconnection: a new session, nothing replayed.
    const before = alice.events.length;
    await cut(alice, () => rustConnected(server, 1));
    await sleep(MAX_DISCONNECTION_MS + 500); // the expiry under test
    await send(bob, 'message', { room, data: 4 });
    alice.connect();
    await waitConnected(alice);
    assert.equal(alice.recovered, false);
    assert.notEqual(alice.id, id);
    await ack(alice, 'rooms');
    assert.deepEqual(received(alice, before), []);
  });

  describe('--redis-mode streams behind HAProxy (docker/haproxy/haproxy.cfg)', () => {
    const topo = new Topology('haproxy.cfg, streams');

    e2e('a client cut from replica A recovers on replica B (transport closed, then A drained); not after the maximum', { timeout: 45000 }, async (t, s) => {
      t.after(() => topo.destroy());
      const [a, b] = await topo.start({ count: 2, prefix: 'rs', mode: 'streams', args: ['--redis-mode', 'streams', ...RECOVERY] });
      const hp = await topo.haproxy({ file: SHIPPED.haproxy, replicas: topo.live });
      const pins = new Pins(hp.url);
      await pins.learn([a.nodeId, b.nodeId]);

      const room = uniqueRoom();
      const alice = pins.client(a.nodeId, 'alice');
      const bob = recording(b.url, 'bob');
      s.defer(() => [alice, bob].forEach((c) => c.close()));
      await Promise.all([waitConnected(alice), waitConnected(bob)]);
      assert.equal(alice.nodes.at(-1), a.nodeId);
      await send(alice, 'join', room);
      await send(bob, 'join', room);
      await send(bob, 'message', { room, data: 0 });
      await waitUntil(() => alice.events.length === 1, { what: 'first message' });

      // 1. Transport closed on A; messages to its room and to it meanwhile; back through the proxy, on B.
      const id = await cut(alice, () => rustConnected(a, 0));
      let mark = alice.events.length;
      await send(bob, 'message', { room, data: 1 });
      await send(bob, 'direct', { to: id, data: 2 });
      await send(bob, 'message', { room, data: 3 });
      pins.pin(alice, b.nodeId);
      alice.connect();
      await waitConnected(alice);
      assert.equal(alice.nodes.at(-1), b.nodeId, 'the proxy sent it to B');
      assert.equal(alice.recovered, true);
      assert.equal(alice.id, id);
      assert.deepEqual((await ack(alice, 'rooms')).rooms, [room]);
      assert.deepEqual(received(alice, mark), [['message', 1], ['direct', 2], ['message', 3]]);
      assertOffsets(alice, mark);

      // 2. On B now: B drains (SIGTERM); its sessions are kept; the client comes back on A (the only one left).
      const carol = recording(a.url, 'carol');
      s.defer(() => carol.close());
      await waitConnected(carol);
      await send(carol, 'join', room);
      const stopping = b.stop('SIGTERM', 10000);
      await waitUntil(() => !alice.connected, { what: 'alice cut by the drain' });
      await stopping;
      mark = alice.events.length;
      await send(carol, 'message', { room, data: 4 });
      pins.pin(alice, a.nodeId);
      alice.connect();
      await waitConnected(alice);
      assert.equal(alice.recovered, true);
      assert.equal(alice.id, id);
      assert.deepEqual(received(alice, mark), [['message', 4]]);
      assert.deepEqual((await ack(alice, 'rooms')).rooms, [room]);

      // 3. Away for longer than --recovery-max-disconnection: the session is gone from Redis.
      await cut(alice, () => rustConnected(a, 1));
      await sleep(MAX_DISCONNECTION_MS + 500); // the expiry under test
      mark = alice.events.length;
      await send(carol, 'message', { room, data: 5 });
      alice.connect();
      await waitConnected(alice);
      assert.equal(alice.recovered, false);
      assert.notEqual(alice.id, id);
      await ack(alice, 'rooms');
      assert.deepEqual(received(alice, mark), []);
    });
  });

  e2e('mixed cluster: recovery from a Node server (redis-streams-adapter) to Rust and back, streams emitter events included', { timeout: 40000 }, async (t, s) => {
    const redis = await startRedis();
    let node;
    const emitterClient = createRedisClient({ url: redis.url });
    // In this order: the Node adapter's stream reader retries at once, forever, once Redis is gone.
    t.after(async () => {
      await node?.close();
      await emitterClient.quit().catch(() => {});
      await redis.destroy();
    });
    const rust = await startRust(s, redis, { mode: 'streams', extra: RECOVERY });
    node = await startNodePeer({ url: redis.url, mode: 'streams', recovery: { maxDisconnectionDuration: MAX_DISCONNECTION_MS } });
    await emitterClient.connect();
    // What @socket.io/redis-streams-emitter 0.1 appends for `emitter.to(room).emit(event, data)`.
    const emit = (room, event, data) =>
      emitterClient.sendCommand([
        'XADD', 'socket.io', 'MAXLEN', '~', '10000', '*',
        'uid', 'emitter', 'nsp', '/', 'type', '3',
        'data', JSON.stringify({ packet: { type: 2, data: [event, data], nsp: '/' }, opts: { rooms: [room], flags: {}, except: [] } }),
      ]);
    // Both servers block in XREAD (Node starts reading from `$` once its reader connection is up).
    await waitUntil(async () => (String(await emitterClient.sendCommand(['CLIENT', 'LIST'])).match(/cmd=xread/g) ?? []).length >= 2, {
      what: 'both stream readers',
    });
    const room = uniqueRoom();
    const alice = recording(node.url, 'alice');
    const bob = recording(rust.url, 'bob');
    // A member of the room on Rust: Rust delivers its own broadcasts once they are in the stream, so what dave has
    // seen is appended (the servers append independently; the test orders their appends this way).
    const dave = recording(rust.url, 'dave');
    s.defer(() => [alice, bob, dave].forEach((c) => c.close()));
    await Promise.all([waitConnected(alice), waitConnected(bob), waitConnected(dave)]);
    await send(alice, 'join', room);
    await send(bob, 'join', room);
    await send(dave, 'join', room);
    const lastEntry = async () => JSON.stringify(await emitterClient.sendCommand(['XREVRANGE', 'socket.io', '+', '-', 'COUNT', '1']));
    await send(bob, 'message', { room, data: 0 });
    await waitUntil(() => alice.events.length === 1, { what: 'first message, through the stream' });
    const nodeSockets = () => node.io.of('/').sockets;

    // Node -> Rust.
    const id = await cut(alice, () => waitUntil(() => nodeSockets().size === 0, { what: 'Node let go' }));
    let mark = alice.events.length;
    await send(bob, 'message', { room, data: 1 });
    await waitUntil(() => dave.events.some((e) => e.args[0]?.data === 1), { what: 'message 1 in the stream' });
    node.io.to(id).emit('direct', { data: 2 });
    await waitUntil(async () => (await lastEntry()).includes('direct'), { what: "Node's direct in the stream" });
    await emit(room, 'news', { data: 3 });
    alice.io.uri = rust.url;
    alice.connect();
    await waitConnected(alice);
    assert.equal(alice.recovered, true, 'recovered on Rust');
    assert.equal(alice.id, id);
    assert.deepEqual((await ack(alice, 'rooms')).rooms, [room]);
    assert.deepEqual(received(alice, mark), [['message', 1], ['direct', 2], ['news', 3]]);
    assertOffsets(alice, mark);

    // Rust -> Node.
    await cut(alice, () => rustConnected(rust, 2));
    mark = alice.events.length;
    await emit(room, 'news', { data: 4 });
    await send(bob, 'direct', { to: id, data: 5 });
    alice.io.uri = node.url;
    alice.connect();
    await waitConnected(alice);
    assert.equal(alice.recovered, true, 'recovered on Node');
    assert.equal(alice.id, id);
    assert.ok(nodeSockets().get(id)?.rooms.has(room), 'rooms restored on Node');
    await waitUntil(() => alice.events.length >= mark + 2, { what: 'replayed events' });
    assert.deepEqual(received(alice, mark), [['news', 4], ['direct', 5]]);
  });
});
