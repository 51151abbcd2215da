// Cluster (issue 3, test 3): Rust replica in sharded mode (--redis-mode sharded, SPUBLISH/SSUBSCRIBE) with a Node
// peer running createShardedAdapter, in the dynamic and the static subscription mode, on a standalone Redis 7 and on
// a three-master Redis Cluster started by the test. A representative subset of the classic tests: broadcasts both
// ways (all, room, except, socket id), Node socketsJoin, fetchSockets from Node and Rust members, emit with ack both
// ways, server-side emit both ways.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, normaliseBinary } from '../lib/client.mjs';
import {
  apiAuth,
  assertMembers,
  joinAll,
  sharedCluster,
  uniqueRoom,
  waitRoomSubscribers,
  waitServerCount,
} from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { postJson } from '../lib/http.mjs';
import { Recorder } from '../lib/wait.mjs';

const user = (c, name) => ({ id: c.id, name });
const sortWho = (l) => l.slice().sort((x, y) => (x.who < y.who ? -1 : 1));

function answer(socket, who, event = 'ask') {
  socket.on(event, (got, cb) => cb?.({ who, got }));
}

/**
 * The sharded-mode tests against `fx` = {A (Rust), N (Node peer), redis, key, subscriptionMode}.
 * In dynamic mode a node subscribes to a room's channel when the room appears on it, and neither Node nor the
 * Rust adapter waits for that before acknowledging a join: the tests wait for the subscription (SHARDNUMSUB)
 * before publishing to a fresh room.
 */
