// Streams mode (issue 17) through a Redis restart: Redis is SIGKILLed and restarted on the same port while clients of
// two replicas keep sending. Redis runs with its append-only file (`appendfsync always`), so the restarted Redis
// still has the stream and the sessions (a Redis without persistence comes back empty: nothing would be left to
// resume from or to recover). Shown: each replica keeps delivering its own clients' messages during the outage;
// cross-node delivery resumes (printed); every stream entry reaches the other replica exactly once (the stream
// reader resumes from the last id it read, so what was appended before the kill and right after the restart is not
// skipped); and recovery works afterwards, from an offset read after the restart and from one read before the
// outage, on the other replica.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, waitConnected } from '../lib/client.mjs';
import { joinAll, startRust, startSender, uniqueRoom, waitServerCount } from '../lib/cluster.mjs';
import { e2e } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { metricValue } from '../lib/metrics.mjs';
import { cut, received, recording, rustConnected, send } from '../lib/recovery.mjs';
import { startRedis } from '../lib/redis.mjs';
import { Recorder, sleep, waitUntil } from '../lib/wait.mjs';

const OUTAGE_MS = 3000;
const RESUME_LIMIT_MS = 3000;
const RECOVERY = ['--recovery', 'on', '--recovery-max-disconnection', '20s'];
const PERSISTENT = ['--appendonly', 'yes', '--appendfsync', 'always'];

/** The {from, seq} of the `message` broadcasts in the stream (`socket.io`), in stream order. */
async function streamMessages(redis) {
  const entries = await redis.cmd('XRANGE', 'socket.io', '-', '+');
  const out = [];
  for (const [, fields] of entries) {
    const data = fields[fields.indexOf('data') + 1];
    if (typeof data !== 'string' || !data.startsWith('{')) continue;
    const packet = JSON.parse(data).packet;
    const body = packet?.data?.[0] === 'message' ? packet.data[1]?.data : undefined;
    if (body?.from !== undefined && body.seq !== undefined) out.push(body);
  }
  return out;
}

/** The seqs of the messages from `from` that `rec` received, in order. */
const seqsFrom = (rec, from) => rec.log.filter((r) => r.event === 'message' && r.data?.data?.from === from).map((r) => r.data.data.seq);

