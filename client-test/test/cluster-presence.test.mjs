// Issue 6: presence must not make big rooms quadratic. On two Rust replicas sharing one Redis:
// - with the defaults, presence (join, leave, disconnect) reaches the members of small rooms on every replica;
// - with --presence off, no presence event at all, and members still answers;
// - above --presence-max-members (local members on the replica handling the join or leave) none is sent;
// (cluster-presence-scale.test.mjs: 5,000 clients joining one room.)

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { assertMembers, joinAll, sharedCluster, uniqueRoom, waitMembers, waitServerCount } from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { Recorder } from '../lib/wait.mjs';

const user = (c, name = null) => ({ id: c.id, name });

/** `from` sends a room message; resolves when every recorder got it (what `from`'s replica sent before is delivered). */
async function syncMessage(from, room, recs) {
  const res = await ack(from, 'message', { room, data: 'sync' });
  assert.equal(res.ok, true, JSON.stringify(res));
  await Promise.all(recs.map((r) => r.wait('message', (m) => m.id === res.id)));
}

function twoReplicas(extra) {
  return sharedCluster(async (fx) => {
    fx.r = await fx.redis();
    fx.A = await fx.rust(fx.r, { nodeId: 'rust-a', extra });
    fx.B = await fx.rust(fx.r, { nodeId: 'rust-b', extra });
    await waitServerCount(fx.r, 2);
  });
}

describe('presence with the defaults (two replicas)', () => {
  const fx = twoReplicas([]);

  e2e('join, leave and disconnect in a small room reach the other members on both replicas, never the actor', async (t, s) => {
    const room = uniqueRoom('small');
    const a = await s.connect(fx.A.url, { auth: { name: 'a' } });
    const b = await s.connect(fx.B.url, { auth: { name: 'b' } });
    await joinAll(room, a, b);
    const recA = new Recorder(a, ['presence', 'message']);
    const recB = new Recorder(b, ['presence', 'message']);
    for (const [url, name] of [[fx.A.url, 'onA'], [fx.B.url, 'onB']]) {
      const c = await s.connect(url, { auth: { name } });
      const recC = new Recorder(c, ['presence']);
      const u = user(c, name);
      await joinAll(room, c);
      for (const rec of [recA, recB]) {
        assert.deepEqual(await rec.wait('presence', (p) => p.user.id === u.id && p.action === 'join'), { room, action: 'join', user: u });
      }
      assert.deepEqual(await ack(c, 'leave', room), { ok: true, room });
      for (const rec of [recA, recB]) {
        assert.deepEqual(await rec.wait('presence', (p) => p.user.id === u.id && p.action === 'leave'), { room, action: 'leave', user: u });
      }
      await joinAll(room, c);
      c.close();
      for (const rec of [recA, recB]) {
        await rec.waitCount('presence', 2, (p) => p.user.id === u.id && p.action === 'leave');
      }
      assert.deepEqual(recC.of('presence'), [], `${name} got presence about itself`);
    }
  });
});

describe('--presence off (two replicas)', () => {
  const fx = twoReplicas(['--presence', 'off']);

  e2e('no presence event for join, leave or disconnect on any replica; members still lists both replicas', async (t, s) => {
    const room = uniqueRoom('quiet');
    const a = await s.connect(fx.A.url, { auth: { name: 'a' } });
    const b = await s.connect(fx.B.url, { auth: { name: 'b' } });
    const recs = [a, b].map((c) => new Recorder(c, ['presence', 'message']));
    await joinAll(room, a, b);
    const a2 = await s.connect(fx.A.url, { auth: { name: 'a2' } });
    const b2 = await s.connect(fx.B.url, { auth: { name: 'b2' } });
    recs.push(new Recorder(a2, ['presence', 'message']), new Recorder(b2, ['presence', 'message']));
    await joinAll(room, a2, b2);
    await assertMembers(a, room, [user(a, 'a'), user(b, 'b'), user(a2, 'a2'), user(b2, 'b2')], 'members with presence off');
    assert.deepEqual(await ack(a2, 'leave', room), { ok: true, room });
    assert.deepEqual(await ack(b2, 'leave', room), { ok: true, room });
    await joinAll(room, a2, b2);
    a2.close();
    b2.close();
    // Disconnects are processed once members no longer lists them.
    await waitMembers(a, room, [user(a, 'a'), user(b, 'b')], 'after the disconnects');
    await syncMessage(a, room, [recs[1]]);
    await syncMessage(b, room, [recs[0]]);
    for (const rec of recs) assert.deepEqual(rec.of('presence'), [], 'a presence event was sent with --presence off');
  });
});