function shardedSuite(fx) {
  const dynamic = () => fx.subscriptionMode === 'dynamic';
  /**
   * Wait until `count` servers listen on the room's channel (dynamic mode only; a 20-character room looks like a
   * socket id to Node's adapter and travels on the main channel instead).
   */
  async function roomReady(room, count) {
    if (dynamic() && room.length !== 20) await waitRoomSubscribers(fx.r, room, count, { key: fx.key });
  }
  async function nodeSync(recs) {
    const tag = `sync-${Math.random().toString(36).slice(2)}`;
    fx.N.io.emit('sync', tag);
    await Promise.all(recs.map((r) => r.wait('sync', (d) => d === tag)));
  }
  async function rustSync(recs) {
    const tag = `sync-${Math.random().toString(36).slice(2)}`;
    const res = await postJson(`${fx.A.url}/api/v1/emit`, { event: 'sync', data: tag }, { headers: apiAuth });
    assert.equal(res.status, 200, res.text);
    await Promise.all(recs.map((r) => r.wait('sync', (d) => d === tag)));
  }
  const apiEmit = (body, path = 'emit') => postJson(`${fx.A.url}/api/v1/${path}`, body, { headers: apiAuth, timeout: 10000 });

  e2e('Node -> Rust: to all, to a room, with except, binary', async (t, s) => {
    const room = uniqueRoom('r');
    const muted = uniqueRoom('muted');
    const ra = await s.connect(fx.A.url);
    const rm = await s.connect(fx.A.url);
    const rout = await s.connect(fx.A.url);
    await joinAll(room, ra, rm);
    await joinAll(muted, rm);
    await roomReady(room, 1);
    const recs = [ra, rm, rout].map((c) => new Recorder(c, ['news', 'all', 'exc', 'bin', 'sync']));
    const io = fx.N.io;
    io.to(room).emit('news', { n: 1 });
    io.emit('all', 'everyone');
    io.to(room).except(muted).emit('exc', 2);
    io.to(room).emit('bin', { b: Buffer.from([1, 2, 3]) });
    assert.deepEqual(await recs[0].wait('news'), { n: 1 });
    assert.deepEqual(await recs[1].wait('news'), { n: 1 });
    for (const rec of recs) assert.equal(await rec.wait('all'), 'everyone');
    assert.equal(await recs[0].wait('exc'), 2);
    assert.deepEqual(normaliseBinary(await recs[0].wait('bin')), { b: Buffer.from([1, 2, 3]) });
    await nodeSync(recs);
    assert.deepEqual(recs[2].of('news'), [], 'non-member got the room broadcast');
    assert.deepEqual(recs[1].of('exc'), [], 'except ignored');
  });

  e2e('Node -> Rust: io.to(<Rust socket id>) reaches that socket (private rooms route to the owning node)', async (t, s) => {
    const ra = await s.connect(fx.A.url);
    const rb = await s.connect(fx.A.url);
    const recs = [ra, rb].map((c) => new Recorder(c, ['private', 'sync']));
    fx.N.io.to(ra.id).emit('private', 'for ra');
    assert.equal(await recs[0].wait('private'), 'for ra', `socket id ${ra.id} (${ra.id.length} chars)`);
    await nodeSync(recs);
    assert.deepEqual(recs[1].of('private'), []);
  });

  e2e('Rust -> Node: message to a room, broadcast, direct, HTTP API with rooms and except', async (t, s) => {
    const room = uniqueRoom('r');
    const muted = uniqueRoom('muted');
    const ra = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const na = await s.connect(fx.N.url);
    const nm = await s.connect(fx.N.url);
    const nout = await s.connect(fx.N.url);
    await joinAll(room, ra, na, nm);
    await joinAll(muted, nm);
    await roomReady(room, 2);
    const recs = [na, nm, nout].map((c) => new Recorder(c, ['message', 'broadcast', 'direct', 'news', 'sync']));
    const m = await ack(ra, 'message', { room, data: { bin: Buffer.from('x') } });
    const expected = { id: m.id, room, from: user(ra, 'Ann'), data: { bin: Buffer.from('x') }, ts: m.ts };
    assert.deepEqual(normaliseBinary(await recs[0].wait('message')), expected);
    assert.deepEqual(normaliseBinary(await recs[1].wait('message')), expected);
    const b = await ack(ra, 'broadcast', 'all');
    for (const rec of recs) assert.equal((await rec.wait('broadcast')).id, b.id);
    const d = await ack(ra, 'direct', { to: na.id, data: 'psst' });
    assert.deepEqual(await recs[0].wait('direct'), { id: d.id, from: user(ra, 'Ann'), data: 'psst', ts: d.ts });
    const res = await apiEmit({ event: 'news', data: 1, rooms: [room], except: [muted] });
    assert.equal(res.status, 200, res.text);
    assert.equal(await recs[0].wait('news'), 1);
    await rustSync(recs);
    assert.deepEqual(recs[2].of('message'), []);
    assert.deepEqual([...recs[1].of('direct'), ...recs[2].of('direct')], []);
    assert.deepEqual([...recs[1].of('news'), ...recs[2].of('news')], []);
  });

  e2e('Node socketsJoin puts Rust sockets in a room that then receives Node broadcasts', async (t, s) => {
    const room = uniqueRoom('r');
    const added = uniqueRoom('added');
    const ra = await s.connect(fx.A.url);
    const rout = await s.connect(fx.A.url);
    await joinAll(room, ra);
    fx.N.io.in(room).socketsJoin(added);
    const socks = await fx.N.io.in(added).fetchSockets();
    assert.deepEqual(socks.map((x) => x.id), [ra.id]);
    await roomReady(added, 1);
    const recs = [ra, rout].map((c) => new Recorder(c, ['to-added', 'sync']));
    fx.N.io.to(added).emit('to-added', 1);
    assert.equal(await recs[0].wait('to-added'), 1);
    await nodeSync(recs);
    assert.deepEqual(recs[1].of('to-added'), []);
  });

  e2e('fetchSockets from Node lists Rust sockets with their data; Rust members lists Node sockets', async (t, s) => {
    const room = uniqueRoom('r');
    const ra = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const rb = await s.connect(fx.A.url);
    const na = await s.connect(fx.N.url, { auth: { name: 'Nia' } });
    await joinAll(room, ra, rb, na);
    const socks = await fx.N.io.in(room).fetchSockets();
    assert.deepEqual(socks.map((x) => x.id).sort(), [ra.id, rb.id, na.id].sort());
    const remote = socks.find((x) => x.id === ra.id);
    assert.deepEqual(remote.data, user(ra, 'Ann'));
    assert.deepEqual([...remote.rooms].sort(), [ra.id, room].sort());
    assert.deepEqual(remote.handshake.auth, { name: 'Ann' });
    assert.deepEqual(socks.find((x) => x.id === rb.id).data, user(rb, null));
    await assertMembers(ra, room, [user(ra, 'Ann'), user(rb, null), user(na, 'Nia')]);
  });

  e2e('emit with ack both ways: Node emitWithAck collects Rust acks; the Rust API collects Node acks', async (t, s) => {
    const room = uniqueRoom('ack');
    const ra = await s.connect(fx.A.url);
    const na = await s.connect(fx.N.url);
    await joinAll(room, ra, na);
    answer(ra, 'ra');
    answer(na, 'na');
    await roomReady(room, 2);
    const acks = await fx.N.io.to(room).timeout(4000).emitWithAck('ask', 1);
    assert.deepEqual(sortWho(acks), [
      { who: 'na', got: 1 },
      { who: 'ra', got: 1 },
    ]);
    const res = await apiEmit({ event: 'ask', data: 2, rooms: [room], ack: true, timeout: 4000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.ok, true, res.text);
    assert.deepEqual(sortWho(res.json.acks), [
      { who: 'na', got: 2 },
      { who: 'ra', got: 2 },
    ]);
  });

  e2e('server-side emit both ways', async (t, s) => {
    assert.deepEqual(await fx.N.io.serverSideEmitWithAck('ping-rust', 1), [{ node: 'rust-a', event: 'ping-rust' }]);
    const nsp = fx.N.io.of('/');
    const handler = (data, cb) => cb({ from: 'node', got: data });
    nsp.on('hello-node', handler);
    t.after(() => nsp.off('hello-node', handler));
    const res = await apiEmit({ event: 'hello-node', data: { z: 1 }, ack: true }, 'server-emit');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, acks: [{ from: 'node', got: { z: 1 } }] });
  });
}

for (const topology of ['standalone Redis 7', 'three-master Redis Cluster']) {
  const onCluster = topology !== 'standalone Redis 7';
  describe(`cluster: sharded mode on a ${topology}`, () => {
    const base = sharedCluster(
      async (b) => {
        b.r = onCluster ? await b.redisCluster() : await b.redis();
      },
      { timeout: 60000 },
    );

    for (const subscriptionMode of ['dynamic', 'static']) {
      describe(`subscription mode ${subscriptionMode}`, () => {
        const fx = sharedCluster(async (fx) => {
          fx.r = base.r;
          fx.subscriptionMode = subscriptionMode;
          fx.key = `sio-${subscriptionMode}`; // one Redis for both modes: separate channel prefixes
          fx.A = await fx.rust(fx.r, { nodeId: 'rust-a', mode: 'sharded', subscriptionMode, key: fx.key });
          fx.N = await fx.peer({
            ...(onCluster ? { rootNodes: fx.r.rootNodes } : { url: fx.r.url }),
            mode: 'sharded',
            subscriptionMode,
            key: fx.key,
          });
          await waitServerCount(fx.r, 2, { mode: 'sharded', key: fx.key });
        });
        shardedSuite(fx);
      });
    }
  });
}
