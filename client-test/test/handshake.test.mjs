// Engine.IO handshake: advertised ping interval/timeout and max payload, duration syntax, env fallbacks, cookie,
// CORS, connect timeout, and clients that stop answering pings.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { fetchMetrics, metricSum } from '../lib/metrics.mjs';
import { eioUrl, pollingHandshake } from '../lib/raw.mjs';
import { once, waitUntil, withTimeout } from '../lib/wait.mjs';

describe('handshake advertises the configuration', () => {
  e2e('open packet carries --ping-interval, --ping-timeout, --max-payload (ms integers)', async (t, s) => {
    const srv = await s.server({ args: ['--ping-interval', '300', '--ping-timeout', '200', '--max-payload', '10000'] });
    const hs = await pollingHandshake(srv.url);
    assert.equal(hs.status, 200, hs.text);
    assert.ok(hs.text.startsWith('0{'), `body: ${hs.text}`);
    assert.equal(hs.open.pingInterval, 300);
    assert.equal(hs.open.pingTimeout, 200);
    assert.equal(hs.open.maxPayload, 10000);
    assert.equal(typeof hs.open.sid, 'string');
    assert.ok(hs.open.sid.length > 0);
    assert.deepEqual(hs.open.upgrades, ['websocket']);
  });

  e2e('durations accept "25s"-style values', async (t, s) => {
    const srv = await s.server({ args: ['--ping-interval', '2s', '--ping-timeout', '1500ms'] });
    const hs = await pollingHandshake(srv.url);
    assert.equal(hs.open.pingInterval, 2000);
    assert.equal(hs.open.pingTimeout, 1500);
  });

  e2e('defaults: 25000 / 20000 / 1000000', async (t, s) => {
    const srv = await s.server({});
    const hs = await pollingHandshake(srv.url);
    assert.equal(hs.open.pingInterval, 25000);
    assert.equal(hs.open.pingTimeout, 20000);
    assert.equal(hs.open.maxPayload, 1000000);
  });

  e2e('every flag falls back to its environment variable (HOST, PORT, ADMIN_PORT, PING_*, MAX_PAYLOAD, SIO_PATH)', async (t, s) => {
    const srv = await s.server({
      portsViaEnv: true,
      env: { PING_INTERVAL: '1234', PING_TIMEOUT: '4s', MAX_PAYLOAD: '4321', SIO_PATH: '/envpath' },
    });
    const hs = await pollingHandshake(srv.url, { path: '/envpath' });
    assert.equal(hs.status, 200, hs.text);
    assert.equal(hs.open.pingInterval, 1234);
    assert.equal(hs.open.pingTimeout, 4000);
    assert.equal(hs.open.maxPayload, 4321);
  });

  e2e('a websocket-first handshake advertises the same values', async (t, s) => {
    const srv = await s.server({ args: ['--ping-interval', '700', '--ping-timeout', '600', '--max-payload', '12345'] });
    const { open } = await s.rawSocketIo(srv.url, { connect: false });
    assert.equal(open.pingInterval, 700);
    assert.equal(open.pingTimeout, 600);
    assert.equal(open.maxPayload, 12345);
  });
});

describe('--cookie', () => {
  const srv = sharedServer({ args: ['--cookie', 'io', '--node-id', 'node-e2e-1'] });

  function checkCookie(setCookie) {
    const list = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
    const c = list.find((x) => x.startsWith('io='));
    assert.ok(c, `no io= cookie in ${JSON.stringify(list)}`);
    const parts = c.split(';').map((p) => p.trim());
    assert.equal(parts[0], 'io=node-e2e-1');
    const attrs = parts.slice(1).map((p) => p.toLowerCase());
    assert.ok(attrs.includes('path=/'), c);
    assert.ok(attrs.includes('httponly'), c);
    assert.ok(attrs.includes('samesite=lax'), c);
  }

  e2e('polling handshake sets io=<node-id>; Path=/; HttpOnly; SameSite=Lax', async () => {
    const hs = await pollingHandshake(srv().url);
    assert.equal(hs.status, 200);
    checkCookie(hs.headers['set-cookie']);
  });

  e2e('websocket handshake (upgrade response) sets the cookie too', async (t, s) => {
    const { raw } = await s.rawSocketIo(srv().url, { connect: false });
    checkCookie(raw.upgradeHeaders['set-cookie']);
  });

  e2e('without --cookie no cookie is set', async (t, s) => {
    const plain = await s.server({});
    const hs = await pollingHandshake(plain.url);
    assert.equal(hs.status, 200);
    assert.equal(hs.headers['set-cookie'], undefined);
  });
});

