// Cluster (issue 3, test 2): one Rust replica and one Node replica (socket.io 4.8 + @socket.io/redis-adapter 8,
// classic createAdapter) on one Redis. Broadcasts both ways with rooms and except, binary and Date payloads, emit
// with ack both ways, fetchSockets from Node listing Rust sockets with their data and handshake, Rust `members`
// listing Node sockets, socketsJoin/socketsLeave/disconnectSockets from Node acting on Rust sockets, server-side
// emit both ways; then the same core against a Node peer running with publishOnSpecificResponseChannel, and a Rust
// replica running with --jwt-secret.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, barrier, normaliseBinary, waitDisconnect } from '../lib/client.mjs';
import {
  apiAuth,
  assertMembers,
  byId,
  joinAll,
  sharedCluster,
  uniqueRoom,
  waitServerCount,
} from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { postJson } from '../lib/http.mjs';
import { signToken } from '../lib/jwt.mjs';
import { onceArgs, Recorder, waitUntil, withTimeout } from '../lib/wait.mjs';

const user = (c, name) => ({ id: c.id, name });
const HANDSHAKE_KEYS = ['address', 'auth', 'headers', 'issued', 'query', 'secure', 'time', 'url', 'xdomain'];

/** Answer `event` acks with {who, got}. */
function answer(socket, who, event = 'ask') {
  socket.on(event, (got, cb) => cb?.({ who, got }));
}

/** The Node peer emits a sync tag to everyone; resolves when every recorder saw it. */
async function nodeSync(peer, recs) {
  const tag = `sync-${Math.random().toString(36).slice(2)}`;
  peer.io.emit('sync', tag);
  await Promise.all(recs.map((r) => r.wait('sync', (d) => d === tag)));
}

/** The Rust replica emits a sync tag to everyone through the HTTP API; resolves when every recorder saw it. */
async function rustSync(rust, recs) {
  const tag = `sync-${Math.random().toString(36).slice(2)}`;
  const res = await postJson(`${rust.url}/api/v1/emit`, { event: 'sync', data: tag }, { headers: apiAuth });
  assert.equal(res.status, 200, res.text);
  await Promise.all(recs.map((r) => r.wait('sync', (d) => d === tag)));
}

function apiEmit(rust, body, timeout = 10000) {
  return postJson(`${rust.url}/api/v1/emit`, body, { headers: apiAuth, timeout });
}

function apiServerEmit(rust, body, timeout = 10000) {
  return postJson(`${rust.url}/api/v1/server-emit`, body, { headers: apiAuth, timeout });
}

/** Assert that a RemoteSocket fetched by Node describes Rust client `c` as Node itself would. */
function assertRemoteRustSocket(rs, c, { data, rooms, auth, query = {}, rust }) {
  assert.equal(rs.id, c.id);
  assert.deepEqual(rs.data, data, 'socket.data must be the user object');
  assert.deepEqual([...rs.rooms].sort(), [c.id, ...rooms].sort(), 'rooms (own-id room included)');
  const hs = rs.handshake;
  assert.deepEqual(Object.keys(hs).sort(), HANDSHAKE_KEYS, `handshake keys: ${JSON.stringify(hs)}`);
  assert.equal(typeof hs.headers, 'object');
  assert.equal(hs.headers.host, `127.0.0.1:${rust.port}`, `headers.host: ${JSON.stringify(hs.headers)}`);
  assert.equal(typeof hs.time, 'string');
  assert.match(hs.time, /^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} \d{4} \d{2}:\d{2}:\d{2} GMT[+-]\d{4}/, `time ${hs.time}`);
  assert.ok(Math.abs(Date.parse(hs.time) - Date.now()) < 60000, `time ${hs.time} not near now`);
  assert.equal(hs.address, '127.0.0.1', 'address: the peer address, as Node reports it');
  assert.equal(hs.xdomain, false);
  assert.equal(hs.secure, false);
  assert.equal(typeof hs.issued, 'number');
  assert.ok(Math.abs(hs.issued - Date.now()) < 60000, `issued ${hs.issued} not epoch ms near now`);
  assert.ok(hs.url.startsWith('/socket.io/?'), `url ${hs.url}`);
  assert.deepEqual(hs.query, { EIO: '4', transport: 'websocket', ...query }, 'query (decoded as Node does)');
  assert.deepEqual(hs.auth, auth, 'auth (without token)');
}

