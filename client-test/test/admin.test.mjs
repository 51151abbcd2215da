// Admin port: /health, /ready, /metrics; `server healthcheck`.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { fetchMetrics, hasMetric, metricSum } from '../lib/metrics.mjs';
import { getFreePort, runBinary } from '../lib/server.mjs';
import { waitUntil } from '../lib/wait.mjs';

const REQUIRED_METRICS = [
  'sio_connected_clients',
  'sio_connections_total',
  'sio_disconnections_total',
  'sio_events_received_total',
  'sio_packets_sent_total',
  'sio_api_emits_total',
  'sio_rate_limited_total',
  'sio_slow_consumer_disconnects_total',
  'sio_build_info',
];

describe('admin endpoints', () => {
  const srv = sharedServer({ args: ['--node-id', 'admin-node'] });

  e2e('GET /health and /ready -> 200', async () => {
    assert.equal((await httpRequest(`${srv().adminUrl}/health`)).status, 200);
    assert.equal((await httpRequest(`${srv().adminUrl}/ready`)).status, 200);
  });

  e2e('the admin routes are not on the main port, unknown admin paths 404', async () => {
    assert.equal((await httpRequest(`${srv().adminUrl}/nope`)).status, 404);
    const m = await httpRequest(`${srv().url}/metrics`);
    assert.notEqual(m.status, 200, 'metrics exposed on the public port');
  });

  e2e('GET /metrics is Prometheus text with every required family', async () => {
    const res = await fetchMetrics(srv().adminUrl);
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /text\/plain|application\/openmetrics-text/);
    const missing = REQUIRED_METRICS.filter((n) => !hasMetric(res.text, n));
    assert.deepEqual(missing, [], `missing metric families; got:\n${res.text}`);
    const build = res.samples.find((x) => x.name === 'sio_build_info');
    assert.ok(build, 'sio_build_info has no sample');
    assert.equal(build.value, 1);
  });

  e2e('metrics follow connections, events, packets and disconnections; no per-socket labels', async (t, s) => {
    const m0 = await fetchMetrics(srv().adminUrl);
    const connected0 = metricSum(m0.samples, 'sio_connected_clients');
    const total0 = metricSum(m0.samples, 'sio_connections_total');
    const joins0 = metricSum(m0.samples, 'sio_events_received_total', { event: 'join' });
    const sent0 = metricSum(m0.samples, 'sio_packets_sent_total');
    const disc0 = metricSum(m0.samples, 'sio_disconnections_total');

    const a = await s.connect(srv().url);
    const b = await s.connect(srv().url, { transports: ['polling'] });
    await ack(a, 'join', 'metrics-room');
    await ack(b, 'join', 'metrics-room');
    await ack(a, 'message', { room: 'metrics-room', data: 'x' });

    const m1 = await waitUntil(
      async () => {
        const m = await fetchMetrics(srv().adminUrl);
        return metricSum(m.samples, 'sio_connected_clients') === connected0 + 2 &&
          metricSum(m.samples, 'sio_events_received_total', { event: 'join' }) >= joins0 + 2
          ? m
          : null;
      },
      { what: 'connected_clients +2 and events_received{event="join"} +2' },
    );
    assert.ok(metricSum(m1.samples, 'sio_connections_total') >= total0 + 2);
    assert.ok(metricSum(m1.samples, 'sio_events_received_total', { event: 'message' }) >= 1);
    assert.ok(metricSum(m1.samples, 'sio_packets_sent_total') > sent0, 'packets_sent did not grow');
    for (const id of [a.id, b.id, a.io.engine.id, b.io.engine.id]) {
      assert.ok(!m1.text.includes(id), `metrics mention a socket id (${id})`);
    }

    a.disconnect();
    const m2 = await waitUntil(
      async () => {
        const m = await fetchMetrics(srv().adminUrl);
        return metricSum(m.samples, 'sio_connected_clients') === connected0 + 1 ? m : null;
      },
      { what: 'connected_clients back to +1 after a disconnect' },
    );
    assert.ok(metricSum(m2.samples, 'sio_disconnections_total') >= disc0 + 1);
    const reasons = m2.samples.filter((x) => x.name === 'sio_disconnections_total').map((x) => x.labels.reason);
    assert.ok(reasons.every((r) => typeof r === 'string' && r.length > 0), `disconnections without reason label: ${JSON.stringify(reasons)}`);
  });

  e2e('unknown events are counted without exploding label cardinality', async (t, s) => {
    const a = await s.connect(srv().url);
    for (let i = 0; i < 5; i++) await ack(a, `random-event-${Math.random().toString(36).slice(2)}`);
    const m = await fetchMetrics(srv().adminUrl);
    const labels = m.samples.filter((x) => x.name === 'sio_events_received_total').map((x) => x.labels.event);
    assert.ok(!labels.some((l) => l?.startsWith('random-event-')), `client-chosen event names became labels: ${labels}`);
  });
});

describe('server healthcheck', () => {
  const srv = sharedServer({});

  e2e('exits 0 when /ready answers 200', async () => {
    const r = await runBinary(['healthcheck', '--url', `${srv().adminUrl}/ready`]);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  });

  e2e('exits 1 when nothing is listening', async () => {
    const port = await getFreePort();
    const r = await runBinary(['healthcheck', '--url', `http://127.0.0.1:${port}/ready`]);
    assert.equal(r.code, 1, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  });

  e2e('exits 1 when the URL answers non-200', async () => {
    const r = await runBinary(['healthcheck', '--url', `${srv().adminUrl}/does-not-exist`]);
    assert.equal(r.code, 1, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  });
});
