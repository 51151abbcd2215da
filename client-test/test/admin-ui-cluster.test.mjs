// The socket.io Admin UI across a cluster (issue 18): two Rust replicas and a Node replica running instrument()
// of the real @socket.io/admin-ui package, on one Redis. Sessions made on one replica work on the others; a UI
// connected to any replica gets the server_stats of all three, every socket (all_sockets) and every replica's
// live events; the UI's actions (join, leave, emit, _disconnect) reach sockets on every replica, Rust or Node.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { CREDENTIALS, USERNAME, adminArgs, instrumentPeer, uiClient } from '../lib/admin-ui.mjs';
import { ack, waitConnectError, waitConnected, waitDisconnect } from '../lib/client.mjs';
import { sharedCluster, uniqueRoom, waitServerCount } from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { onceArgs } from '../lib/wait.mjs';

const SERVERS = ['rust-a', 'rust-b', 'node-peer'];
const SOCKET_KEYS = ['clientId', 'data', 'handshake', 'id', 'nsp', 'rooms', 'transport'];
const HANDSHAKE_KEYS = ['address', 'headers', 'issued', 'query', 'secure', 'time', 'url', 'xdomain'];

describe('admin UI across two Rust replicas and a Node replica running instrument()', () => {
  const fx = sharedCluster(async (fx) => {
    fx.r = await fx.redis();
    fx.a = await fx.rust(fx.r, { nodeId: 'rust-a', extra: adminArgs() });
    fx.b = await fx.rust(fx.r, { nodeId: 'rust-b', extra: adminArgs() });
    fx.node = await fx.peer({ url: fx.r.url, setup: (io, peer) => instrumentPeer(io, peer) });
    await waitServerCount(fx.r, 3);
    await waitServerCount(fx.r, 3, { nsp: '/admin' });
  });

  /** A UI logged in on `server` (with its recorder), and its session id. */
  async function login(s, server, auth = CREDENTIALS) {
    const ui = uiClient(s, server.url, auth);
    await waitConnected(ui);
    return ui;
  }

  e2e('a session made on one replica logs in on every other, Rust or Node', async (t, s) => {
    const onA = await login(s, fx.a);
    const sessionId = await onA.rec.wait('session');
    for (const server of [fx.b, fx.node]) {
      const ui = await login(s, server, { sessionId });
      await ui.rec.wait('config');
      assert.deepEqual(ui.rec.of('session'), [], `no new session on ${server.url}`);
    }
    const onNode = await login(s, fx.node);
    const nodeSession = await onNode.rec.wait('session');
    assert.match(nodeSession, /^[0-9a-f]{16}$/);
    await login(s, fx.b, { sessionId: nodeSession });
    assert.equal(await fx.r.cmd('TTL', `socket.io-admin#${sessionId}`).then(Number) > 86000, true, 'EX 86400');
    for (const server of [fx.b, fx.node]) {
      const err = await waitConnectError(uiClient(s, server.url, { username: USERNAME, password: 'nope' }));
      assert.equal(err.message, 'invalid credentials');
    }
  });

  e2e('one dashboard: a UI on any replica gets the server_stats of all three, in one shape', async (t, s) => {
    for (const server of [fx.a, fx.node]) {
      const ui = await login(s, server);
      const seen = {};
      await Promise.all(SERVERS.map(async (id) => (seen[id] = await ui.rec.wait('server_stats', (st) => st.serverId === id, 8000))));
      const keys = (o) => Object.keys(o).sort();
      assert.deepEqual(keys(seen['rust-a']), keys(seen['node-peer']), 'server_stats keys as Node sends them');
      assert.deepEqual(keys(seen['rust-b']), keys(seen['node-peer']));
      assert.ok(seen['rust-a'].namespaces.some((n) => n.name === '/admin'));
    }
  });

  e2e('all_sockets lists every replica\'s sockets; live events of every replica reach a UI on any replica', async (t, s) => {
    const room = uniqueRoom('watch');
    const cA = await s.connect(fx.a.url, { auth: { name: 'on-a' } });
    const cB = await s.connect(fx.b.url, { auth: { name: 'on-b' } });
    const cN = await s.connect(fx.node.url, { auth: { name: 'on-node' } });
    await ack(cB, 'join', room);
    const uiA = await login(s, fx.a);
    const uiN = await login(s, fx.node);
    for (const ui of [uiA, uiN]) {
      const all = await ui.rec.wait('all_sockets');
      for (const [c, name] of [[cA, 'on-a'], [cB, 'on-b'], [cN, 'on-node']]) {
        const sock = all.find((x) => x.id === c.id && x.nsp === '/');
        assert.ok(sock, `${name} missing from all_sockets`);
        assert.deepEqual(Object.keys(sock).sort(), SOCKET_KEYS, `${name}: ${JSON.stringify(sock)}`);
        assert.deepEqual(Object.keys(sock.handshake).sort(), HANDSHAKE_KEYS);
        assert.equal(sock.data.name, name);
        assert.equal(sock.data._admin, undefined);
        assert.equal(sock.transport, 'websocket');
        assert.equal(sock.clientId, c.io.engine.id.slice(0, 12));
      }
      assert.deepEqual(all.find((x) => x.id === cB.id).rooms.sort(), [cB.id, room].sort());
    }

    // A polling client on B that upgrades, joins, talks and leaves: the UIs on A and on Node see it all.
    const d = s.client(fx.b.url, { transports: ['polling', 'websocket'], auth: { name: 'late' } });
    await waitConnected(d);
    const did = d.id;
    await ack(d, 'join', room);
    await ack(d, 'message', { room, data: 'ping' });
    d.close();
    // And a client of the Node replica joining a room: the Rust-side UI sees Node's events.
    const n2 = await s.connect(fx.node.url, { auth: { name: 'node-late' } });
    await ack(n2, 'join', room);
    for (const ui of [uiA, uiN]) {
      const connected = await ui.rec.wait('socket_connected', (x) => x.id === did);
      assert.deepEqual(Object.keys(connected).sort(), SOCKET_KEYS);
      await ui.rec.wait('socket_updated', (u) => u.id === did && u.transport === 'websocket');
      await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === room && r.args[2] === did);
      await ui.rec.wait('event_received', (nsp, r) => r.args[1] === did && r.args[2][0] === 'message');
      await ui.rec.wait('event_sent', (nsp, r) => r.args[1] === cB.id && r.args[2][0] === 'message');
      await ui.rec.wait('room_left', (nsp, r) => r.args[1] === room && r.args[2] === did);
      await ui.rec.wait('socket_disconnected', (nsp, r) => r.args[1] === did);
      const nodeConnected = await ui.rec.wait('socket_connected', (x) => x.id === n2.id);
      assert.deepEqual(Object.keys(nodeConnected).sort(), SOCKET_KEYS, 'Node\'s shape is the same');
      await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === room && r.args[2] === n2.id);
    }
    // Development mode keeps `_admin` in socket.data (Rust and Node alike): `members` does not show it.
    const members = await ack(cA, 'members', room);
    assert.deepEqual(members.members.map((m) => m.name).sort(), ['node-late', 'on-b']);
    assert.ok(members.members.every((m) => !('_admin' in m)), JSON.stringify(members));
  });

  e2e('actions from a UI on one replica apply to sockets on every replica', async (t, s) => {
    const cA = await s.connect(fx.a.url, { auth: { name: 'A' } });
    const cB = await s.connect(fx.b.url, { auth: { name: 'B' } });
    const cN = await s.connect(fx.node.url, { auth: { name: 'N' } });
    const ui = await login(s, fx.a);
    await ui.rec.wait('config');
    const room = uniqueRoom('ops');

    // join with a socket-id filter, on B (Rust) and on the Node replica
    ui.emit('join', '/', room, cB.id);
    ui.emit('join', '/', room, cN.id);
    await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === room && r.args[2] === cB.id);
    await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === room && r.args[2] === cN.id);
    assert.deepEqual((await ack(cB, 'rooms')).rooms, [room]);
    assert.deepEqual((await ack(cN, 'rooms')).rooms, [room]);
    assert.deepEqual((await ack(cA, 'rooms')).rooms, []);

    // emit to the room reaches B and Node, not A
    let aGot = false;
    cA.on('notice', () => (aGot = true));
    const atB = onceArgs(cB, 'notice');
    const atN = onceArgs(cN, 'notice');
    ui.emit('emit', '/', room, 'notice', { n: 1 }, 'two');
    assert.deepEqual(await atB, [{ n: 1 }, 'two']);
    assert.deepEqual(await atN, [{ n: 1 }, 'two']);
    assert.equal(aGot, false);

    // leave without a filter: every socket of the cluster leaves
    ui.emit('leave', '/', room);
    await ui.rec.wait('room_left', (nsp, r) => r.args[1] === room && r.args[2] === cB.id);
    await ui.rec.wait('room_left', (nsp, r) => r.args[1] === room && r.args[2] === cN.id);
    assert.deepEqual((await ack(cB, 'rooms')).rooms, []);
    assert.deepEqual((await ack(cN, 'rooms')).rooms, []);

    // a UI on the Node replica acts on a Rust socket too
    const uiN = await login(s, fx.node);
    await uiN.rec.wait('config');
    uiN.emit('join', '/', `${room}-n`, cA.id);
    await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === `${room}-n` && r.args[2] === cA.id);
    assert.deepEqual((await ack(cA, 'rooms')).rooms, [`${room}-n`]);

    // _disconnect by socket id, on B and on Node
    const bid = cB.id;
    const nid = cN.id;
    ui.emit('_disconnect', '/', false, bid);
    ui.emit('_disconnect', '/', false, nid);
    assert.equal(await waitDisconnect(cB), 'io server disconnect');
    assert.equal(await waitDisconnect(cN), 'io server disconnect');
    await ui.rec.wait('socket_disconnected', (nsp, r) => r.args[1] === bid && r.args[2] === 'server namespace disconnect');
    await ui.rec.wait('socket_disconnected', (nsp, r) => r.args[1] === nid && r.args[2] === 'server namespace disconnect');
    assert.equal(cA.connected, true);
  });
});
