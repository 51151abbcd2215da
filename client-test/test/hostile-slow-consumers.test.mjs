// Issue 13, defects 1 and 2: slow consumers are bounded in bytes, and a slow consumer is disconnected, never left
// connected with messages silently missing.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { e2e } from '../lib/harness.mjs';
import { fetchMetrics, metricSum } from '../lib/metrics.mjs';
import { Recorder, sleep, waitUntil } from '../lib/wait.mjs';

/** Resident memory of a process, in MiB. */
function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const slowConsumers = async (srv) =>
  metricSum((await fetchMetrics(srv.adminUrl)).samples, 'sio_slow_consumer_disconnects_total');

describe('slow consumers (issue 13)', () => {
  e2e(
    'defect 1: three clients that stop reading cost bounded memory, whatever the payload size, and it is returned',
    { timeout: 60000 },
    async (t, s) => {
      // Default limits (--max-buffer-bytes 4 MiB): one sender within the default rate limit (50/s).
      const srv = await s.server({ args: [] });
      const pid = srv.proc.pid;
      const idle = rssMiB(pid);
      const stuck = [];
      for (let i = 0; i < 3; i++) {
        const { raw } = await s.rawSocketIo(srv.url);
        raw.send('421["join","r"]');
        await raw.next('431[');
        raw.pause();
        stuck.push(raw);
      }
      const sender = await s.connect(srv.url);
      assert.equal((await ack(sender, 'join', 'r')).ok, true);
      const data = 'x'.repeat(990_000);
      let peak = idle;
      // 50 messages a second of ~990 KB for up to 6 s, or until every stuck client is gone.
      for (let i = 0; i < 300; i++) {
        sender.emit('message', { room: 'r', data });
        if (i % 10 === 9) {
          peak = Math.max(peak, rssMiB(pid));
          if ((await slowConsumers(srv)) >= 3) break;
        }
        await sleep(20);
      }
      await waitUntil(async () => (await slowConsumers(srv)) >= 3, {
        timeout: 20000,
        what: 'the three stuck clients disconnected as slow consumers',
      });
      peak = Math.max(peak, rssMiB(pid));
      // Bounded: 3 x 4 MiB of queues plus the messages in flight, far from the 3 GB of defect 1.
      assert.ok(peak - idle < 200, `RSS grew from ${idle.toFixed(1)} to ${peak.toFixed(1)} MiB`);
      // Returned once the load is gone.
      let after = rssMiB(pid);
      await waitUntil(
        () => {
          after = rssMiB(pid);
          return after - idle < 40;
        },
        { timeout: 10000, what: `memory returned after the load (idle ${idle.toFixed(1)}, now ${after.toFixed(1)} MiB)` },
      );
      t.diagnostic(`RSS idle ${idle.toFixed(1)} MiB, peak ${peak.toFixed(1)} MiB, after ${after.toFixed(1)} MiB`);
      assert.equal(sender.connected, true);
      const disconnects = metricSum((await fetchMetrics(srv.adminUrl)).samples, 'sio_disconnections_total', {
        reason: 'slow consumer',
      });
      assert.equal(disconnects, 3);
    },
  );

  e2e(
    'defect 2: a member that cannot keep up is disconnected, never left connected with messages missing',
    { timeout: 60000 },
    async (t, s) => {
      const srv = await s.server({ args: ['--rate-limit', '100000', '--rate-burst', '100000'] });
      const receiver = await s.connect(srv.url);
      const sender = await s.connect(srv.url);
      for (const c of [receiver, sender]) assert.equal((await ack(c, 'join', 'r')).ok, true);
      const rec = new Recorder(receiver, ['message']);
      const data = 'y'.repeat(10 * 1024);
      const total = 1500;
      for (let i = 0; i < total; i++) sender.emit('message', { room: 'r', data: { i, data } });
      const last = await ack(sender, 'rooms');
      assert.equal(last.ok, true);
      // Either every message arrives, or the receiver's transport is closed (it then knows it missed some).
      await waitUntil(() => rec.of('message').length === total || receiver.disconnects.length > 0, {
        timeout: 30000,
        what: `all ${total} messages or a disconnect (got ${rec.of('message').length})`,
      });
      if (receiver.disconnects.length > 0) {
        assert.ok((await slowConsumers(srv)) >= 1, 'a disconnect must be a counted slow consumer');
      } else {
        await sleep(200);
        assert.equal(rec.of('message').length, total);
        // In order, none twice.
        assert.deepEqual(
          rec.of('message').map((m) => m.data.i),
          Array.from({ length: total }, (_, i) => i),
        );
      }
      t.diagnostic(`received ${rec.of('message').length} of ${total}, disconnects ${JSON.stringify(receiver.disconnects)}`);
    },
  );

  e2e('defect 2: a stuck member is closed at once (its transport), counted once', { timeout: 60000 }, async (t, s) => {
    const srv = await s.server({ args: ['--rate-limit', '100000', '--rate-burst', '100000'] });
    const { raw } = await s.rawSocketIo(srv.url);
    raw.send('421["join","r"]');
    await raw.next('431[');
    raw.pause();
    const sender = await s.connect(srv.url);
    assert.equal((await ack(sender, 'join', 'r')).ok, true);
    const data = 'z'.repeat(64 * 1024);
    for (let i = 0; i < 400 && (await slowConsumers(srv)) === 0; i++) {
      await ack(sender, 'message', { room: 'r', data });
    }
    assert.equal(await slowConsumers(srv), 1);
    raw.resume();
    const closed = await raw.closed;
    t.diagnostic(`stuck client saw close ${closed.code}`);
    assert.equal(await slowConsumers(srv), 1);
    assert.equal(sender.connected, true);
  });
});
