// Lifecycle: SIGTERM / SIGINT graceful drain, clients reconnecting to a replacement server on the same port.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import net from 'node:net';
import { ack, waitConnected, waitConnectError } from '../lib/client.mjs';
import { e2e } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { runBinary } from '../lib/server.mjs';
import { pollingHandshake } from '../lib/raw.mjs';
import { onceArgs, Recorder, waitUntil, withTimeout } from '../lib/wait.mjs';

const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 500, randomizationFactor: 0 };

/**
 * Open a request on the main port that never completes (headers and part of a JSON body sent to the emit API): a
 * graceful drain has to wait for it, at most --drain-timeout. Resolves once a later request on the main port was
 * served, so the server has certainly accepted this connection.
 */
async function inFlightRequest(srv, apiKey) {
  const sock = net.connect(srv.port, '127.0.0.1');
  await onceArgs(sock, 'connect', { timeout: 3000 });
  sock.on('error', () => {});
  sock.write(
    'POST /api/v1/emit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      `Authorization: Bearer ${apiKey}\r\nContent-Length: 1000\r\n\r\n{"event":"x",`,
  );
  const hs = await pollingHandshake(srv.url);
  assert.equal(hs.status, 200);
  const closed = new Promise((resolve) => sock.on('close', () => resolve(Date.now())));
  return { sock, closed };
}