describe('streams mode: Redis killed and restarted (with its append-only file)', () => {
  e2e('local delivery goes on, the readers resume without loss or duplicates, recovery works after the restart', { timeout: 60000 }, async (t, s) => {
    const redis = await startRedis({ args: PERSISTENT });
    s.defer(() => redis.destroy());
    const A = await startRust(s, redis, { nodeId: 'streams-a', mode: 'streams', extra: RECOVERY });
    const B = await startRust(s, redis, { nodeId: 'streams-b', mode: 'streams', extra: RECOVERY });
    await waitServerCount(redis, 2, { mode: 'streams' });

    const room = uniqueRoom('live');
    const quiet = uniqueRoom('quiet');
    const a1 = await s.connect(A.url, { auth: { name: 'a1' } });
    const a2 = await s.connect(A.url, { auth: { name: 'a2' } });
    const b1 = await s.connect(B.url, { auth: { name: 'b1' } });
    const b2 = await s.connect(B.url, { auth: { name: 'b2' } });
    // alice follows the busy room; erin a quiet one, whose last offset is older than the outage.
    const alice = recording(A.url, 'alice');
    const erin = recording(A.url, 'erin');
    s.defer(() => [alice, erin].forEach((c) => c.close()));
    await Promise.all([alice, erin].map((c) => waitConnected(c)));
    await joinAll(room, a1, a2, b1, b2, alice);
    await joinAll(quiet, erin, b1, b2);
    const recA2 = new Recorder(a2, ['message']);
    const recB2 = new Recorder(b2, ['message']);
    await send(b1, 'message', { room: quiet, data: 'e0' });
    await waitUntil(() => erin.events.length === 1, { what: "erin's event before the outage" });

    const sendA = startSender(a1, 'a1', room);
    const sendB = startSender(b1, 'b1', room);
    let stopped = false;
    const stopSenders = async () => {
      if (stopped) return;
      stopped = true;
      await Promise.all([sendA.stop(), sendB.stop()]);
    };
    s.defer(stopSenders);
    // A few entries of each sender in the stream before the outage.
    await recB2.wait('message', (m) => m.data?.from === 'a1' && m.data.seq >= 15);
    await recA2.wait('message', (m) => m.data?.from === 'b1' && m.data.seq >= 15);

    // ---- Outage ----
    const killedAt = Date.now();
    await redis.kill();
    for (const srv of [A, B]) {
      await waitUntil(async () => (await metricValue(srv.adminUrl, 'sio_adapter_connected')) === 0, {
        timeout: 10000,
        interval: 20,
        what: `sio_adapter_connected 0 on ${srv.label}`,
      });
    }
    const outageLeft = OUTAGE_MS - (Date.now() - killedAt);
    if (outageLeft > 0) await sleep(outageLeft); // the outage lasts a while, clients keep sending meanwhile
    for (const srv of [A, B]) {
      const ready = await httpRequest(`${srv.adminUrl}/ready`);
      assert.equal(ready.status, 200, `/ready on ${srv.label} during the outage: ${ready.status}`);
    }

    // ---- Redis back on the same port, with its data ----
    const restartedAt = await redis.restart();
    const firstAfter = (rec, from) =>
      rec.wait('message', (x) => x.data?.from === from && x.data.sentAt >= restartedAt, 10000).then(() =>
        rec.log.find((r) => r.event === 'message' && r.data?.data?.from === from && r.data.data.sentAt >= restartedAt));
    const [toB, toA] = await Promise.all([firstAfter(recB2, 'a1'), firstAfter(recA2, 'b1')]);
    const resumeMs = Math.max(toB.at, toA.at) - restartedAt;
    console.log(`streams mode: Redis away for ${restartedAt - killedAt} ms; cross-node delivery resumed ${resumeMs} ms after it answered again`);
    t.diagnostic(`cross-node delivery resumed after ${resumeMs} ms`);
    await sleep(500); // load pacing: a few more messages after the resumption
    await stopSenders();
    // One after the other, so that what alice gets last is the stream's last entry (a replica delivers its own
    // broadcasts once appended, and the others' as its reader reads them: two replicas' appends made at the same
    // time can reach its clients in another order than the stream's, and alice's offset is the last she got).
    const lastA = await ack(a1, 'message', { room, data: { from: 'final-a' } });
    for (const rec of [recA2, recB2]) await rec.wait('message', (x) => x.id === lastA.id);
    await waitUntil(() => alice.events.some((e) => e.args[0]?.id === lastA.id), { what: 'alice has final-a' });
    const lastB = await ack(b1, 'message', { room, data: { from: 'final-b' } });
    for (const rec of [recA2, recB2]) await rec.wait('message', (x) => x.id === lastB.id);
    await waitUntil(() => alice.events.at(-1)?.args[0]?.id === lastB.id, { what: 'alice has final-b last' });

    // ---- Local delivery never stopped ----
    for (const [sender, rec, from] of [[sendA, recA2, 'a1'], [sendB, recB2, 'b1']]) {
      const notOk = sender.sent.filter((r) => r.ack?.ok !== true);
      assert.deepEqual(notOk.map((r) => ({ seq: r.seq, ack: r.ack, err: r.err })), [], `${from}: acks that were not ok`);
      const got = seqsFrom(rec, from);
      assert.deepEqual(got, sender.sent.map((r) => r.seq), `${from}: local messages lost, repeated or out of order`);
      const during = sender.sent.filter((r) => r.sentAt >= killedAt && r.sentAt < restartedAt).length;
      assert.ok(during >= 20, `${from}: only ${during} messages sent during the outage`);
    }

    // ---- The other replica got exactly the stream's entries, once each, in stream order ----
    // (Its only way to get them is the stream: what Redis never took, during the outage, stays local.)
    const inStream = await streamMessages(redis);
    for (const [from, sender, rec] of [['a1', sendA, recB2], ['b1', sendB, recA2]]) {
      const appended = inStream.filter((m) => m.from === from).map((m) => m.seq);
      // The restarted Redis still has what was appended before the kill, and what came after the restart.
      const longBefore = sender.sent.filter((r) => r.sentAt < killedAt - 300).map((r) => r.seq);
      assert.ok(longBefore.length >= 5, `${from}: ${longBefore.length} messages before the outage`);
      assert.deepEqual(longBefore.filter((seq) => !appended.includes(seq)), [], `${from}: entries lost with the restart`);
      assert.ok(appended.at(-1) > longBefore.at(-1) + OUTAGE_MS / 40, `${from}: nothing appended after the restart`);
      assert.deepEqual(seqsFrom(rec, from), appended, `${from}: the other replica's messages differ from the stream's`);
    }
    assert.ok(resumeMs < RESUME_LIMIT_MS, `cross-node delivery resumed after ${resumeMs} ms (limit ${RESUME_LIMIT_MS} ms)`);

    // ---- Recovery after the restart, on the other replica ----
    // alice: her offset was read after the restart.
    const aliceId = await cut(alice, () => rustConnected(A, 3));
    let mark = alice.events.length;
    await send(b1, 'message', { room, data: 'r1' });
    await recA2.wait('message', (x) => x.data === 'r1');
    await send(a1, 'message', { room, data: 'r2' });
    await recB2.wait('message', (x) => x.data === 'r2');
    alice.io.uri = B.url;
    alice.connect();
    await waitConnected(alice);
    assert.equal(alice.recovered, true, 'alice recovered on B after the restart');
    assert.equal(alice.id, aliceId);
    assert.deepEqual(received(alice, mark), [['message', 'r1'], ['message', 'r2']]);

    // erin: her last offset is from before the outage; the restarted Redis still has it.
    const erinId = await cut(erin, () => rustConnected(A, 2));
    mark = erin.events.length;
    await send(b1, 'message', { room: quiet, data: 'e1' });
    await recB2.wait('message', (x) => x.data === 'e1');
    erin.io.uri = B.url;
    erin.connect();
    await waitConnected(erin);
    assert.equal(erin.recovered, true, 'erin recovered on B from an offset older than the restart');
    assert.equal(erin.id, erinId);
    assert.deepEqual(received(erin, mark), [['message', 'e1']]);
    assert.deepEqual((await ack(erin, 'rooms')).rooms, [quiet]);
  });
});
