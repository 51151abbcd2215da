// Connection state recovery after a replica is killed (`kill -9`), in streams mode behind HAProxy (the shipped
// config), with the real socket.io-client 4.x. Node keeps a session only at disconnect, so a crashed server's
// clients lose theirs; here a connected socket's session is kept current in Redis. A client on replica A joined
// rooms and received events; A is killed; messages go to its rooms and to it directly (from a client on B and from
// B's HTTP API); it comes back through the proxy on B: `recovered === true`, same id, same rooms (a broadcast to each
// reaches it afterwards), every missed message once and in order. A client that left A with a namespace disconnect
// before the crash does not recover.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, waitConnected } from '../lib/client.mjs';
import { uniqueRoom } from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { postJson } from '../lib/http.mjs';
import { SHIPPED, Topology } from '../lib/proxy.mjs';
import { Pins, assertOffsets, received, recording, send } from '../lib/recovery.mjs';
import { waitUntil } from '../lib/wait.mjs';

/** Long enough for the whole test: after the crash the client must come back within it. */
const MAX_DISCONNECTION_MS = 8000;
const API_KEY = 'e2e-recovery-crash-key-51f0';

/** The stored session of `pid` (base64 MessagePack), or null. */
const sessionOf = (redis, pid) => redis.cmd('GET', `sio:session:${pid}`);

/** Whether a stored session names `room` (strings are stored as they are inside the MessagePack). */
const names = (stored, room) => typeof stored === 'string' && Buffer.from(stored, 'base64').includes(Buffer.from(room));

describe('connection state recovery after kill -9 of a replica (streams mode, HAProxy)', () => {
  e2e('the client recovers on B with its id, rooms and every missed message; a namespace disconnect does not recover', { timeout: 45000 }, async (t, s) => {
    const topo = new Topology('haproxy.cfg, streams, kill -9');
    t.after(() => topo.destroy());
    const args = ['--redis-mode', 'streams', '--recovery', 'on', '--recovery-max-disconnection', `${MAX_DISCONNECTION_MS}ms`, '--api-key', API_KEY];
    const [a, b] = await topo.start({ count: 2, prefix: 'rc', mode: 'streams', args });
    const hp = await topo.haproxy({ file: SHIPPED.haproxy, replicas: topo.live });
    const pins = new Pins(hp.url);
    await pins.learn([a.nodeId, b.nodeId]);

    const [room1, room2, other] = [uniqueRoom(), uniqueRoom(), uniqueRoom()];
    const alice = pins.client(a.nodeId, 'alice');
    const dave = pins.client(a.nodeId, 'dave');
    const bob = recording(b.url, 'bob');
    s.defer(() => [alice, dave, bob].forEach((c) => c.close()));
    await Promise.all([alice, dave, bob].map((c) => waitConnected(c)));
    assert.deepEqual([alice.nodes.at(-1), dave.nodes.at(-1)], [a.nodeId, a.nodeId], 'alice and dave on A');
    for (const room of [room1, room2]) {
      await send(alice, 'join', room);
      await send(bob, 'join', room);
    }
    await send(bob, 'join', other);
    await send(dave, 'join', room1);
    await send(bob, 'message', { room: room1, data: 0 });
    await waitUntil(() => alice.events.length === 1 && dave.events.length === 1, { what: 'first message on A' });

    // While connected, alice's session is in Redis with both rooms (A writes it off her events' path).
    await waitUntil(async () => {
      const stored = await sessionOf(topo.redis, alice._pid);
      return names(stored, room1) && names(stored, room2);
    }, { what: "alice's live session with both rooms" });

    // dave leaves with a namespace disconnect: his session goes from Redis.
    const [daveId, davePid] = [dave.id, dave._pid];
    await waitUntil(async () => names(await sessionOf(topo.redis, davePid), room1), { what: "dave's live session" });
    dave.disconnect();
    await waitUntil(async () => (await sessionOf(topo.redis, davePid)) === null, { what: "dave's session deleted" });

    // kill -9 A; meanwhile, messages to alice's rooms, to her directly, and elsewhere.
    const id = alice.id;
    const killed = await a.kill();
    assert.equal(killed?.signal, 'SIGKILL');
    await waitUntil(() => !alice.connected, { what: 'alice cut by the crash' });
    const mark = alice.events.length;
    await send(bob, 'message', { room: room1, data: 1 });
    await send(bob, 'direct', { to: id, data: 2 });
    await send(bob, 'message', { room: other, data: 'not for alice' });
    await send(bob, 'message', { room: room2, data: 3 });
    const api = await postJson(
      `${b.url}/api/v1/emit`,
      { event: 'news', data: { data: 4 }, rooms: [room1] },
      { headers: { authorization: `Bearer ${API_KEY}` } },
    );
    assert.equal(api.status, 200, api.text);

    // Back through the proxy, on B.
    pins.pin(alice, b.nodeId);
    alice.connect();
    await waitConnected(alice);
    assert.equal(alice.nodes.at(-1), b.nodeId, 'the proxy sent alice to B');
    assert.equal(alice.recovered, true, 'recovered after A was killed');
    assert.equal(alice.id, id);
    assert.deepEqual((await ack(alice, 'rooms')).rooms.sort(), [room1, room2].sort());
    assert.deepEqual(received(alice, mark), [['message', 1], ['direct', 2], ['message', 3], ['news', 4]]);
    assertOffsets(alice, mark);

    // Her rooms are B's now: a broadcast to each reaches her, once.
    const later = alice.events.length;
    await send(bob, 'message', { room: room2, data: 5 });
    await send(bob, 'message', { room: room1, data: 6 });
    await waitUntil(() => alice.events.length >= later + 2, { what: 'the broadcasts after the recovery' });
    assert.deepEqual(received(alice, later), [['message', 5], ['message', 6]]);

    // dave, who left with a namespace disconnect before the crash, gets a new session.
    pins.pin(dave, b.nodeId);
    dave.connect();
    await waitConnected(dave);
    assert.equal(dave.recovered, false, 'a namespace disconnect is not recovered');
    assert.notEqual(dave.id, daveId);
  });
});
