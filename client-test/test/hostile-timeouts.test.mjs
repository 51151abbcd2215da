// Issue 13, defect 3: HTTP timeouts on both ports and the per-address cap on unfinished connections.
//
// Connections that send nothing, a request head byte by byte or a body slowly, and idle keep-alive connections are
// closed after --header-timeout, --body-timeout and --keep-alive-timeout, on the main and the admin port; upgraded
// WebSockets and long-polling requests are not cut by them. Settings are given through the environment (the
// flags' fallbacks). Timing assertions have wide margins: a close must come after most of the timeout (it is the
// timeout, not an immediate refusal) and well before the bound.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { metricValue } from '../lib/metrics.mjs';
import { pollingHandshake } from '../lib/raw.mjs';
import { onceArgs, Recorder, waitUntil } from '../lib/wait.mjs';

const KEY = 'e2e-hostile-key';
const HEADER_MS = 1000;
const BODY_MS = 2000;
const KEEP_ALIVE_MS = 500;
const TIMEOUTS = {
  HEADER_TIMEOUT: String(HEADER_MS),
  BODY_TIMEOUT: String(BODY_MS),
  KEEP_ALIVE_TIMEOUT: String(KEEP_ALIVE_MS),
};

/** Assert that a close came after `atLeast` ms (the timeout, with slack) measured from `since`. */
function assertAfter(closed, since, atLeast, what) {
  const took = closed.at - since;
  assert.ok(took >= atLeast, `${what}: closed after ${took} ms, before the timeout (${atLeast} ms)`);
  return took;
}

