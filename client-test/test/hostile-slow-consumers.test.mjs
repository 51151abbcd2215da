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

  /**
   * `senders` clients, members of the room like the receiver, each burst `perSender` room messages of 10 KB. Every
   * member either gets every message, in each sender's order and none twice, or has its transport closed as a
   * counted slow consumer (it then knows it missed some): never connected with messages missing. A sender closed
   * that way had its messages handled up to its close: the receiver gets an in-order prefix of them.
   */
  async function everyMessageOrADisconnect(t, s, { args, senders, perSender }) {
    const srv = await s.server({ args });
    const receiver = await s.connect(srv.url);
    assert.equal((await ack(receiver, 'join', 'r')).ok, true);
    const clients = [];
    for (let k = 0; k < senders; k++) {
      const c = await s.connect(srv.url);
      assert.equal((await ack(c, 'join', 'r')).ok, true);
      clients.push(c);
    }
    const rec = new Recorder(receiver, ['message']);
    const data = 'y'.repeat(10 * 1024);
    for (let i = 0; i < perSender; i++) {
      clients.forEach((c, k) => c.emit('message', { room: 'r', data: { k, i, data } }));
    }
    // A sender still connected after an ack that follows its burst had all of its messages handled (the ack may
    // say `rate_limited` with default flags: the burst took the bucket's tokens; it is an answer all the same).
    const stayed = (await Promise.allSettled(clients.map((c) => ack(c, 'rooms')))).map(
      (r, k) => r.status === 'fulfilled' && clients[k].disconnects.length === 0,
    );
    const from = (k) => rec.of('message').filter((m) => m.data.k === k).map((m) => m.data.i);
    await waitUntil(
      () => receiver.disconnects.length > 0 || stayed.every((ok, k) => !ok || from(k).length === perSender),
      { timeout: 30000, what: `every message of the senders still connected, or a disconnect` },
    );
    const closed = stayed.filter((ok) => !ok).length + (receiver.disconnects.length > 0 ? 1 : 0);
    if (closed > 0) {
      // Counted when the server has finished the socket, which may be just after the client saw its close.
      let counted = 0;
      await waitUntil(async () => (counted = await slowConsumers(srv)) >= closed, {
        timeout: 5000,
        what: `${closed} closed members each a counted slow consumer (counted ${counted})`,
      });
    }
    if (receiver.disconnects.length === 0) {
      await sleep(200);
      for (let k = 0; k < senders; k++) {
        const got = from(k);
        const expected = Array.from({ length: stayed[k] ? perSender : got.length }, (_, i) => i);
        assert.deepEqual(got, expected, `sender ${k}: in order, none twice${stayed[k] ? ', none missing' : ''}`);
      }
    }
    t.diagnostic(
      `receiver got ${rec.of('message').length} of ${senders * perSender}, receiver disconnects ` +
        `${JSON.stringify(receiver.disconnects)}, senders closed as slow consumers ${stayed.filter((ok) => !ok).length}`,
    );
  }

  e2e(
    'defect 2: a member that cannot keep up is disconnected, never left connected with messages missing',
    { timeout: 60000 },
    (t, s) =>
      everyMessageOrADisconnect(t, s, {
        args: ['--rate-limit', '100000', '--rate-burst', '100000'],
        senders: 1,
        perSender: 1500,
      }),
  );

  e2e(
    'defect 2 with default flags: 16 senders bursting 100 each never leave a member connected with messages missing',
    { timeout: 60000 },
    (t, s) => everyMessageOrADisconnect(t, s, { args: [], senders: 16, perSender: 100 }),
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