describe('--presence-max-members 3 (two replicas)', () => {
  const fx = twoReplicas(['--presence-max-members', '3']);

  e2e('a small room still gets presence on both replicas', async (t, s) => {
    const room = uniqueRoom('small');
    const a = await s.connect(fx.A.url);
    const b = await s.connect(fx.B.url);
    await joinAll(room, a, b);
    const recs = [a, b].map((c) => new Recorder(c, ['presence']));
    const c = await s.connect(fx.A.url, { auth: { name: 'c' } });
    await joinAll(room, c);
    for (const rec of recs) {
      assert.deepEqual(await rec.wait('presence', (p) => p.user.id === c.id), { room, action: 'join', user: user(c, 'c') });
    }
  });

  e2e('above the threshold of local members: no presence for join, leave or disconnect, on any replica', async (t, s) => {
    const room = uniqueRoom('big');
    const b = await s.connect(fx.B.url, { auth: { name: 'b' } });
    const locals = [];
    for (let i = 0; i < 5; i++) locals.push(await s.connect(fx.A.url, { auth: { name: `a${i}` } }));
    const watchers = [...locals.slice(0, 4), b];
    const recs = watchers.map((c) => new Recorder(c, ['presence', 'message']));
    await joinAll(room, b, ...locals);
    // Everything the filling sent has arrived once a message sent after it from each replica has.
    await syncMessage(locals[0], room, recs.slice(1));
    await syncMessage(b, room, recs.slice(0, 4));
    const seen = recs.map((r) => r.of('presence').length);

    // 5 local members on A (> 3): a 6th joining and leaving on A, and a member disconnecting, send nothing.
    const extra = await s.connect(fx.A.url, { auth: { name: 'extra' } });
    await joinAll(room, extra);
    assert.deepEqual(await ack(extra, 'leave', room), { ok: true, room });
    locals[4].close();
    // The disconnect is processed once members stops listing it.
    await waitMembers(b, room, [...locals.slice(0, 4).map((c, i) => user(c, `a${i}`)), user(b, 'b')], 'after the disconnect');
    await syncMessage(locals[0], room, recs.slice(1));
    for (const [i, rec] of recs.entries()) {
      assert.deepEqual(rec.of('presence').slice(seen[i]), [], `watcher ${i} got presence in a room with more than 3 local members`);
    }
  });

  e2e('the threshold counts the local members of the replica that handles the join (README)', async (t, s) => {
    // 5 members on A, 1 on B: a join on B (2 local members there) still sends presence, to both replicas.
    const room = uniqueRoom('mixed');
    const locals = [];
    for (let i = 0; i < 5; i++) locals.push(await s.connect(fx.A.url));
    const b = await s.connect(fx.B.url);
    await joinAll(room, ...locals, b);
    const recs = [locals[0], b].map((c) => new Recorder(c, ['presence']));
    const b2 = await s.connect(fx.B.url, { auth: { name: 'b2' } });
    await joinAll(room, b2);
    for (const rec of recs) {
      assert.deepEqual(await rec.wait('presence', (p) => p.user.id === b2.id), { room, action: 'join', user: user(b2, 'b2') });
    }
  });
});
