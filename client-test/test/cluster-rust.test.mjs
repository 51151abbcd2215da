// Cluster (issue 3, test 1): two Rust replicas on one Redis (classic mode). Every contract event crosses replicas:
// message, broadcast, direct, presence (join, leave, disconnect), members listing the users of both replicas, the
// refusal to join another node's socket id, and the HTTP emit API.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, barrier, normaliseBinary } from '../lib/client.mjs';
import {
  API_KEY,
  assertFail,
  assertMembers,
  joinAll,
  sharedCluster,
  uniqueRoom,
  waitMembers,
  waitServerCount,
} from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { postJson } from '../lib/http.mjs';
import { Recorder } from '../lib/wait.mjs';

const user = (c, name) => ({ id: c.id, name });

/** `from` broadcasts a sync tag; resolves when every recorder saw it (all that `from` sent before is delivered). */
async function syncBroadcast(from, recs) {
  const tag = `sync-${Math.random().toString(36).slice(2)}`;
  const res = await ack(from, 'broadcast', tag);
  assert.equal(res.ok, true, JSON.stringify(res));
  await Promise.all(recs.map((r) => r.wait('broadcast', (b) => b.data === tag)));
}

describe('cluster: two Rust replicas on one Redis', () => {
  const fx = sharedCluster(async (fx) => {
    fx.r = await fx.redis();
    fx.A = await fx.rust(fx.r, { nodeId: 'rust-a' });
    fx.B = await fx.rust(fx.r, { nodeId: 'rust-b' });
    await waitServerCount(fx.r, 2);
  });

  e2e('message: members on the other replica get {id, room, from, data, ts}; sender and outsiders do not', async (t, s) => {
    const room = uniqueRoom();
    const a = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const b = await s.connect(fx.B.url, { auth: { name: 'Bob' } });
    const c = await s.connect(fx.B.url, { auth: { name: 'Cy' } });
    const outA = await s.connect(fx.A.url);
    const outB = await s.connect(fx.B.url);
    await joinAll(room, a, b, c);
    const recs = [a, b, c, outA, outB].map((x) => new Recorder(x, ['message', 'broadcast']));
    const data = { text: 'héllo', n: 42, nested: { list: [1, 'two', null, true] }, bin: Buffer.from([0, 1, 2, 255]) };
    const res = await ack(a, 'message', { room, data });
    assert.equal(res.ok, true, JSON.stringify(res));
    for (const rec of [recs[1], recs[2]]) {
      const m = await rec.wait('message', (x) => x.id === res.id);
      assert.deepEqual(normaliseBinary(m), { id: res.id, room, from: user(a, 'Ann'), data, ts: res.ts });
    }
    // And the other way round: a member on B reaches the member on A.
    const back = await ack(b, 'message', { room, data: 'back' });
    const m = await recs[0].wait('message', (x) => x.id === back.id);
    assert.deepEqual(m, { id: back.id, room, from: user(b, 'Bob'), data: 'back', ts: back.ts });
    await syncBroadcast(a, recs.slice(1));
    await syncBroadcast(b, [recs[0], recs[3]]);
    assert.deepEqual(recs[0].of('message').map((x) => x.id), [back.id], 'the sender must not get its own message');
    assert.deepEqual(recs[3].of('message'), [], 'outsider on A');
    assert.deepEqual(recs[4].of('message'), [], 'outsider on B');
  });

  e2e('broadcast: every other socket on both replicas gets it exactly once; the sender does not', async (t, s) => {
    const a = await s.connect(fx.A.url, { auth: { name: 'caster' } });
    const others = [
      await s.connect(fx.A.url),
      await s.connect(fx.B.url),
      await s.connect(fx.B.url, { auth: { name: 'b2' } }),
    ];
    const recA = new Recorder(a, ['broadcast']);
    const recs = others.map((x) => new Recorder(x, ['broadcast']));
    const res = await ack(a, 'broadcast', { hello: 'cluster' });
    assert.equal(res.ok, true, JSON.stringify(res));
    for (const rec of recs) {
      const got = await rec.wait('broadcast', (x) => x.id === res.id);
      assert.deepEqual(got, { id: res.id, from: user(a, 'caster'), data: { hello: 'cluster' }, ts: res.ts });
    }
    // A second broadcast from another socket proves no duplicate of the first is still on its way.
    const res2 = await ack(others[0], 'broadcast', 'second');
    await Promise.all([recA, ...recs.slice(1)].map((r) => r.wait('broadcast', (x) => x.id === res2.id)));
    for (const rec of recs) assert.equal(rec.of('broadcast').filter((x) => x.id === res.id).length, 1);
    assert.equal(recA.of('broadcast').filter((x) => x.id === res.id).length, 0, 'the sender got its own broadcast');
  });

  e2e('direct: reaches a socket of the other replica (both ways) and nobody else', async (t, s) => {
    const a = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const b = await s.connect(fx.B.url, { auth: { name: 'Bob' } });
    const bystanderA = await s.connect(fx.A.url);
    const bystanderB = await s.connect(fx.B.url);
    const recs = [a, b, bystanderA, bystanderB].map((x) => new Recorder(x, ['direct', 'broadcast']));
    const res = await ack(a, 'direct', { to: b.id, data: { secret: 1 } });
    assert.equal(res.ok, true, JSON.stringify(res));
    assert.deepEqual(await recs[1].wait('direct'), { id: res.id, from: user(a, 'Ann'), data: { secret: 1 }, ts: res.ts });
    const res2 = await ack(b, 'direct', { to: a.id, data: Buffer.from('bin') });
    const got = await recs[0].wait('direct');
    assert.deepEqual(normaliseBinary(got), { id: res2.id, from: user(b, 'Bob'), data: Buffer.from('bin'), ts: res2.ts });
    await syncBroadcast(a, recs.slice(1));
    await syncBroadcast(b, [recs[0], recs[2]]);
    assert.equal(recs[1].of('direct').length, 1);
    assert.equal(recs[0].of('direct').length, 1);
    assert.deepEqual(recs[2].of('direct'), []);
    assert.deepEqual(recs[3].of('direct'), []);
  });

  e2e('presence: join, leave and disconnect reach the members of the other replica (and local ones)', async (t, s) => {
    const room = uniqueRoom('presence');
    const b = await s.connect(fx.B.url, { auth: { name: 'Bob' } });
    const a2 = await s.connect(fx.A.url, { auth: { name: 'Ann2' } });
    const recB = new Recorder(b, ['presence']);
    const recA2 = new Recorder(a2, ['presence']);
    await joinAll(room, b, a2); // b gets "join Ann2" (from the other replica)
    const a = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const recA = new Recorder(a, ['presence']);
    const ua = user(a, 'Ann'); // socket.io-client forgets socket.id on disconnect: keep it
    const isA = (action) => (p) => p.action === action && p.user?.id === ua.id;

    await joinAll(room, a);
    assert.deepEqual(await recB.wait('presence', isA('join')), { room, action: 'join', user: ua });
    assert.deepEqual(await recA2.wait('presence', isA('join')), { room, action: 'join', user: ua });

    assert.deepEqual(await ack(a, 'leave', room), { ok: true, room });
    assert.deepEqual(await recB.wait('presence', isA('leave')), { room, action: 'leave', user: ua });
    await recA2.wait('presence', isA('leave'));

    // Disconnecting sends a leave for every room.
    await joinAll(room, a);
    await recB.waitCount('presence', 2, isA('join'));
    a.close();
    await recB.waitCount('presence', 2, isA('leave'));
    await recA2.waitCount('presence', 2, isA('leave'));
    assert.deepEqual(recB.of('presence').filter(isA('leave')).at(-1), { room, action: 'leave', user: ua });

    // A join on B reaches the member on A.
    const b2 = await s.connect(fx.B.url, { auth: { name: 'Bea' } });
    await joinAll(room, b2);
    assert.deepEqual(await recA2.wait('presence', (p) => p.user?.id === b2.id), { room, action: 'join', user: user(b2, 'Bea') });
    // Nobody got presence about themselves, and nothing was duplicated.
    await barrier(b);
    assert.equal(recB.of('presence').filter((p) => p.user?.id === b.id).length, 0);
    assert.equal(recA.of('presence').filter((p) => p.user?.id === ua.id).length, 0);
    await recB.wait('presence', (p) => p.user?.id === b2.id); // local member on B
    assert.deepEqual(
      recB.of('presence').map((p) => `${p.action} ${p.user.name}`),
      ['join Ann2', 'join Ann', 'leave Ann', 'join Ann', 'leave Ann', 'join Bea'],
    );
  });

  e2e('members lists the users of both replicas, from either replica, and forgets those who left', async (t, s) => {
    const room = uniqueRoom('members');
    const a = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const a2 = await s.connect(fx.A.url);
    const b = await s.connect(fx.B.url, { auth: { name: 'Bob' } });
    const outsider = await s.connect(fx.B.url, { auth: { name: 'Out' } });
    await joinAll(room, a, a2, b);
    const all = [user(a, 'Ann'), user(a2, null), user(b, 'Bob')];
    await assertMembers(a, room, all, 'from A');
    await assertMembers(b, room, all, 'from B');
    await assertMembers(outsider, room, all, 'from an outsider on B');
    await assertMembers(a, uniqueRoom('empty'), [], 'empty room');
    assert.deepEqual(await ack(b, 'leave', room), { ok: true, room });
    await assertMembers(a, room, [user(a, 'Ann'), user(a2, null)], 'after b left');
    const recB = new Recorder(b, ['presence']);
    await joinAll(room, b);
    const a2Id = a2.id;
    a2.close();
    await recB.wait('presence', (p) => p.action === 'leave' && p.user?.id === a2Id);
    // The presence may go out just before the socket leaves the room: poll until members forgets it.
    await waitMembers(b, room, [user(a, 'Ann'), user(b, 'Bob')], 'after a2 disconnected');
  });

  e2e('the id of a socket on the other replica cannot be joined, and members(<socket id>) lists nobody', async (t, s) => {
    const a = await s.connect(fx.A.url);
    const b = await s.connect(fx.B.url);
    assertFail(await ack(a, 'join', b.id), 'bad_request', 'join(<id of a socket on B>)');
    assertFail(await ack(b, 'join', a.id), 'bad_request', 'join(<id of a socket on A>)');
    assert.deepEqual((await ack(a, 'rooms')).rooms, []);
    await assertMembers(a, b.id, [], 'members(<socket id on B>)');
    await assertMembers(b, b.id, [], 'members(<own id>)');
  });

  e2e('HTTP emit API on one replica reaches clients of both, honouring rooms and except', async (t, s) => {
    const room = uniqueRoom('api');
    const muted = uniqueRoom('muted');
    const inA = await s.connect(fx.A.url);
    const inB = await s.connect(fx.B.url);
    const mutedB = await s.connect(fx.B.url);
    const outB = await s.connect(fx.B.url);
    await joinAll(room, inA, inB, mutedB);
    await joinAll(muted, mutedB);
    const recs = [inA, inB, mutedB, outB].map((x) => new Recorder(x, ['news', 'sync']));
    const res = await postJson(
      `${fx.A.url}/api/v1/emit`,
      { event: 'news', data: { title: 'hi' }, rooms: [room], except: [muted] },
      { headers: { authorization: `Bearer ${API_KEY}` } },
    );
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true });
    assert.deepEqual(await recs[0].wait('news'), { title: 'hi' });
    assert.deepEqual(await recs[1].wait('news'), { title: 'hi' });
    const sync = await postJson(`${fx.A.url}/api/v1/emit`, { event: 'sync', data: 1 }, { headers: { authorization: `Bearer ${API_KEY}` } });
    assert.equal(sync.status, 200, sync.text);
    await Promise.all(recs.map((r) => r.wait('sync')));
    assert.deepEqual(recs[2].of('news'), [], 'except room member on B got it');
    assert.deepEqual(recs[3].of('news'), [], 'non-member on B got it');
    assert.equal(recs[1].of('news').length, 1);
  });

  e2e('HTTP API with ack collects the acks of clients on both replicas; server-emit is answered by the other replica', async (t, s) => {
    const room = uniqueRoom('ack');
    const a = await s.connect(fx.A.url);
    const b = await s.connect(fx.B.url);
    await joinAll(room, a, b);
    a.on('ask', (x, cb) => cb({ who: 'a', x }));
    b.on('ask', (x, cb) => cb({ who: 'b', x }));
    const headers = { authorization: `Bearer ${API_KEY}` };
    const res = await postJson(`${fx.A.url}/api/v1/emit`, { event: 'ask', data: 1, rooms: [room], ack: true, timeout: 4000 }, { headers, timeout: 10000 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.acks.slice().sort((x, y) => (x.who < y.who ? -1 : 1)), [
      { who: 'a', x: 1 },
      { who: 'b', x: 1 },
    ]);
    const se = await postJson(`${fx.B.url}/api/v1/server-emit`, { event: 'rust-to-rust', data: { n: 1 }, ack: true }, { headers, timeout: 10000 });
    assert.equal(se.status, 200, se.text);
    assert.deepEqual(se.json, { ok: true, acks: [{ node: 'rust-a', event: 'rust-to-rust' }] });
  });
});
