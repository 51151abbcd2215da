// The socket.io Admin UI on one Rust server (issue 18): flags, login and sessions, the features, server_stats,
// development-mode events and their payloads, read-only mode, the UI's files. The cluster (two Rust replicas and a
// Node peer running the real instrument()) is in admin-ui-cluster.test.mjs, the real UI in Chromium in
// browser-admin-ui.test.mjs.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
  ADMIN_UI_DIST,
  ALL_FEATURES,
  CREDENTIALS,
  PASSWORD_HASH,
  USERNAME,
  adminArgs,
  uiClient,
} from '../lib/admin-ui.mjs';
import { ack, waitConnectError, waitConnected, waitDisconnect } from '../lib/client.mjs';
import { e2e } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { getFreePort, runBinary } from '../lib/server.mjs';
import { onceArgs, waitUntil } from '../lib/wait.mjs';

const ISO_DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function ports() {
  return ['--host', '127.0.0.1', '--port', String(await getFreePort()), '--admin-port', String(await getFreePort())];
}

/** A server_stats whose predicate holds (they come every 2 s). */
const stats = (ui, pred = () => true, timeout = 6000) => ui.rec.wait('server_stats', pred, timeout);

describe('admin UI flags', () => {
  e2e('a malformed --admin-ui-password-hash stops the server with exit 2 naming the flag', async () => {
    for (const hash of ['secret', '$2b$04$short', PASSWORD_HASH.replace('$04$', '$99$')]) {
      const r = await runBinary([...(await ports()), '--admin-ui', 'on', '--admin-ui-password-hash', hash], { timeoutMs: 5000 });
      assert.equal(r.timedOut, false, `started with hash ${hash}`);
      assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, /--admin-ui-password-hash/);
      assert.match(r.stderr, /bcrypt/);
    }
  });

  e2e('--admin-ui on without a password hash exits 2 unless --admin-ui-auth off', async () => {
    const r = await runBinary([...(await ports()), '--admin-ui', 'on'], { timeoutMs: 5000 });
    assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /--admin-ui-password-hash/);
    const env = await runBinary([...(await ports())], { env: { ADMIN_UI: 'on', ADMIN_UI_MODE: 'staging' }, timeoutMs: 5000 });
    assert.equal(env.code, 2, `ADMIN_UI_MODE=staging: exit ${env.code}`);
    assert.match(env.stderr, /admin-ui-mode/);
  });

  e2e('--admin-ui-auth off lets the UI in without credentials, with a loud warning', async (t, s) => {
    const srv = await s.server({ args: adminArgs({ auth: false, mode: 'production' }) });
    assert.match(srv.stdout + srv.stderr, /ADMIN UI AUTHENTICATION IS OFF/);
    const ui = uiClient(s, srv.url, {});
    await waitConnected(ui);
    const config = await ui.rec.wait('config');
    assert.deepEqual(config.supportedFeatures, ALL_FEATURES);
    assert.deepEqual(ui.rec.of('session'), [], 'no session without authentication');
  });

  e2e('defaults: production mode at /admin; --admin-ui-namespace moves it; the hosted UI\'s origin gets credentials', async (t, s) => {
    const base = ['--admin-ui', 'on', '--admin-ui-password-hash', PASSWORD_HASH, '--admin-ui-dir', ADMIN_UI_DIST];
    const hosted = 'https://admin.socket.io';
    const srv = await s.server({ args: [...base, '--cors-origin', hosted] });
    const ui = uiClient(s, srv.url);
    await waitConnected(ui);
    assert.deepEqual(await ui.rec.wait('config'), { supportedFeatures: ALL_FEATURES }, 'production: no ALL_EVENTS');
    await stats(ui);
    assert.deepEqual(ui.rec.of('all_sockets'), [], 'production: no all_sockets');
    const hs = await httpRequest(`${srv.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: hosted } });
    assert.equal(hs.status, 200);
    assert.equal(hs.headers['access-control-allow-origin'], hosted);
    assert.equal(hs.headers['access-control-allow-credentials'], 'true');

    const ops = await s.server({ args: [...base, '--admin-ui-namespace', '/ops'] });
    const moved = uiClient(s, ops.url, CREDENTIALS, { namespace: '/ops' });
    await waitConnected(moved);
    assert.match(await moved.rec.wait('session'), /^[0-9a-f]{16}$/);
    assert.deepEqual(await moved.rec.wait('config'), { supportedFeatures: ALL_FEATURES });
    assert.equal((await waitConnectError(uiClient(s, ops.url))).message, 'Invalid namespace', '/admin is not served');
  });

  e2e('off by default: no admin namespace, no UI files', async (t, s) => {
    const srv = await s.server({ args: ['--admin-ui-dir', ADMIN_UI_DIST] });
    const err = await waitConnectError(uiClient(s, srv.url));
    assert.equal(err.message, 'Invalid namespace');
    assert.equal((await httpRequest(`${srv.url}/admin-ui/`)).status, 404);
  });
});

describe('admin UI login', () => {
  e2e('wrong credentials get connect_error "invalid credentials"; a login gets a session id after CONNECT', async (t, s) => {
    const srv = await s.server({ args: adminArgs({ mode: 'production' }) });
    for (const auth of [
      { username: USERNAME, password: 'wrong' },
      { username: 'root', password: CREDENTIALS.password },
      { username: USERNAME },
      {},
      { sessionId: '0123456789abcdef' },
    ]) {
      const err = await waitConnectError(uiClient(s, srv.url, auth));
      assert.equal(err.message, 'invalid credentials', JSON.stringify(auth));
    }
    const ui = uiClient(s, srv.url);
    // The UI registers its listeners on `connect`: the session must arrive after it.
    let connectedFirst = false;
    ui.once('connect', () => {
      connectedFirst = ui.rec.of('session').length === 0;
    });
    await waitConnected(ui);
    const sessionId = await ui.rec.wait('session');
    assert.ok(connectedFirst, 'session arrived before connect');
    assert.match(sessionId, /^[0-9a-f]{16}$/);
    const config = await ui.rec.wait('config');
    assert.deepEqual(config, { supportedFeatures: ALL_FEATURES });

    // A reload: the session alone logs in, and no new session is made.
    const again = uiClient(s, srv.url, { sessionId });
    await waitConnected(again);
    await again.rec.wait('config');
    assert.deepEqual(again.rec.of('session'), []);
  });
});

describe('admin UI production mode', () => {
  e2e('server_stats every 2 s with Node\'s shape; no per-socket events', async (t, s) => {
    const srv = await s.server({ args: [...adminArgs({ mode: 'production' }), '--node-id', 'rust-solo'] });
    const ui = uiClient(s, srv.url);
    await waitConnected(ui);
    const polling = await s.connect(srv.url, { transports: ['polling'], upgrade: false, auth: { name: 'P' } });
    const ws = await s.connect(srv.url, { auth: { name: 'W' } });
    const first = await stats(ui, (st) => st.clientsCount === 3 && st.pollingClientsCount === 1);
    assert.equal(first.serverId, 'rust-solo', 'the server id defaults to the node id');
    assert.equal(typeof first.hostname, 'string');
    assert.ok(Number.isInteger(first.pid) && first.pid > 0);
    assert.ok(first.uptime > 0);
    assert.deepEqual(
      first.namespaces.sort((a, b) => a.name.localeCompare(b.name)),
      [
        { name: '/', socketsCount: 2 },
        { name: '/admin', socketsCount: 1 },
      ],
    );
    ws.close();
    const after = await stats(ui, (st) =>
      st.aggregatedEvents.some((e) => e.type === 'rawDisconnection' && e.subType === 'transport close'),
    );
    for (const e of after.aggregatedEvents) {
      assert.ok(Number.isInteger(e.timestamp) && e.timestamp % 1000 === 0, JSON.stringify(e));
      assert.ok(['rawConnection', 'rawDisconnection', 'packetsIn', 'packetsOut', 'bytesIn', 'bytesOut'].includes(e.type));
      assert.ok(Number.isInteger(e.count) && e.count > 0);
    }
    const types = new Set(ui.rec.of('server_stats').flatMap((st) => st.aggregatedEvents.map((e) => e.type)));
    for (const type of ['rawConnection', 'rawDisconnection', 'packetsIn', 'packetsOut', 'bytesIn', 'bytesOut']) {
      assert.ok(types.has(type), `no ${type} in aggregatedEvents`);
    }
    await ack(polling, 'join', 'r');
    await stats(ui, (st) => st.clientsCount === 2);
    for (const ev of ['all_sockets', 'socket_connected', 'room_joined', 'event_received', 'socket_disconnected']) {
      assert.deepEqual(ui.rec.of(ev), [], `${ev} in production mode`);
    }
  });

  e2e('read-only: no actions, and the UI is told so', async (t, s) => {
    const srv = await s.server({ args: adminArgs({ mode: 'production', readonly: true }) });
    const ui = uiClient(s, srv.url);
    await waitConnected(ui);
    assert.deepEqual(await ui.rec.wait('config'), { supportedFeatures: ['AGGREGATED_EVENTS'] });
    const client = await s.connect(srv.url);
    ui.emit('join', '/', 'ro-room', client.id);
    ui.emit('_disconnect', '/', true, client.id);
    ui.emit('emit', '/', client.id, 'hello', 1);
    let got = false;
    client.on('hello', () => (got = true));
    // Two stats later every action would have been applied (one socket's packets are handled in order).
    const n = ui.rec.of('server_stats').length;
    await ui.rec.waitCount('server_stats', n + 2, () => true, 6000);
    assert.equal(client.connected, true);
    assert.deepEqual((await ack(client, 'rooms')).rooms, []);
    assert.equal(got, false);
  });
});

describe('admin UI development mode (one server)', () => {
  e2e('every socket, room change and event, in Node\'s shapes; /admin itself is not reported', async (t, s) => {
    const srv = await s.server({ args: adminArgs() });
    const ui = uiClient(s, srv.url);
    await waitConnected(ui);
    assert.deepEqual(await ui.rec.wait('config'), { supportedFeatures: [...ALL_FEATURES, 'ALL_EVENTS'] });
    assert.deepEqual(await ui.rec.wait('all_sockets'), []);

    // A polling client that upgrades: socket_connected (polling), then socket_updated (websocket).
    const c = s.client(srv.url, { transports: ['polling', 'websocket'], auth: { name: 'Ada' }, query: { tag: 'x y' } });
    await waitConnected(c);
    const connected = await ui.rec.wait('socket_connected', (sock) => sock.id === c.id);
    const [sock, date] = ui.rec.log.find((r) => r.event === 'socket_connected' && r.data.id === c.id).args;
    assert.match(date, ISO_DATE);
    assert.equal(sock.nsp, '/');
    assert.equal(sock.transport, 'polling');
    assert.equal(sock.clientId, c.io.engine.id.slice(0, 12));
    assert.deepEqual(sock.data, { id: c.id, name: 'Ada' }, 'data without _admin');
    assert.deepEqual(sock.rooms, [c.id]);
    assert.deepEqual(Object.keys(sock.handshake).sort(), ['address', 'headers', 'issued', 'query', 'secure', 'time', 'url', 'xdomain']);
    assert.equal(sock.handshake.address, '127.0.0.1');
    assert.equal(sock.handshake.query.tag, 'x y');
    assert.equal(sock.handshake.query.EIO, '4');
    assert.equal(typeof sock.handshake.issued, 'number');
    assert.equal(typeof sock.handshake.headers.host, 'string');
    assert.equal(connected.id, c.id);
    const updated = await ui.rec.wait('socket_updated', (u) => u.id === c.id);
    assert.deepEqual(updated, { id: c.id, nsp: '/', transport: 'websocket' });

    // Rooms and events, both ways.
    const peer = await s.connect(srv.url, { auth: { name: 'Bob' } });
    await ack(c, 'join', 'lobby');
    await ack(peer, 'join', 'lobby');
    await ack(c, 'message', { room: 'lobby', data: { text: 'hi' } });
    await ui.rec.wait('room_joined', (nsp, r) => r.args[2] === c.id);
    const joined = ui.rec.log.find((r) => r.event === 'room_joined' && r.args[2] === c.id);
    assert.ok(joined, 'room_joined');
    assert.deepEqual(joined.args.slice(0, 3), ['/', 'lobby', c.id]);
    assert.match(joined.args[3], ISO_DATE);
    const received = await ui.rec.wait('event_received', (nsp, r) => r.args[1] === c.id && r.args[2][0] === 'message');
    assert.equal(received, '/');
    const rec = ui.rec.log.find((r) => r.event === 'event_received' && r.args[1] === c.id && r.args[2][0] === 'message');
    assert.deepEqual(rec.args[2], ['message', { room: 'lobby', data: { text: 'hi' } }], 'the ack callback is not an argument');
    assert.match(rec.args[3], ISO_DATE);
    await ui.rec.wait('event_sent', (nsp, r) => r.args[1] === peer.id && r.args[2][0] === 'message');
    const sent = ui.rec.log.find((r) => r.event === 'event_sent' && r.args[1] === peer.id && r.args[2][0] === 'message');
    assert.equal(sent.args[2][1].data.text, 'hi');
    assert.equal(sent.args[2][1].from.name, 'Ada');

    await ack(c, 'leave', 'lobby');
    const left = await ui.rec.wait('room_left', (nsp, r) => r.args[2] === c.id);
    assert.equal(left, '/');
    const cid = c.id;
    c.close();
    await ui.rec.wait('socket_disconnected', (nsp, r) => r.args[1] === cid);
    const gone = ui.rec.log.find((r) => r.event === 'socket_disconnected' && r.args[1] === cid);
    assert.deepEqual(gone.args.slice(0, 2), ['/', cid]);
    // The client sends its DISCONNECT and closes the WebSocket at once: the engine may see either first.
    assert.ok(['client namespace disconnect', 'transport close'].includes(gone.args[2]), gone.args[2]);
    assert.match(gone.args[3], ISO_DATE);

    // A second UI: its connection, its events and the broadcasts it gets are never reported.
    const ui2 = uiClient(s, srv.url);
    await waitConnected(ui2);
    const all = await ui2.rec.wait('all_sockets');
    assert.deepEqual(all.map((x) => x.id), [peer.id], 'all_sockets lists the application sockets only');
    ui2.emit('join', '/', 'from-ui', peer.id);
    await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === 'from-ui');
    const n = ui.rec.of('server_stats').length;
    await ui.rec.waitCount('server_stats', n + 1, () => true, 4000);
    const adminEvents = ui.rec.log.filter((r) => r.event !== 'server_stats' && r.args[0] === '/admin');
    assert.deepEqual(adminEvents, [], 'events of /admin reported');
    assert.ok(!ui.rec.of('socket_connected').some((x) => x.nsp === '/admin'));
  });

  e2e('actions: join, leave, emit and _disconnect with and without a filter', async (t, s) => {
    const srv = await s.server({ args: adminArgs() });
    const ui = uiClient(s, srv.url);
    await waitConnected(ui);
    const a = await s.connect(srv.url, { auth: { name: 'A' } });
    const b = await s.connect(srv.url, { auth: { name: 'B' } });

    ui.emit('join', '/', 'vip', a.id);
    await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === 'vip' && r.args[2] === a.id);
    assert.deepEqual((await ack(a, 'rooms')).rooms, ['vip']);
    assert.deepEqual((await ack(b, 'rooms')).rooms, []);
    ui.emit('join', '/', 'all');
    await ui.rec.waitCount('room_joined', 2, (nsp) => nsp === '/', 5000);
    await ui.rec.wait('room_joined', (nsp, r) => r.args[1] === 'all' && r.args[2] === b.id);
    ui.emit('leave', '/', 'all', 'vip');
    await ui.rec.wait('room_left', (nsp, r) => r.args[1] === 'all' && r.args[2] === a.id);
    assert.deepEqual((await ack(a, 'rooms')).rooms, ['vip']);
    assert.deepEqual((await ack(b, 'rooms')).rooms, ['all']);

    const toA = onceArgs(a, 'notice');
    ui.emit('emit', '/', 'vip', 'notice', { text: 'only vip' }, 2);
    assert.deepEqual(await toA, [{ text: 'only vip' }, 2]);
    const toB = onceArgs(b, 'notice');
    ui.emit('emit', '/', '', 'notice', 'everyone');
    assert.deepEqual(await toB, ['everyone']);

    // close=false leaves the connection (here shared with the UI that asked), close=true closes it (Node sends the
    // DISCONNECT packet in both cases, then closes).
    const shared = ui.io.socket('/', { auth: { name: 'S' } });
    await waitConnected(shared);
    ui.emit('_disconnect', '/', false, shared.id);
    assert.equal(await onceArgs(shared, 'disconnect').then(([r]) => r), 'io server disconnect');
    const n = ui.rec.of('server_stats').length;
    await ui.rec.waitCount('server_stats', n + 1, () => true, 4000);
    assert.equal(ui.connected, true, 'the connection stays');
    const ui2 = uiClient(s, srv.url);
    await waitConnected(ui2);
    const doomed = ui2.io.socket('/', { auth: { name: 'D' } });
    await waitConnected(doomed);
    const uiGone = onceArgs(ui2, 'disconnect');
    ui.emit('_disconnect', '/', true, doomed.id);
    assert.equal((await uiGone)[0], 'transport close', 'the whole connection closes');
    assert.equal(a.connected && b.connected, true, 'only the filtered socket');
  });
});

describe('admin UI files', () => {
  e2e('the built UI is served at /admin-ui/ with its fonts local', async (t, s) => {
    const srv = await s.server({ args: adminArgs({ mode: 'production' }) });
    const redirect = await httpRequest(`${srv.url}/admin-ui`);
    assert.equal(redirect.status, 308);
    assert.equal(redirect.headers.location, 'admin-ui/');
    const page = await httpRequest(`${srv.url}/admin-ui/`);
    assert.equal(page.status, 200);
    assert.match(page.headers['content-type'], /text\/html/);
    assert.match(page.text, /<title>Socket.IO Admin UI<\/title>/);
    assert.doesNotMatch(page.text, /https?:\/\//, 'nothing loaded from the internet');
    const links = [...page.text.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(links.includes('vendor/roboto/roboto.css') && links.includes('vendor/mdi/css/materialdesignicons.min.css'));
    for (const link of links) {
      const r = await httpRequest(`${srv.url}/admin-ui/${link}`);
      assert.equal(r.status, 200, link);
    }
    const mdi = await httpRequest(`${srv.url}/admin-ui/vendor/mdi/fonts/materialdesignicons-webfont.woff2`);
    assert.equal(mdi.status, 200);
  });
});