/** The core Rust <-> Node tests, run against a classic Node peer with the given adapter options. */
function coreSuite(fx) {
  e2e('Node -> Rust: broadcasts to all, to a room, with except, to several rooms and to a Rust socket id', async (t, s) => {
    const r1 = uniqueRoom('r1');
    const r3 = uniqueRoom('r3');
    const muted = uniqueRoom('muted');
    const ra = await s.connect(fx.A.url, { auth: { name: 'ra' } });
    const rm = await s.connect(fx.A.url);
    const rout = await s.connect(fx.A.url);
    await joinAll(r1, ra, rm);
    await joinAll(r3, ra, rout);
    await joinAll(muted, rm);
    const recs = [ra, rm, rout].map((c) => new Recorder(c, ['news', 'all', 'multi', 'private', 'exc', 'sync']));
    const [recA, recM, recOut] = recs;
    const io = fx.N.io;

    io.to(r1).except(muted).emit('news', { n: 1 });
    io.emit('all', 'everyone', 2);
    io.to([r1, r3]).emit('multi', 3);
    io.to(ra.id).emit('private', 'for ra');
    io.except(rm.id).emit('exc', 4);

    assert.deepEqual(await recA.wait('news'), { n: 1 });
    for (const rec of recs) assert.deepEqual((await rec.wait('all')) ?? null, 'everyone');
    assert.deepEqual(recA.log.find((r) => r.event === 'all').args, ['everyone', 2], 'every argument is relayed');
    for (const rec of recs) assert.equal(await rec.wait('multi'), 3);
    assert.equal(await recA.wait('private'), 'for ra');
    assert.equal(await recA.wait('exc'), 4);
    assert.equal(await recOut.wait('exc'), 4);
    await nodeSync(fx.N, recs);
    assert.deepEqual(recM.of('news'), [], 'member of the except room got news');
    assert.deepEqual(recOut.of('news'), [], 'non-member got news');
    for (const rec of recs) assert.equal(rec.of('multi').length, 1, 'to([r1, r3]) delivered twice');
    assert.deepEqual([...recM.of('private'), ...recOut.of('private')], [], 'private message leaked');
    assert.deepEqual(recM.of('exc'), [], 'except(<socket id>) ignored');
  });

  e2e('Rust -> Node: message, broadcast, direct and the HTTP API (rooms, except) reach Node clients', async (t, s) => {
    const r1 = uniqueRoom('r1');
    const muted = uniqueRoom('muted');
    const ra = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const na = await s.connect(fx.N.url, { auth: { name: 'Nia' } });
    const nm = await s.connect(fx.N.url);
    const nout = await s.connect(fx.N.url);
    await joinAll(r1, ra, na, nm);
    await joinAll(muted, nm);
    const recs = [na, nm, nout].map((c) => new Recorder(c, ['message', 'broadcast', 'direct', 'news', 'sync']));
    const [recA, recM, recOut] = recs;

    const m = await ack(ra, 'message', { room: r1, data: { text: 'hi', bin: Buffer.from([1, 2]) } });
    assert.equal(m.ok, true, JSON.stringify(m));
    const expected = { id: m.id, room: r1, from: user(ra, 'Ann'), data: { text: 'hi', bin: Buffer.from([1, 2]) }, ts: m.ts };
    assert.deepEqual(normaliseBinary(await recA.wait('message')), expected);
    assert.deepEqual(normaliseBinary(await recM.wait('message')), expected);

    const b = await ack(ra, 'broadcast', 'to all');
    for (const rec of recs) {
      assert.deepEqual(await rec.wait('broadcast'), { id: b.id, from: user(ra, 'Ann'), data: 'to all', ts: b.ts });
    }

    const d = await ack(ra, 'direct', { to: na.id, data: 'psst' });
    assert.deepEqual(await recA.wait('direct'), { id: d.id, from: user(ra, 'Ann'), data: 'psst', ts: d.ts });

    const res = await apiEmit(fx.A, { event: 'news', data: { title: 'api' }, rooms: [r1], except: [muted] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(await recA.wait('news'), { title: 'api' });

    await rustSync(fx.A, recs);
    assert.deepEqual(recOut.of('message'), [], 'non-member got the room message');
    assert.deepEqual([...recM.of('direct'), ...recOut.of('direct')], [], 'direct leaked');
    assert.deepEqual([...recM.of('news'), ...recOut.of('news')], [], 'API rooms/except ignored');
    for (const rec of recs) assert.equal(rec.of('broadcast').length, 1);
  });

  e2e('binary and Date payloads: Node Buffers arrive as binary, Dates as ISO strings; Rust binary reaches Node', async (t, s) => {
    const room = uniqueRoom('bin');
    const rc = await s.connect(fx.A.url);
    const nc = await s.connect(fx.N.url);
    await joinAll(room, rc, nc);
    const recR = new Recorder(rc, ['bin', 'date']);
    const recN = new Recorder(nc, ['message', 'broadcast']);
    const io = fx.N.io;

    io.to(room).emit('bin', Buffer.from([1, 2, 3]), { nested: Buffer.from('xyz'), list: [Buffer.from([0, 255])], n: 1 });
    await recR.wait('bin');
    assert.deepEqual(normaliseBinary(recR.log.find((r) => r.event === 'bin').args), [
      Buffer.from([1, 2, 3]),
      { nested: Buffer.from('xyz'), list: [Buffer.from([0, 255])], n: 1 },
    ]);

    const when = new Date(1700000000000);
    io.to(room).emit('date', when, { at: new Date(0), label: 'epoch' });
    await recR.wait('date');
    assert.deepEqual(recR.log.find((r) => r.event === 'date').args, [
      '2023-11-14T22:13:20.000Z',
      { at: '1970-01-01T00:00:00.000Z', label: 'epoch' },
    ]);

    const payload = { top: Buffer.from('top'), deep: { list: [1, Buffer.from([9, 8, 7])] } };
    const m = await ack(rc, 'message', { room, data: payload });
    assert.deepEqual(normaliseBinary((await recN.wait('message', (x) => x.id === m.id)).data), payload);
    const b = await ack(rc, 'broadcast', Buffer.from([42]));
    assert.deepEqual(normaliseBinary((await recN.wait('broadcast', (x) => x.id === b.id)).data), Buffer.from([42]));
  });

  /** Clients for the ack tests: room members that answer, and a `silent` room with members that never answer. */
  async function ackSetup(s) {
    const c = { room: uniqueRoom('ack'), silent: uniqueRoom('silent'), empty: uniqueRoom('empty') };
    c.ra1 = await s.connect(fx.A.url);
    c.ra2 = await s.connect(fx.A.url);
    c.rmute = await s.connect(fx.A.url);
    c.na = await s.connect(fx.N.url);
    c.nmute = await s.connect(fx.N.url);
    await joinAll(c.room, c.ra1, c.ra2, c.na);
    await joinAll(c.silent, c.ra1, c.rmute, c.na, c.nmute);
    answer(c.ra1, 'ra1');
    answer(c.ra2, 'ra2');
    answer(c.na, 'na');
    c.rmute.on('ask', () => {}); // receives, never acknowledges
    c.nmute.on('ask', () => {});
    return c;
  }
  const sortWho = (l) => l.slice().sort((x, y) => (x.who < y.who ? -1 : 1));

  e2e('emit with ack, Node -> Rust: emitWithAck collects the acks of Rust clients; an empty room resolves at once', async (t, s) => {
    const c = await ackSetup(s);
    const io = fx.N.io;
    const acks = await io.to(c.room).timeout(4000).emitWithAck('ask', 5);
    assert.deepEqual(sortWho(acks), [
      { who: 'na', got: 5 },
      { who: 'ra1', got: 5 },
      { who: 'ra2', got: 5 },
    ]);
    // A room without members: the Rust server must answer a client count of 0, not let Node wait for its timeout.
    const t0 = Date.now();
    assert.deepEqual(await io.to(c.empty).timeout(4000).emitWithAck('ask', 0), []);
    assert.ok(Date.now() - t0 < 3000, `empty-room emitWithAck took ${Date.now() - t0} ms (timeout 4000)`);
  });

  e2e('emit with ack, Node -> Rust: on timeout Node gets the error with the acks of the Rust clients that did answer', async (t, s) => {
    const c = await ackSetup(s);
    const t0 = Date.now();
    const [err, partial] = await withTimeout(
      new Promise((resolve) => fx.N.io.to(c.silent).timeout(1500).emit('ask', 6, (e, r) => resolve([e, r]))),
      6000,
      'Node emit-with-ack timeout callback',
    );
    assert.ok(err instanceof Error, `expected a timeout error, got ${err}`);
    assert.ok(Date.now() - t0 >= 1400, 'the timeout fired early');
    // Node's own peers publish each client ack as it arrives; ra1 answered at once.
    assert.deepEqual(sortWho(partial), [
      { who: 'na', got: 6 },
      { who: 'ra1', got: 6 },
    ]);
  });

  e2e('emit with ack, Node -> Rust: a pending ack wait on the Rust node does not stall other cluster traffic', async (t, s) => {
    const c = await ackSetup(s);
    const rec = new Recorder(c.ra2, ['during']);
    const pending = new Promise((resolve) => fx.N.io.to(c.silent).timeout(3000).emit('ask', 0, (e, r) => resolve([e, r])));
    const t0 = Date.now();
    fx.N.io.emit('during', 1);
    await rec.wait('during', () => true, 5000);
    const took = Date.now() - t0;
    await pending;
    assert.ok(took < 1000, `a broadcast took ${took} ms to cross while a broadcast-with-ack waited for a silent client`);
  });

  e2e('emit with ack, Rust API -> Node: POST /api/v1/emit {ack: true} collects the acks of Node clients', async (t, s) => {
    const c = await ackSetup(s);
    let res = await apiEmit(fx.A, { event: 'ask', data: 7, rooms: [c.room], ack: true, timeout: 4000 });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.ok, true, res.text);
    assert.deepEqual(sortWho(res.json.acks), [
      { who: 'na', got: 7 },
      { who: 'ra1', got: 7 },
      { who: 'ra2', got: 7 },
    ]);
    // A room without members: {ok: true, acks: []} without waiting for the timeout.
    const t0 = Date.now();
    res = await apiEmit(fx.A, { event: 'ask', data: 0, rooms: [c.empty], ack: true, timeout: 4000 });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, acks: [] });
    assert.ok(Date.now() - t0 < 3000, `empty-room API ack took ${Date.now() - t0} ms (timeout 4000)`);
  });

  e2e('emit with ack, Rust API -> Node: clients that never answer (one per server) give 504 with the partial acks', async (t, s) => {
    const c = await ackSetup(s);
    const t0 = Date.now();
    const res = await apiEmit(fx.A, { event: 'ask', data: 8, rooms: [c.silent], ack: true, timeout: 1500 });
    assert.equal(res.status, 504, res.text);
    assert.equal(res.json.ok, false, res.text);
    assert.equal(res.json.error, 'timeout', res.text);
    assert.equal(typeof res.json.message, 'string');
    assert.deepEqual(sortWho(res.json.acks), [
      { who: 'na', got: 8 },
      { who: 'ra1', got: 8 },
    ]);
    assert.ok(Date.now() - t0 >= 1400, 'the API timeout fired early');
  });

  e2e('fetchSockets from Node lists Rust sockets with data (the user), rooms and a Node-shaped handshake; allRooms too', async (t, s) => {
    const room = uniqueRoom('fetch');
    const ra = await s.connect(fx.A.url, { auth: { name: 'Ann' }, query: { tag: 'x y/é' } });
    const rb = await s.connect(fx.A.url);
    const nc = await s.connect(fx.N.url, { auth: { name: 'Nia' } });
    await joinAll(room, ra, rb, nc);
    const io = fx.N.io;

    const socks = await io.in(room).fetchSockets();
    assert.deepEqual(socks.map((x) => x.id).sort(), [ra.id, rb.id, nc.id].sort());
    assertRemoteRustSocket(socks.find((x) => x.id === ra.id), ra, {
      data: user(ra, 'Ann'),
      rooms: [room],
      auth: { name: 'Ann' },
      query: { tag: 'x y/é' },
      rust: fx.A,
    });
    assertRemoteRustSocket(socks.find((x) => x.id === rb.id), rb, { data: user(rb, null), rooms: [room], auth: {}, rust: fx.A });
    assert.deepEqual(socks.find((x) => x.id === nc.id).data, user(nc, 'Nia'));

    // One socket by id, except, and the whole namespace.
    assert.deepEqual((await io.in(ra.id).fetchSockets()).map((x) => x.id), [ra.id]);
    assert.deepEqual((await io.in(room).except(rb.id).fetchSockets()).map((x) => x.id).sort(), [ra.id, nc.id].sort());
    const all = (await io.fetchSockets()).map((x) => x.id);
    for (const id of [ra.id, rb.id, nc.id]) assert.ok(all.includes(id), `fetchSockets() misses ${id}`);

    // A remote socket can be acted upon.
    const rec = new Recorder(ra, ['poke']);
    socks.find((x) => x.id === ra.id).emit('poke', 1);
    assert.equal(await rec.wait('poke'), 1);

    const rooms = await fx.N.adapter.allRooms();
    for (const r of [room, ra.id, rb.id]) assert.ok(rooms.has(r), `allRooms() misses ${r}`);
  });

  e2e('Rust members lists Node sockets with the data the Node server set', async (t, s) => {
    const room = uniqueRoom('members');
    const ra = await s.connect(fx.A.url, { auth: { name: 'Ann' } });
    const na = await s.connect(fx.N.url, { auth: { name: 'Nia' } });
    const nb = await s.connect(fx.N.url);
    await joinAll(room, ra, na, nb);
    await assertMembers(ra, room, [user(ra, 'Ann'), user(na, 'Nia'), user(nb, null)]);
    await ack(nb, 'leave', room);
    await assertMembers(ra, room, [user(ra, 'Ann'), user(na, 'Nia')], 'after a Node socket left');
  });

  e2e('socketsJoin, socketsLeave and disconnectSockets from Node act on Rust sockets', async (t, s) => {
    const room = uniqueRoom('ops');
    const added = uniqueRoom('added');
    const ra = await s.connect(fx.A.url);
    const rb = await s.connect(fx.A.url);
    const rc = await s.connect(fx.A.url);
    const nc = await s.connect(fx.N.url);
    await joinAll(room, ra, rb, nc);
    const io = fx.N.io;
    const ids = (list) => list.map((x) => x.id).sort();

    io.in(room).socketsJoin(added);
    // fetchSockets travels on the same request channel after the join: the Rust node answers after applying it.
    // (The Node peer applies its own join when the message comes back from Redis, so its socket may be missing.)
    const rustIds = (list) => ids(list).filter((id) => id !== nc.id);
    assert.deepEqual(rustIds(await io.in(added).fetchSockets()), [ra.id, rb.id].sort());
    const recs = [ra, rb, rc].map((c) => new Recorder(c, ['to-added', 'sync']));
    io.to(added).emit('to-added', 1);
    await recs[0].wait('to-added');
    await recs[1].wait('to-added');
    await nodeSync(fx.N, recs);
    assert.deepEqual(recs[2].of('to-added'), []);

    io.in(rb.id).socketsLeave(added);
    assert.deepEqual(ids(await io.in(added).fetchSockets()), [ra.id, nc.id].sort());

    io.in(room).disconnectSockets(true);
    assert.equal(await waitDisconnect(ra), 'io server disconnect');
    assert.equal(await waitDisconnect(rb), 'io server disconnect');
    assert.equal(await waitDisconnect(nc), 'io server disconnect');
    await barrier(rc);
    assert.equal(rc.connected, true, 'a socket outside the room was disconnected');
    // A client may see its disconnect just before its server has removed it from its rooms: poll.
    let left;
    await waitUntil(async () => (left = ids(await io.in(room).fetchSockets())).length === 0, {
      timeout: 5000,
      what: 'fetchSockets to list nobody after disconnectSockets',
    }).catch((e) => {
      throw new Error(`${e.message}; last: ${JSON.stringify(left)}`);
    });
  });

  e2e('server-side emit both ways: Node serverSideEmitWithAck answered by Rust; Rust /api/v1/server-emit answered by Node', async (t, s) => {
    const nsp = fx.N.io.of('/');
    const t0 = Date.now();
    const replies = await fx.N.io.serverSideEmitWithAck('ping-rust', { x: 1 });
    assert.deepEqual(replies, [{ node: 'rust-a', event: 'ping-rust' }]);
    assert.ok(Date.now() - t0 < 2500, `serverSideEmitWithAck took ${Date.now() - t0} ms`);
    fx.N.io.serverSideEmit('fire-and-forget', 1); // no ack expected: must not disturb the next request
    assert.deepEqual(await fx.N.io.serverSideEmitWithAck('ping-again'), [{ node: 'rust-a', event: 'ping-again' }]);

    const handler = (data, cb) => cb({ from: 'node', got: data });
    nsp.on('hello-node', handler);
    t.after(() => nsp.off('hello-node', handler));
    const res = await apiServerEmit(fx.A, { event: 'hello-node', data: { y: [1, 'two'] }, ack: true });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, acks: [{ from: 'node', got: { y: [1, 'two'] } }] });

    const got = onceArgs(nsp, 'note', { timeout: 5000 });
    const res2 = await apiServerEmit(fx.A, { event: 'note', data: 'n' });
    assert.equal(res2.status, 200, res2.text);
    assert.deepEqual(res2.json, { ok: true });
    assert.deepEqual(await got, ['n'], 'a server-side emit without ack carries no callback');
  });
}

