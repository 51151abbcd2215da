// Issue 13, defect 4: the connection limit and the file descriptor limit.
//
// Clients over --max-connections are refused at once (HTTP 503 on the handshake) instead of hanging in the backlog;
// the admin port keeps answering /health, /ready and /metrics; out of descriptors the default limit (computed from
// RLIMIT_NOFILE, descriptors kept for the admin port and Redis) does the same. The fd test runs the server under
// `ulimit -n 256` so that it needs a few hundred sockets, not 20,000.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { waitConnectError } from '../lib/client.mjs';
import { e2e } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { fetchMetrics, metricSum } from '../lib/metrics.mjs';
import { pollingHandshake } from '../lib/raw.mjs';
import { waitUntil } from '../lib/wait.mjs';

/** /health, /ready and /metrics answer 200, each within `ms`. */
async function assertAdminAnswers(server, ms = 2000) {
  for (const path of ['/health', '/ready', '/metrics']) {
    const res = await httpRequest(`${server.adminUrl}${path}`, { timeout: ms });
    assert.equal(res.status, 200, `${path}: ${res.status} ${res.text.slice(0, 200)}`);
  }
}

/** A handshake answered at once: resolves {status} or {error} (a connection closed without an answer). */
async function quickHandshake(server, ms = 2000) {
  const started = Date.now();
  const res = await pollingHandshake(server.url).then(
    (r) => ({ status: r.status, text: r.text }),
    (e) => ({ error: e.message }),
  );
  const took = Date.now() - started;
  assert.ok(took < ms, `handshake answered after ${took} ms: ${JSON.stringify(res)}`);
  return res;
}

describe('--max-connections', () => {
  e2e('clients over the limit get HTTP 503 at once; the admin port answers; a freed slot is reused', async (t, s) => {
    const server = await s.server({ env: { MAX_CONNECTIONS: '20' } });
    const clients = [];
    for (let i = 0; i < 20; i++) clients.push(await s.connect(server.url));

    const refused = await quickHandshake(server);
    assert.equal(refused.status, 503, JSON.stringify(refused));
    assert.match(refused.text, /connections/i);
    const ws = s.client(server.url);
    const err = await waitConnectError(ws, 3000);
    assert.ok(err, 'websocket client over the limit');
    await assertAdminAnswers(server);

    const { samples } = await fetchMetrics(server.adminUrl);
    assert.equal(metricSum(samples, "sio_open_connections", { listener: "main" }), 20);
    assert.equal(metricSum(samples, "sio_max_connections", { listener: "main" }), 20);
    assert.ok(metricSum(samples, 'sio_connections_refused_total', { reason: 'max_connections' }) >= 2);

    clients[0].close();
    await waitUntil(async () => (await pollingHandshake(server.url)).status === 200, {
      timeout: 5000,
      what: 'a handshake to be accepted once a client left',
    });
  });
});

describe('out of file descriptors (ulimit -n 256)', () => {
  e2e('the default limit keeps descriptors for the admin port; extra clients are refused, not left hanging', async (
    t,
    s,
  ) => {
    const server = await s.server({ nofile: 256 });
    // Silent connections (the header timeout is 20 s by default): far more than the descriptors.
    const conns = [];
    for (let i = 0; i < 400; i++) conns.push(s.tcpOpen(server.port));
    const settled = () => conns.filter((c) => c.connectedAt !== undefined || !c.isOpen).length;
    // More connections than descriptors are established (or already refused) before the probes below.
    await waitUntil(() => settled() >= 300, { timeout: 5000, what: '300 connections to settle' });
    await assertAdminAnswers(server);
    const res = await quickHandshake(server);
    assert.ok(res.status === 503 || res.error, `a handshake over the limit: ${JSON.stringify(res)}`);
    // None is left hanging in the backlog: every connection is established or refused.
    await waitUntil(() => settled() === 400, { timeout: 5000, what: `all 400 connections to settle` });

    const { samples } = await fetchMetrics(server.adminUrl);
    const max = metricSum(samples, "sio_max_connections", { listener: "main" });
    // 256 descriptors minus the 128 kept for the admin port, Redis, refusals and the process itself.
    assert.equal(max, 128);
    assert.equal(metricSum(samples, "sio_open_connections", { listener: "main" }), max);
    const refusedCount = metricSum(samples, 'sio_connections_refused_total', { reason: 'max_connections' });
    assert.ok(refusedCount >= 400 - max, `refused ${refusedCount}`);
    const warnings = server.stderr.split('\n').concat(server.stdout.split('\n'));
    const acceptFailed = warnings.filter((l) => /accept failed/.test(l)).length;
    assert.ok(acceptFailed <= 2, `${acceptFailed} "accept failed" log lines`);
  });
});