describe('--cors-origin', () => {
  const srv = sharedServer({ args: ['--cors-origin', 'http://allowed.example,http://other.example'] });

  e2e('a listed origin gets Access-Control-Allow-Origin and credentials', async () => {
    const hs = await pollingHandshake(srv().url, { headers: { origin: 'http://allowed.example' } });
    assert.equal(hs.status, 200);
    assert.equal(hs.headers['access-control-allow-origin'], 'http://allowed.example');
    assert.equal(hs.headers['access-control-allow-credentials'], 'true');
    const hs2 = await pollingHandshake(srv().url, { headers: { origin: 'http://other.example' } });
    assert.equal(hs2.headers['access-control-allow-origin'], 'http://other.example');
  });

  e2e('a preflight from a listed origin is allowed', async () => {
    const res = await httpRequest(eioUrl(srv().url), {
      method: 'OPTIONS',
      headers: {
        origin: 'http://allowed.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    assert.ok(res.status === 200 || res.status === 204, `preflight status ${res.status}`);
    assert.equal(res.headers['access-control-allow-origin'], 'http://allowed.example');
  });

  e2e('an unlisted origin does not get Access-Control-Allow-Origin for itself', async () => {
    const hs = await pollingHandshake(srv().url, { headers: { origin: 'http://evil.example' } });
    const acao = hs.headers['access-control-allow-origin'];
    assert.ok(acao !== 'http://evil.example' && acao !== '*', `ACAO for unlisted origin: ${acao}`);
  });
});

describe('--cors-origin *', () => {
  const srv = sharedServer({ args: ['--cors-origin', '*'] });

  e2e('any origin is allowed', async () => {
    const hs = await pollingHandshake(srv().url, { headers: { origin: 'http://anything.example' } });
    assert.equal(hs.status, 200);
    const acao = hs.headers['access-control-allow-origin'];
    assert.ok(acao === '*' || acao === 'http://anything.example', `ACAO ${acao}`);
  });
});

describe('timeouts', () => {
  e2e('a client that never answers pings (raw websocket) is dropped within pingInterval + pingTimeout', async (t, s) => {
    const srv = await s.server({ args: ['--ping-interval', '300', '--ping-timeout', '200'] });
    const before = await fetchMetrics(srv.adminUrl);
    const { raw } = await s.rawSocketIo(srv.url, { autoPong: false });
    const start = raw.openedAt;
    const closed = await raw.waitClosed(5000);
    const elapsed = closed.at - start;
    const ping = raw.messages.find((m) => m.data === '2');
    assert.ok(ping, 'server never sent a ping');
    // The client had the full ping timeout to answer its first ping (which cannot predate the open).
    assert.ok(elapsed >= 200 - 20, `dropped ${elapsed} ms after the connection opened (ping timeout 200)`);
    assert.ok(elapsed <= 300 + 200 + 700, `dropped after ${elapsed} ms, expected about 500 ms`);
    // Metrics: the disconnection is counted with a timeout reason and the client is gone.
    await waitUntil(
      async () => {
        const m = await fetchMetrics(srv.adminUrl);
        const after = metricSum(m.samples, 'sio_disconnections_total', { reason: /timeout/i });
        const was = metricSum(before.samples, 'sio_disconnections_total', { reason: /timeout/i });
        return after >= was + 1 && metricSum(m.samples, 'sio_connected_clients') === 0;
      },
      { timeout: 3000, what: 'sio_disconnections_total{reason=~"timeout"} +1 and sio_connected_clients 0' },
    );
  });

  e2e('a raw polling client that never polls nor pongs is dropped within pingInterval + pingTimeout', async (t, s) => {
    const srv = await s.server({ args: ['--ping-interval', '300', '--ping-timeout', '200'] });
    const p = s.rawPolling(srv.url);
    await p.open();
    await p.connectNamespace();
    const start = Date.now();
    const connected = async () => metricSum((await fetchMetrics(srv.adminUrl)).samples, 'sio_connected_clients');
    assert.equal(await connected(), 1, 'the raw polling socket is not counted as connected');
    await waitUntil(async () => (await connected()) === 0, {
      timeout: 3000,
      interval: 25,
      what: 'sio_connected_clients to drop to 0',
    });
    const elapsed = Date.now() - start;
    assert.ok(elapsed <= 300 + 200 + 700, `dropped after ${elapsed} ms, expected about 500 ms`);
    const m = await fetchMetrics(srv.adminUrl);
    assert.ok(metricSum(m.samples, 'sio_disconnections_total', { reason: /timeout/i }) >= 1, 'no timeout disconnection counted');
    const g = await p.get();
    assert.ok(g.status >= 400 && g.status < 500, `session still alive after ping timeout: ${g.status} ${g.text}`);
  });

  e2e('a well-behaved client survives several ping cycles', async (t, s) => {
    const srv = await s.server({ args: ['--ping-interval', '200', '--ping-timeout', '200'] });
    const c = await s.connect(srv.url, { transports: ['websocket'] });
    let pings = 0;
    await withTimeout(
      new Promise((resolve) =>
        c.io.on('ping', () => {
          if (++pings >= 4) resolve();
        }),
      ),
      5000,
      '4 pings',
    );
    assert.equal(c.connected, true);
    assert.deepEqual(c.disconnects, []);
    assert.equal((await ack(c, 'rooms')).ok, true);
    const p = await s.connect(srv.url, { transports: ['polling'] });
    let ppings = 0;
    await withTimeout(
      new Promise((resolve) =>
        p.io.on('ping', () => {
          if (++ppings >= 3) resolve();
        }),
      ),
      5000,
      '3 pings over polling',
    );
    assert.equal(p.connected, true);
    assert.deepEqual(p.disconnects, []);
  });

  e2e('an engine.io connection that never connects a namespace is closed after --connect-timeout', async (t, s) => {
    const srv = await s.server({ args: ['--connect-timeout', '500', '--ping-interval', '10s', '--ping-timeout', '10s'] });
    const { raw } = await s.rawSocketIo(srv.url, { connect: false });
    const closed = await raw.waitClosed(5000);
    const elapsed = closed.at - raw.openedAt;
    assert.ok(elapsed >= 400 && elapsed <= 500 + 1000, `closed after ${elapsed} ms, expected about 500 ms`);
  });

  e2e('connect-timeout does not affect a client that connects', async (t, s) => {
    const srv = await s.server({ args: ['--connect-timeout', '300'] });
    const c = await s.connect(srv.url);
    const got = once(c, 'disconnect', { timeout: 800 }).then(
      (r) => r,
      () => null,
    );
    assert.equal((await ack(c, 'rooms')).ok, true);
    // The connect timeout (300 ms) has passed twice over by the time this resolves.
    assert.equal(await got, null, 'connected client was disconnected');
    assert.equal(c.connected, true);
  });
});
