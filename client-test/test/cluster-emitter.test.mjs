// Cluster (issue 3, test 4): @socket.io/redis-emitter 5 (classic protocol) publishing into a cluster of two Rust
// replicas: to all, to a room, with except, volatile, to a socket id, binary and Date payloads, a custom prefix,
// and the emitter's socketsJoin / socketsLeave / disconnectSockets / serverSideEmit requests.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, barrier, normaliseBinary, waitDisconnect } from '../lib/client.mjs';
import {
  assertMembers,
  joinAll,
  sharedCluster,
  startRust,
  uniqueRoom,
  waitMembers,
  waitServerCount,
} from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { startEmitter } from '../lib/node-peer.mjs';
import { Recorder } from '../lib/wait.mjs';

describe('cluster: @socket.io/redis-emitter -> two Rust replicas (classic)', () => {
  const fx = sharedCluster(async (fx) => {
    fx.r = await fx.redis();
    fx.A = await fx.rust(fx.r, { nodeId: 'rust-a' });
    fx.B = await fx.rust(fx.r, { nodeId: 'rust-b' });
    await waitServerCount(fx.r, 2);
    fx.E = await fx.emitter({ url: fx.r.url });
  });

  /** The emitter publishes a sync tag to everyone; resolves when every recorder saw it. */
  async function sync(recs) {
    const tag = `sync-${Math.random().toString(36).slice(2)}`;
    fx.E.emitter.emit('sync', tag);
    await Promise.all(recs.map((r) => r.wait('sync', (d) => d === tag)));
  }

  /** Two members of `room` and one outsider on each replica. */
  async function clients(s, room, events) {
    const c = {
      a1: await s.connect(fx.A.url),
      a2: await s.connect(fx.A.url),
      aOut: await s.connect(fx.A.url),
      b1: await s.connect(fx.B.url),
      b2: await s.connect(fx.B.url),
      bOut: await s.connect(fx.B.url),
    };
    await joinAll(room, c.a1, c.a2, c.b1, c.b2);
    c.rec = Object.fromEntries(Object.entries(c).map(([k, v]) => [k, new Recorder(v, [...events, 'sync'])]));
    c.all = Object.values(c.rec);
    return c;
  }

  e2e('emit to all reaches every client of both replicas exactly once, with every argument', async (t, s) => {
    const c = await clients(s, uniqueRoom(), ['news']);
    fx.E.emitter.emit('news', { title: 'hello' }, 2, 'three');
    for (const rec of c.all) {
      await rec.wait('news');
      assert.deepEqual(rec.log.find((r) => r.event === 'news').args, [{ title: 'hello' }, 2, 'three']);
    }
    await sync(c.all);
    for (const rec of c.all) assert.equal(rec.of('news').length, 1);
  });

  e2e('emit to a room reaches its members on both replicas and nobody else; to([r1, r2]) once each', async (t, s) => {
    const room = uniqueRoom();
    const other = uniqueRoom('other');
    const c = await clients(s, room, ['news', 'multi']);
    await joinAll(other, c.aOut, c.a1);
    fx.E.emitter.to(room).emit('news', 1);
    for (const k of ['a1', 'a2', 'b1', 'b2']) assert.equal(await c.rec[k].wait('news'), 1);
    fx.E.emitter.to(room).to(other).emit('multi', 2);
    for (const k of ['a1', 'a2', 'b1', 'b2', 'aOut']) assert.equal(await c.rec[k].wait('multi'), 2);
    await sync(c.all);
    assert.deepEqual([...c.rec.aOut.of('news'), ...c.rec.bOut.of('news')], []);
    assert.deepEqual(c.rec.bOut.of('multi'), []);
    assert.equal(c.rec.a1.of('multi').length, 1, 'a member of both rooms got it twice');
  });

  e2e('emit with except skips the members of the except rooms on both replicas', async (t, s) => {
    const room = uniqueRoom();
    const muted = uniqueRoom('muted');
    const c = await clients(s, room, ['news', 'all-but']);
    await joinAll(muted, c.a2, c.b2);
    fx.E.emitter.to(room).except(muted).emit('news', 'x');
    fx.E.emitter.except(c.b1.id).emit('all-but', 'y');
    assert.equal(await c.rec.a1.wait('news'), 'x');
    assert.equal(await c.rec.b1.wait('news'), 'x');
    for (const k of ['a1', 'a2', 'aOut', 'b2', 'bOut']) assert.equal(await c.rec[k].wait('all-but'), 'y');
    await sync(c.all);
    assert.deepEqual([...c.rec.a2.of('news'), ...c.rec.b2.of('news'), ...c.rec.aOut.of('news'), ...c.rec.bOut.of('news')], []);
    assert.deepEqual(c.rec.b1.of('all-but'), [], 'except(<socket id>) ignored');
  });

  e2e('volatile emits reach idle connected clients (to all and to a room)', async (t, s) => {
    // Volatile packets are dropped for a socket that is still writing something (Node's `transport.writable`),
    // e.g. the presence events of the joins: each one is sent to idle sockets (a sync round trip flushed every
    // earlier packet) and awaited before the next.
    const room = uniqueRoom();
    const c = await clients(s, room, ['tick', 'room-tick']);
    await sync(c.all);
    fx.E.emitter.volatile.emit('tick', 1);
    for (const rec of c.all) assert.equal(await rec.wait('tick'), 1);
    fx.E.emitter.volatile.to(room).emit('room-tick', 2);
    for (const k of ['a1', 'a2', 'b1', 'b2']) assert.equal(await c.rec[k].wait('room-tick'), 2);
    await sync(c.all);
    assert.deepEqual([...c.rec.aOut.of('room-tick'), ...c.rec.bOut.of('room-tick')], []);
  });

  e2e('emit to a socket id, binary and Date payloads', async (t, s) => {
    const c = await clients(s, uniqueRoom(), ['private', 'bin', 'date']);
    fx.E.emitter.to(c.b1.id).emit('private', 'only b1');
    assert.equal(await c.rec.b1.wait('private'), 'only b1');
    fx.E.emitter.emit('bin', Buffer.from([1, 2, 3]), { deep: [Buffer.from('z')] });
    fx.E.emitter.emit('date', new Date(1700000000000), { at: new Date(0) });
    for (const rec of c.all) {
      await rec.wait('bin');
      assert.deepEqual(normaliseBinary(rec.log.find((r) => r.event === 'bin').args), [
        Buffer.from([1, 2, 3]),
        { deep: [Buffer.from('z')] },
      ]);
      await rec.wait('date');
      assert.deepEqual(rec.log.find((r) => r.event === 'date').args, [
        '2023-11-14T22:13:20.000Z',
        { at: '1970-01-01T00:00:00.000Z' },
      ]);
    }
    await sync(c.all);
    for (const k of ['a1', 'a2', 'aOut', 'b2', 'bOut']) assert.deepEqual(c.rec[k].of('private'), [], `${k} got b1's message`);
  });

  e2e('emitter socketsJoin / socketsLeave / disconnectSockets act on sockets of both replicas; serverSideEmit is harmless', async (t, s) => {
    const room = uniqueRoom();
    const added = uniqueRoom('added');
    const c = await clients(s, room, ['to-added']);
    const user = (x) => ({ id: x.id, name: null });
    fx.E.emitter.in(room).socketsJoin(added);
    fx.E.emitter.to(added).emit('to-added', 1);
    // Each node reads the emitter's join and broadcast in publish order on one subscriber connection: a socket that
    // got the broadcast proves its node applied the join, so the members request below sees every join (the
    // requesting node lists its own sockets at once, without waiting for its subscriber).
    for (const k of ['a1', 'a2', 'b1', 'b2']) assert.equal(await c.rec[k].wait('to-added'), 1);
    await assertMembers(c.aOut, added, [user(c.a1), user(c.a2), user(c.b1), user(c.b2)], 'after socketsJoin');

    fx.E.emitter.in(c.b2.id).socketsLeave(added);
    // b applies the leave before it answers the members request: both come in order on its request channel.
    await fx.E.client.ping();
    await assertMembers(c.aOut, added, [user(c.a1), user(c.a2), user(c.b1)], 'after socketsLeave');

    fx.E.emitter.serverSideEmit('from-emitter', { x: 1 }); // no ack is possible; nothing must break
    fx.E.emitter.in(added).disconnectSockets(true);
    for (const k of ['a1', 'a2', 'b1']) assert.equal(await waitDisconnect(c[k]), 'io server disconnect', k);
    for (const k of ['b2', 'aOut', 'bOut']) {
      await barrier(c[k]);
      assert.equal(c[k].connected, true, `${k} was disconnected`);
    }
    // A client may see its disconnect just before its server has removed it from its rooms: poll.
    await waitMembers(c.aOut, room, [user(c.b2)], 'after disconnectSockets');
  });

  e2e('a custom --redis-prefix matches the emitter key; other prefixes are not heard', async (t, s) => {
    const key = 'custom-prefix';
    const C = await startRust(s, fx.r, { nodeId: 'rust-c', key });
    const E2 = await startEmitter({ url: fx.r.url, key });
    t.after(() => E2.close());
    const cc = await s.connect(C.url);
    const ca = await s.connect(fx.A.url);
    const recC = new Recorder(cc, ['news', 'sync']);
    const recA = new Recorder(ca, ['news', 'sync']);
    E2.emitter.emit('news', 'custom');
    assert.equal(await recC.wait('news'), 'custom');
    fx.E.emitter.emit('news', 'default');
    assert.equal(await recA.wait('news'), 'default');
    E2.emitter.emit('sync', 'c');
    fx.E.emitter.emit('sync', 'a');
    await recC.wait('sync');
    await recA.wait('sync');
    assert.deepEqual(recC.of('news'), ['custom'], 'the custom-prefix node heard the default prefix');
    assert.deepEqual(recA.of('news'), ['default'], 'a default-prefix node heard the custom prefix');
    assert.equal((await ack(cc, 'rooms')).ok, true);
  });
});