describe('cluster: Rust + Node replicas, classic mode', () => {
  const fx = sharedCluster(async (fx) => {
    fx.r = await fx.redis();
    fx.A = await fx.rust(fx.r, { nodeId: 'rust-a' });
    fx.N = await fx.peer({ url: fx.r.url, requestsTimeout: 3000 });
    await waitServerCount(fx.r, 2);
  });
  coreSuite(fx);
});

describe('cluster: Rust + Node replicas, Node peer with publishOnSpecificResponseChannel', () => {
  const fx = sharedCluster(async (fx) => {
    fx.r = await fx.redis();
    fx.A = await fx.rust(fx.r, { nodeId: 'rust-a' });
    fx.N = await fx.peer({ url: fx.r.url, requestsTimeout: 3000, publishOnSpecificResponseChannel: true });
    await waitServerCount(fx.r, 2);
  });
  coreSuite(fx);
});

describe('cluster: Rust replica with --jwt-secret + Node replica', () => {
  const fx = sharedCluster(async (fx) => {
    fx.r = await fx.redis();
    fx.A = await fx.rust(fx.r, { nodeId: 'rust-jwt', extra: ['--jwt-secret', 'e2e-test-secret-0123456789abcdef'] });
    fx.N = await fx.peer({ url: fx.r.url, requestsTimeout: 3000 });
    await waitServerCount(fx.r, 2);
  });

  e2e('fetchSockets: data carries userId, handshake.auth never carries the token', async (t, s) => {
    const room = uniqueRoom('jwt');
    const token = signToken({ sub: 'user-42', name: 'Jay' });
    const rc = await s.connect(fx.A.url, { auth: { token } });
    const rd = await s.connect(fx.A.url, { auth: { token: signToken({ sub: 'user-7' }), name: 'Dee' } });
    await joinAll(room, rc, rd);
    const socks = (await fx.N.io.in(room).fetchSockets()).sort(byId);
    const byIdMap = Object.fromEntries(socks.map((x) => [x.id, x]));
    assertRemoteRustSocket(byIdMap[rc.id], rc, {
      data: { id: rc.id, name: 'Jay', userId: 'user-42' },
      rooms: [room],
      auth: {},
      rust: fx.A,
    });
    assertRemoteRustSocket(byIdMap[rd.id], rd, {
      data: { id: rd.id, name: 'Dee', userId: 'user-7' },
      rooms: [room],
      auth: { name: 'Dee' },
      rust: fx.A,
    });
    assert.ok(!JSON.stringify(socks.map((x) => x.handshake)).includes(token.split('.')[2]), 'the token leaked');
  });
});
