// Issue 6, at scale: 5,000 websocket clients spread over two Rust replicas join one room in a bounded time that
// the test prints; once the room is far above --presence-max-members, joins and leaves send no presence at all.
// (Its own file: node --test applies --test-timeout to each file as a whole.)

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { joinAll, startRust, uniqueRoom, waitServerCount } from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { metricValue } from '../lib/metrics.mjs';
import { startRedis } from '../lib/redis.mjs';
import { LightClient, pool } from '../lib/swarm.mjs';
import { Recorder } from '../lib/wait.mjs';

/** `from` sends a room message; resolves when every recorder got it. */
async function syncMessage(from, room, recs) {
  const res = await ack(from, 'message', { room, data: 'sync' });
  assert.equal(res.ok, true, JSON.stringify(res));
  await Promise.all(recs.map((r) => r.wait('message', (m) => m.id === res.id)));
}

const SWARM = 5000;
const PRESENCE_MAX = 100;
const JOIN_LIMIT_MS = 40000;

describe(`${SWARM} clients join one room on two replicas`, () => {
  // The default threshold (1000 local members) still means ~2 million presence deliveries to fill this room (the
  // first 1000 joins on each replica go to every member), more than one test process can even read within the
  // time budget; a lower threshold makes the test measure the join path above it, which is what a big room costs.
  e2e(`${SWARM} websocket clients join one room (--presence-max-members ${PRESENCE_MAX}) in a bounded time`, { timeout: 58000 }, async (t, s) => {
    const redis = await startRedis();
    s.defer(() => redis.destroy());
    const extra = ['--presence-max-members', String(PRESENCE_MAX)];
    const A = await startRust(s, redis, { nodeId: 'rust-a', extra });
    const B = await startRust(s, redis, { nodeId: 'rust-b', extra });
    await waitServerCount(redis, 2);
    const room = uniqueRoom('stadium');
    const servers = [A, B];

    // Two full socket.io clients watch the room from the start, one per replica.
    const wA = await s.connect(A.url, { auth: { name: 'watchA' } });
    const wB = await s.connect(B.url, { auth: { name: 'watchB' } });
    await joinAll(room, wA, wB);
    const recA = new Recorder(wA, ['presence', 'message']);
    const recB = new Recorder(wB, ['presence', 'message']);

    const clients = [];
    s.defer(() => clients.forEach((c) => c.close()));
    let t0 = Date.now();
    await pool(SWARM, 200, async (i) => {
      const c = new LightClient(servers[i % 2].url);
      clients.push(c);
      await c.connect(20000);
    });
    const connectMs = Date.now() - t0;

    t0 = Date.now();
    const acks = await pool(SWARM, 500, (i) => clients[i].emitWithAck('join', room).catch((e) => ({ error: e.message })));
    const joinMs = Date.now() - t0;
    const presenceTotal = clients.reduce((n, c) => n + c.count('presence'), 0) + recA.of('presence').length + recB.of('presence').length;
    console.log(
      `${SWARM} clients on 2 replicas: connected in ${connectMs} ms, joined one room in ${joinMs} ms ` +
        `(${Math.round(SWARM / (joinMs / 1000))} joins/s); ${presenceTotal} presence deliveries in total ` +
        `(the quadratic contract would need ~${Math.round((SWARM * SWARM) / 2 / 1e6)} million)`,
    );
    t.diagnostic(`joined in ${joinMs} ms`);

    const bad = acks.filter((a) => a?.ok !== true);
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} joins failed`);
    const closed = clients.filter((c) => c.closed).length;
    assert.equal(closed, 0, `${closed} clients were disconnected while joining`);
    for (const srv of servers) assert.equal(await metricValue(srv.adminUrl, 'sio_slow_consumer_disconnects_total'), 0);

    // Membership is complete, seen from either replica.
    const m = await ack(wA, 'members', room);
    assert.equal(m.ok, true, JSON.stringify(m).slice(0, 200));
    assert.equal(m.members.length, SWARM + 2);

    // Now far above the threshold on both replicas: one more join and leave on each replica sends no presence.
    const seen = [recA.of('presence').length, recB.of('presence').length];
    for (const srv of servers) {
      const x = await s.connect(srv.url);
      await joinAll(room, x);
      assert.deepEqual(await ack(x, 'leave', room), { ok: true, room });
    }
    await syncMessage(wA, room, [recB]);
    await syncMessage(wB, room, [recA]);
    assert.deepEqual([recA.of('presence').length, recB.of('presence').length], seen, 'presence sent in a room far above the threshold');

    assert.ok(joinMs < JOIN_LIMIT_MS, `${SWARM} joins took ${joinMs} ms (limit ${JOIN_LIMIT_MS} ms)`);
  });
});
