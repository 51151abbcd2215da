// Transports: websocket-only, polling-only, polling-then-upgrade, custom --path, --transports restrictions.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, waitConnectError } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { pollingHandshake } from '../lib/raw.mjs';
import { once, withTimeout } from '../lib/wait.mjs';

/** Two clients of the given options exchange a room message; checks the whole round trip works on that transport. */
async function roundTrip(s, url, opts) {
  const a = await s.connect(url, { ...opts, auth: { name: 'a' } });
  const b = await s.connect(url, { ...opts, auth: { name: 'b' } });
  const room = `rt-${Math.random().toString(36).slice(2)}`;
  assert.deepEqual(await ack(a, 'join', room), { ok: true, room });
  assert.deepEqual(await ack(b, 'join', room), { ok: true, room });
  const got = once(b, 'message');
  const res = await ack(a, 'message', { room, data: { hello: 'world', n: 1 } });
  assert.equal(res.ok, true);
  const msg = await got;
  assert.equal(msg.room, room);
  assert.deepEqual(msg.data, { hello: 'world', n: 1 });
  assert.equal(msg.id, res.id);
  return { a, b };
}

describe('transports (default server)', () => {
  const srv = sharedServer({});

  e2e('websocket-only client connects and exchanges events', async (t, s) => {
    const { a, b } = await roundTrip(s, srv().url, { transports: ['websocket'] });
    assert.equal(a.io.engine.transport.name, 'websocket');
    assert.equal(b.io.engine.transport.name, 'websocket');
  });

  e2e('polling-only client connects and exchanges events', async (t, s) => {
    const { a, b } = await roundTrip(s, srv().url, { transports: ['polling'] });
    assert.equal(a.io.engine.transport.name, 'polling');
    assert.equal(b.io.engine.transport.name, 'polling');
  });

  e2e('polling client upgrades to websocket and keeps working', async (t, s) => {
    const url = srv().url;
    const a = s.client(url, { transports: ['polling', 'websocket'], auth: { name: 'up' } });
    // The first transport is polling; the upgrade listener is attached when the engine opens, before it probes.
    let initial;
    const upgraded = new Promise((resolve) =>
      a.io.on('open', () => {
        initial = a.io.engine.transport.name;
        a.io.engine.once('upgrade', resolve);
      }),
    );
    await once(a, 'connect');
    assert.equal(initial, 'polling');
    const tr = await withTimeout(upgraded, 5000, 'the upgrade to websocket');
    assert.equal(tr.name, 'websocket');
    assert.equal(a.io.engine.transport.name, 'websocket');
    // Still functional after the upgrade, with another (websocket) client.
    const b = await s.connect(url, { transports: ['websocket'] });
    const room = 'after-upgrade';
    await ack(a, 'join', room);
    await ack(b, 'join', room);
    const got = once(a, 'message');
    assert.equal((await ack(b, 'message', { room, data: 'x' })).ok, true);
    assert.equal((await got).data, 'x');
  });

  e2e('polling and websocket clients see each other', async (t, s) => {
    const url = srv().url;
    const p = await s.connect(url, { transports: ['polling'] });
    const w = await s.connect(url, { transports: ['websocket'] });
    const got = once(p, 'direct');
    const res = await ack(w, 'direct', { to: p.id, data: [1, 2, 3] });
    assert.equal(res.ok, true);
    const d = await got;
    assert.deepEqual(d.data, [1, 2, 3]);
    assert.equal(d.from.id, w.id);
  });
});

describe('custom --path /wsk', () => {
  const srv = sharedServer({ args: ['--path', '/wsk'] });

  e2e('websocket client with path "/wsk" connects and works', async (t, s) => {
    await roundTrip(s, srv().url, { path: '/wsk', transports: ['websocket'] });
  });

  e2e('polling client with path "/wsk" connects, upgrades and works', async (t, s) => {
    const c = await s.connect(srv().url, { path: '/wsk', transports: ['polling', 'websocket'] });
    if (c.io.engine.transport.name !== 'websocket') await once(c.io.engine, 'upgrade');
    assert.equal(c.io.engine.transport.name, 'websocket');
    await roundTrip(s, srv().url, { path: '/wsk', transports: ['polling'] });
  });

  e2e('raw handshake answers on /wsk/ and not on the default /socket.io/', async () => {
    const ok = await pollingHandshake(srv().url, { path: '/wsk' });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.text.startsWith('0{'), ok.text);
    const def = await pollingHandshake(srv().url, { path: '/socket.io' });
    assert.notEqual(def.status, 200, `default path still answers: ${def.text}`);
    assert.ok(!def.text.startsWith('0{'), def.text);
  });

  e2e('a client on the default path cannot connect', async (t, s) => {
    const c = s.client(srv().url, { transports: ['websocket'] });
    await waitConnectError(c);
  });
});

describe('--transports websocket', () => {
  const srv = sharedServer({ args: ['--transports', 'websocket'] });

  e2e('polling handshake is refused', async (t, s) => {
    const hs = await pollingHandshake(srv().url);
    assert.ok(hs.status >= 400 && hs.status < 500, `status ${hs.status} body ${hs.text}`);
    assert.ok(!hs.text.startsWith('0{'));
    const c = s.client(srv().url, { transports: ['polling'] });
    await waitConnectError(c);
  });

  e2e('websocket client connects and works', async (t, s) => {
    await roundTrip(s, srv().url, { transports: ['websocket'] });
  });
});

describe('--transports polling', () => {
  const srv = sharedServer({ args: ['--transports', 'polling'] });

  e2e('websocket-only client is refused, polling client works without upgrading', async (t, s) => {
    const w = s.client(srv().url, { transports: ['websocket'] });
    await waitConnectError(w);
    const hs = await pollingHandshake(srv().url);
    assert.equal(hs.status, 200);
    assert.deepEqual(hs.open.upgrades, [], `open packet advertises upgrades ${JSON.stringify(hs.open.upgrades)}`);
    const { a } = await roundTrip(s, srv().url, { transports: ['polling', 'websocket'] });
    assert.equal(a.io.engine.transport.name, 'polling');
  });
});