describe('graceful drain', () => {
  e2e('SIGTERM: clients get "transport close", exit 0 within --drain-timeout, reconnect to a new server on the same port', { timeout: 60000 }, async (t, s) => {
    const drainMs = 5000;
    const a1 = await s.server({ args: ['--drain-timeout', String(drainMs)] });
    // Keep drain observable: a raw websocket client that stops reading makes a clean close take a while (and the
    // server must still exit within the drain timeout).
    const clients = {
      ws: s.client(a1.url, { ...RECONNECT, transports: ['websocket'], auth: { name: 'ws' } }),
      polling: s.client(a1.url, { ...RECONNECT, transports: ['polling'], auth: { name: 'polling' } }),
      upgrade: s.client(a1.url, { ...RECONNECT, transports: ['polling', 'websocket'], auth: { name: 'upgrade' } }),
    };
    for (const c of Object.values(clients)) await waitConnected(c);
    const { raw: stuck } = await s.rawSocketIo(a1.url);
    stuck.pause();
    const firstIds = Object.fromEntries(Object.entries(clients).map(([k, c]) => [k, c.id]));
    const recs = Object.fromEntries(Object.entries(clients).map(([k, c]) => [k, new Recorder(c, ['disconnect', 'connect'])]));
    assert.equal((await httpRequest(`${a1.adminUrl}/ready`)).status, 200);

    const sigAt = Date.now();
    a1.proc.kill('SIGTERM');

    // Every client is disconnected with "transport close" (which makes it reconnect), never "io server disconnect".
    for (const [k, rec] of Object.entries(recs)) {
      const reason = await rec.wait('disconnect', () => true, drainMs + 2000);
      assert.equal(reason, 'transport close', `${k} client disconnect reason`);
    }
    const exit = await a1.waitExit(drainMs + 2000);
    assert.ok(exit, `process still running ${drainMs + 2000} ms after SIGTERM`);
    assert.equal(exit.code, 0, `exit code ${exit.code} signal ${exit.signal}`);
    assert.ok(exit.at - sigAt <= drainMs + 1000, `exit took ${exit.at - sigAt} ms (drain timeout ${drainMs})`);

    // A replacement server on the same port: the clients come back by themselves.
    const a2 = await s.server({ port: a1.port, args: ['--drain-timeout', String(drainMs)] });
    for (const [k, rec] of Object.entries(recs)) {
      await rec.waitCount('connect', 1, () => true, 15000).catch((e) => {
        throw new Error(`${k} client did not reconnect: ${e.message}`);
      });
      assert.equal(clients[k].connected, true);
      assert.notEqual(clients[k].id, firstIds[k]);
    }
    // And they work on the new server.
    const room = 'after-restart';
    for (const c of Object.values(clients)) assert.deepEqual(await ack(c, 'join', room), { ok: true, room });
    const members = await ack(clients.ws, 'members', room);
    assert.deepEqual(members.members.map((m) => m.name).sort(), ['polling', 'upgrade', 'ws']);
    await a2.stop('SIGTERM');
  });

  e2e('while draining: /ready 503, new handshakes refused; exit 0 at --drain-timeout despite an unfinished request', async (t, s) => {
    const drainMs = 3000;
    const key = 'drain-key';
    const srv = await s.server({ args: ['--drain-timeout', String(drainMs), '--api-key', key] });
    const c = await s.connect(srv.url);
    const { sock, closed } = await inFlightRequest(srv, key);
    s.defer(() => sock.destroy());
    assert.equal((await httpRequest(`${srv.adminUrl}/ready`)).status, 200);
    const at = Date.now();
    srv.proc.kill('SIGTERM');
    await waitUntil(async () => (await httpRequest(`${srv.adminUrl}/ready`, { timeout: 1000 })).status === 503, {
      timeout: drainMs,
      interval: 20,
      what: '/ready to answer 503 after SIGTERM',
    });
    assert.equal(srv.running, true);
    assert.equal((await httpRequest(`${srv.adminUrl}/health`)).status, 200, '/health must stay 200 while the process runs');
    // New handshakes are refused (connection refused or an HTTP error), never a fresh session.
    const hs = await pollingHandshake(srv.url).catch((e) => ({ status: 'refused', text: e.message }));
    assert.ok(hs.status === 'refused' || hs.status >= 400, `handshake during drain: ${hs.status} ${hs.text}`);
    const late = s.client(srv.url);
    await waitConnectError(late).catch(() => {
      throw new Error('a new client connected during the drain');
    });
    assert.equal(c.connected, false, 'connected client not closed by the drain');
    // /ready stays 503 until the process exits.
    assert.equal((await httpRequest(`${srv.adminUrl}/ready`)).status, 503);
    const exit = await srv.waitExit(drainMs + 3000);
    assert.ok(exit, `still running ${drainMs + 3000} ms after SIGTERM`);
    assert.equal(exit.code, 0, `exit code ${exit.code}`);
    assert.ok(exit.at - at <= drainMs + 1000, `exit took ${exit.at - at} ms with drain timeout ${drainMs}`);
    await withTimeout(closed, 2000, 'the unfinished request connection to be closed');
  });

  e2e('SIGINT drains the same way and exits 0', async (t, s) => {
    const srv = await s.server({ args: ['--drain-timeout', '3000'] });
    const c = await s.connect(srv.url, { ...RECONNECT });
    const disc = onceArgs(c, 'disconnect', { timeout: 5000 });
    srv.proc.kill('SIGINT');
    const [reason] = await disc;
    assert.equal(reason, 'transport close');
    const exit = await srv.waitExit(5000);
    assert.ok(exit, 'still running 5 s after SIGINT');
    assert.equal(exit.code, 0);
  });

  e2e('a client that stops reading does not hold the process past --drain-timeout', async (t, s) => {
    const drainMs = 2000;
    const srv = await s.server({ args: ['--drain-timeout', String(drainMs)] });
    const { raw } = await s.rawSocketIo(srv.url);
    const { raw: raw2 } = await s.rawSocketIo(srv.url);
    raw.pause();
    raw2.send('420["join","stuck"]');
    await raw2.next('430');
    raw2.pause();
    const at = Date.now();
    srv.proc.kill('SIGTERM');
    const exit = await srv.waitExit(drainMs + 3000);
    assert.ok(exit, `still running ${drainMs + 3000} ms after SIGTERM`);
    assert.equal(exit.code, 0, `exit code ${exit.code}`);
    assert.ok(exit.at - at <= drainMs + 1000, `exit took ${exit.at - at} ms with drain timeout ${drainMs}`);
  });

  e2e('an idle server exits 0 quickly on SIGTERM', async (t, s) => {
    const srv = await s.server({ args: ['--drain-timeout', '10s'] });
    const at = Date.now();
    srv.proc.kill('SIGTERM');
    const exit = await srv.waitExit(12000);
    assert.ok(exit);
    assert.equal(exit.code, 0);
    assert.ok(exit.at - at < 10000, `idle drain took ${exit.at - at} ms`);
  });

  e2e('healthcheck exits 1 once the server is gone', async (t, s) => {
    const srv = await s.server({});
    assert.equal((await runBinary(['healthcheck', '--url', `${srv.adminUrl}/ready`])).code, 0);
    await srv.stop('SIGTERM');
    const r = await runBinary(['healthcheck', '--url', `${srv.adminUrl}/ready`]);
    assert.equal(r.code, 1, `exit ${r.code} ${r.stderr}`);
  });
});