describe('HTTP timeouts on both ports', () => {
  const srv = sharedServer({ env: { ...TIMEOUTS, API_KEY: KEY } });
  const ports = () => [
    ['main', srv().port],
    ['admin', srv().adminPort],
  ];

  e2e('a connection that sends nothing is closed after --header-timeout', async (t, s) => {
    for (const [label, port] of ports()) {
      const c = await s.tcp(port);
      const closed = await c.waitClosed(HEADER_MS + 4000, `${label}: the server to close a silent connection`);
      assertAfter(closed, c.connectedAt, HEADER_MS * 0.8, label);
      assert.equal(c.received, '', `${label}: a silent connection got a response`);
    }
    const timeouts = await metricValue(srv().adminUrl, 'sio_http_timeouts_total', { kind: 'header' });
    assert.ok(timeouts >= 2, `sio_http_timeouts_total{kind="header"} = ${timeouts}`);
  });

  e2e('a request head sent byte by byte is cut at --header-timeout, however steady the bytes', async (t, s) => {
    const head = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nAccept: */*\r\n\r\n';
    for (const [label, port] of ports()) {
      const c = await s.tcp(port);
      // One byte every 100 ms: the whole head would take ~7 s.
      const sending = c.dribble(head, 100);
      const closed = await c.waitClosed(HEADER_MS + 4000, `${label}: the server to cut a dribbled head`);
      const sent = await sending;
      assertAfter(closed, c.connectedAt, HEADER_MS * 0.8, label);
      assert.ok(sent < head.length, `${label}: the whole head (${sent} bytes) went through`);
      assert.doesNotMatch(c.received, /^HTTP\/1\.1 200/, `${label}: answered ${c.received}`);
    }
  });

  e2e('a body sent slowly is cut at --body-timeout', async (t, s) => {
    const body = JSON.stringify({ event: 'slow', data: 'x'.repeat(80) });
    const c = await s.tcp(srv().port);
    c.write(
      'POST /api/v1/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
        `Authorization: Bearer ${KEY}\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    // One byte every 100 ms: the body would take ~10 s.
    const sending = c.dribble(body, 100);
    const closed = await c.waitClosed(BODY_MS + 4000, 'the server to cut a slow body');
    const sent = await sending;
    assertAfter(closed, c.connectedAt, BODY_MS * 0.8, 'slow body');
    assert.ok(sent < body.length, `the whole body (${sent} bytes) went through`);
    assert.doesNotMatch(c.received, /^HTTP\/1\.1 200/, `answered ${c.received}`);
    const timeouts = await metricValue(srv().adminUrl, 'sio_http_timeouts_total', { kind: 'body' });
    assert.ok(timeouts >= 1, `sio_http_timeouts_total{kind="body"} = ${timeouts}`);
  });

  e2e('an idle keep-alive connection is closed after --keep-alive-timeout', async (t, s) => {
    for (const [label, port, path] of [
      ['main', srv().port, '/no-such-route'],
      ['admin', srv().adminPort, '/health'],
    ]) {
      const c = await s.tcp(port);
      c.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await c.waitReceived('\r\n\r\n');
      const answeredAt = Date.now();
      assert.match(c.received, /^HTTP\/1\.1 (200|404)/, `${label}: ${c.received}`);
      const closed = await c.waitClosed(KEEP_ALIVE_MS + 4000, `${label}: the server to close an idle keep-alive`);
      const took = assertAfter(closed, answeredAt, KEEP_ALIVE_MS * 0.8, label);
      assert.ok(took < HEADER_MS + 1000, `${label}: closed after ${took} ms, not by the keep-alive timeout`);
    }
  });

  e2e('a keep-alive connection that goes on sending requests stays open', async (t, s) => {
    const c = await s.tcp(srv().adminPort);
    // Four requests spaced by less than the keep-alive timeout, together longer than every timeout.
    const spacing = KEEP_ALIVE_MS / 2;
    const started = Date.now();
    let answers = 0;
    while (Date.now() - started < BODY_MS + 500) {
      c.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      answers += 1;
      await waitUntil(() => c.received.split('HTTP/1.1 200').length - 1 >= answers, {
        timeout: 2000,
        interval: 10,
        what: `answer ${answers}`,
      });
      assert.ok(c.isOpen, 'closed between requests');
      await new Promise((r) => setTimeout(r, spacing)); // the client's think time, not synchronisation
    }
    assert.ok(c.isOpen);
  });
});

describe('upgraded WebSockets and long-polling outlive the HTTP timeouts', () => {
  // Every timeout far below the ping interval: a long-poll request waits ~1.2 s for its ping.
  const srv = sharedServer({
    env: { HEADER_TIMEOUT: '300', BODY_TIMEOUT: '600', KEEP_ALIVE_TIMEOUT: '300', PING_INTERVAL: '1200' },
  });

  e2e('websocket and polling clients stay connected across two ping intervals and still talk', async (t, s) => {
    const ws = await s.connect(srv().url);
    const polling = await s.connect(srv().url, { transports: ['polling'] });
    // Two pings each: more than twice every HTTP timeout, with requests and upgrades in between.
    await Promise.all(
      [ws, polling].map(async (c) => {
        await onceArgs(c.io.engine, 'ping', { timeout: 4000 });
        await onceArgs(c.io.engine, 'ping', { timeout: 4000 });
      }),
    );
    assert.deepEqual(await ack(ws, 'join', 'outlive'), { ok: true, room: 'outlive' });
    assert.deepEqual(await ack(polling, 'join', 'outlive'), { ok: true, room: 'outlive' });
    const rec = new Recorder(polling, ['message']);
    const sent = await ack(ws, 'message', { room: 'outlive', data: 'still here' });
    assert.equal(sent.ok, true, JSON.stringify(sent));
    assert.equal((await rec.wait('message')).data, 'still here');
    assert.deepEqual(ws.disconnects, []);
    assert.deepEqual(polling.disconnects, []);
    assert.equal(polling.io.engine.transport.name, 'polling');
    assert.equal(ws.io.engine.transport.name, 'websocket');
  });
});

describe('per-address cap on unfinished connections (--max-pending-per-peer)', () => {
  const srv = sharedServer({ env: { MAX_PENDING_PER_PEER: '4', HEADER_TIMEOUT: '20000' } });

  e2e('a fifth silent connection from one address is refused; other addresses and finished requests are not', async (
    t,
    s,
  ) => {
    const refusedBefore = await metricValue(srv().adminUrl, 'sio_connections_refused_total', {
      reason: 'peer_pending',
    });
    const silent = [];
    for (let i = 0; i < 4; i++) silent.push(await s.tcp(srv().port));

    const started = Date.now();
    const refused = await pollingHandshake(srv().url);
    assert.equal(refused.status, 503, `handshake from the same address: ${refused.status} ${refused.text}`);
    assert.ok(Date.now() - started < 2000, `refusal took ${Date.now() - started} ms`);
    const other = await httpRequest(`${srv().url}/socket.io/?EIO=4&transport=polling`, {
      localAddress: '127.0.0.2',
    });
    assert.equal(other.status, 200, `handshake from 127.0.0.2: ${other.status} ${other.text}`);
    const refusedAfter = await metricValue(srv().adminUrl, 'sio_connections_refused_total', {
      reason: 'peer_pending',
    });
    assert.equal(refusedAfter - refusedBefore, 1);

    // Once three of them leave, the address may connect again; a connected client's finished request does not count.
    for (const c of silent.slice(1)) c.destroy();
    await waitUntil(async () => (await pollingHandshake(srv().url)).status === 200, {
      timeout: 5000,
      what: 'a handshake to be accepted once three silent connections left',
    });
    const client = await s.connect(srv().url);
    for (let i = 0; i < 3; i++) silent.push(await s.tcp(srv().port));
    const again = await pollingHandshake(srv().url);
    assert.equal(again.status, 503, `with 4 silent connections again: ${again.status} ${again.text}`);
    assert.equal((await ack(client, 'rooms')).ok, true);
  });
});
