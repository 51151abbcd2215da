// Limits: --max-rooms, --rate-limit / --rate-burst, --max-payload, --max-buffer (slow consumers).

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { e2e } from '../lib/harness.mjs';
import { fetchMetrics, metricSum, metricValue } from '../lib/metrics.mjs';
import { once, Recorder, waitUntil } from '../lib/wait.mjs';

function assertFail(res, code, ctx = '') {
  assert.equal(res?.ok, false, `${ctx} expected ok:false, got ${JSON.stringify(res)}`);
  assert.equal(res.error, code, `${ctx} expected ${code}, got ${JSON.stringify(res)}`);
  assert.equal(typeof res.message, 'string', `${ctx} ${JSON.stringify(res)}`);
}

describe('--max-rooms', () => {
  e2e('the room after the limit -> too_many_rooms; re-joining and leave/join still work', async (t, s) => {
    const srv = await s.server({ args: ['--max-rooms', '3'] });
    const a = await s.connect(srv.url);
    for (const r of ['r1', 'r2', 'r3']) assert.deepEqual(await ack(a, 'join', r), { ok: true, room: r });
    assertFail(await ack(a, 'join', 'r4'), 'too_many_rooms', '4th room');
    assert.deepEqual((await ack(a, 'rooms')).rooms.slice().sort(), ['r1', 'r2', 'r3']);
    // Already joined: ok, not a new room.
    assert.deepEqual(await ack(a, 'join', 'r2'), { ok: true, room: 'r2' });
    await ack(a, 'leave', 'r1');
    assert.deepEqual(await ack(a, 'join', 'r4'), { ok: true, room: 'r4' });
    // Without ack: error event.
    const rec = new Recorder(a, ['error']);
    a.emit('join', 'r5');
    const e = await rec.wait('error');
    assert.deepEqual({ error: e.error, event: e.event }, { error: 'too_many_rooms', event: 'join' });
    // The limit is per socket.
    const b = await s.connect(srv.url);
    assert.equal((await ack(b, 'join', 'r5')).ok, true);
  });

  e2e('default limit is 100 rooms', async (t, s) => {
    const srv = await s.server({ args: ['--rate-limit', '100000', '--rate-burst', '100000'] });
    const a = await s.connect(srv.url);
    const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => ack(a, 'join', `room-${i}`)));
    assert.ok(acks.every((r) => r.ok === true), JSON.stringify(acks.find((r) => !r.ok)));
    assertFail(await ack(a, 'join', 'room-100'), 'too_many_rooms', '101st room');
    assert.equal((await ack(a, 'rooms')).rooms.length, 100);
  });
});

describe('rate limit', () => {
  e2e('exceeding the burst -> rate_limited acks; the bucket refills; counted in metrics', async (t, s) => {
    const srv = await s.server({ args: ['--rate-limit', '5', '--rate-burst', '10'] });
    const a = await s.connect(srv.url);
    const before = await metricValue(srv.adminUrl, 'sio_rate_limited_total');
    const start = Date.now();
    const results = await Promise.all(Array.from({ length: 30 }, () => ack(a, 'rooms')));
    const elapsedS = (Date.now() - start) / 1000;
    const oks = results.filter((r) => r.ok === true).length;
    const limited = results.filter((r) => r.ok === false);
    for (const r of limited) assertFail(r, 'rate_limited', 'over the limit');
    assert.equal(oks + limited.length, 30, `unexpected acks: ${JSON.stringify(results.filter((r) => r.ok !== true && r.error !== 'rate_limited'))}`);
    // The server may handle one socket's events concurrently, so which ones win is not fixed: count them.
    assert.ok(oks >= 10, `only ${oks} of 30 passed with a burst of 10`);
    assert.ok(oks <= 10 + Math.ceil(elapsedS * 5) + 1, `${oks} passed in ${elapsedS}s with burst 10 at 5/s`);
    assert.ok(limited.length >= 1);
    assert.equal(a.connected, true, 'rate limiting must not disconnect');
    await waitUntil(async () => (await metricValue(srv.adminUrl, 'sio_rate_limited_total')) >= before + limited.length, {
      what: `sio_rate_limited_total >= ${before + limited.length}`,
    });
    // Refill: at 5 tokens/s a token is back within ~200 ms (bounded retry, there is no event for it).
    await waitUntil(async () => (await ack(a, 'rooms')).ok === true, { timeout: 3000, interval: 250, what: 'a refilled token' });
  });

  e2e('unknown events take tokens too; rate_limited without ack -> error event', async (t, s) => {
    const srv = await s.server({ args: ['--rate-limit', '1', '--rate-burst', '3'] });
    const a = await s.connect(srv.url);
    for (let i = 0; i < 3; i++) assertFail(await ack(a, 'bogus-event', i), 'bad_request', `unknown #${i}`);
    assertFail(await ack(a, 'rooms'), 'rate_limited', 'after 3 unknown events with burst 3');
    const rec = new Recorder(a, ['error']);
    a.emit('join', 'x');
    const e = await rec.wait('error');
    assert.deepEqual({ error: e.error, event: e.event }, { error: 'rate_limited', event: 'join' });
  });

  e2e('the limit is per socket', async (t, s) => {
    const srv = await s.server({ args: ['--rate-limit', '1', '--rate-burst', '2'] });
    const a = await s.connect(srv.url);
    const b = await s.connect(srv.url);
    await ack(a, 'rooms');
    await ack(a, 'rooms');
    assertFail(await ack(a, 'rooms'), 'rate_limited');
    assert.equal((await ack(b, 'rooms')).ok, true);
  });
});

describe('--max-payload', () => {
  for (const transport of ['websocket', 'polling']) {
    e2e(`${transport}: a packet over the limit closes that connection; others keep working`, async (t, s) => {
      const srv = await s.server({ args: ['--max-payload', '10000'] });
      const big = await s.connect(srv.url, { transports: [transport] });
      const other = await s.connect(srv.url, { transports: [transport] });
      const room = 'payload';
      await ack(big, 'join', room);
      await ack(other, 'join', room);
      // Under the limit: fine.
      assert.equal((await ack(big, 'message', { room, data: 'y'.repeat(5000) })).ok, true);
      const otherRec = new Recorder(other, ['presence']);
      const bigId = big.id;
      const gone = once(big, 'disconnect', { timeout: 5000 });
      big.emit('message', { room, data: 'x'.repeat(50000) });
      const reason = await gone;
      assert.ok(typeof reason === 'string', `disconnect reason ${reason}`);
      assert.equal(other.connected, true);
      // The server really dropped that socket: the room sees it leave.
      await otherRec.wait('presence', (p) => p.action === 'leave' && p.user.id === bigId);
      // The other client still works end to end.
      const c = await s.connect(srv.url, { transports: [transport] });
      await ack(c, 'join', room);
      const recv = once(c, 'message');
      assert.equal((await ack(other, 'message', { room, data: 'still here' })).ok, true);
      assert.equal((await recv).data, 'still here');
      assert.equal(srv.running, true);
    });
  }

  e2e('a binary attachment over the limit also closes the connection', async (t, s) => {
    const srv = await s.server({ args: ['--max-payload', '10000'] });
    const big = await s.connect(srv.url);
    const other = await s.connect(srv.url);
    const gone = once(big, 'disconnect', { timeout: 5000 });
    big.emit('broadcast', Buffer.alloc(50000, 1));
    await gone;
    assert.equal((await ack(other, 'rooms')).ok, true);
  });
});

describe('--max-buffer (slow consumer)', () => {
  e2e('a client that stops reading is disconnected and counted; others are unaffected', { timeout: 45000 }, async (t, s) => {
    const srv = await s.server({
      // A full buffer cannot take the DISCONNECT packet either: Engine.IO's heartbeat then closes the connection
      // (the ping does not fit, or its pong never comes), so ping interval + timeout bound how long it lingers.
      args: ['--max-buffer', '32', '--rate-limit', '1000000', '--rate-burst', '1000000', '--ping-interval', '1000', '--ping-timeout', '1000'],
    });
    const before = await fetchMetrics(srv.adminUrl);
    const slowBefore = metricSum(before.samples, 'sio_slow_consumer_disconnects_total');
    // The slow consumer: a raw websocket client that connects and then never reads again.
    const { raw } = await s.rawSocketIo(srv.url);
    const sender = await s.connect(srv.url);
    const healthy = await s.connect(srv.url);
    const healthyRec = new Recorder(healthy, ['broadcast']);
    raw.pause();
    const chunk = Buffer.alloc(64 * 1024, 0xab);
    let sent = 0;
    let slowNow = slowBefore;
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline && sent < 2000) {
      // 64 KiB per broadcast, one at a time (so healthy clients never have more than a couple of packets queued);
      // loopback socket buffers hold a few MiB before the slow consumer's server-side queue fills.
      for (let i = 0; i < 20; i++) {
        const r = await ack(sender, 'broadcast', chunk);
        assert.equal(r.ok, true, JSON.stringify(r));
        sent += 1;
      }
      slowNow = metricSum((await fetchMetrics(srv.adminUrl)).samples, 'sio_slow_consumer_disconnects_total');
      if (slowNow > slowBefore) break;
    }
    assert.ok(slowNow >= slowBefore + 1, `no slow-consumer disconnect after ${sent} broadcasts of 64 KiB (${(sent * 64) / 1024} MiB)`);
    await waitUntil(async () => metricSum((await fetchMetrics(srv.adminUrl)).samples, 'sio_connected_clients') === 2, {
      what: 'sio_connected_clients to drop to 2 (the slow consumer gone)',
    });
    // One slow client, one disconnect counted.
    const slowAfter = metricSum((await fetchMetrics(srv.adminUrl)).samples, 'sio_slow_consumer_disconnects_total');
    assert.equal(slowAfter, slowBefore + 1, 'one slow consumer must be counted once');
    // The healthy client kept receiving everything and is still connected.
    await healthyRec.waitCount('broadcast', sent, () => true, 20000);
    assert.equal(healthy.connected, true);
    assert.deepEqual(healthy.disconnects, []);
    assert.equal(sender.connected, true);
    assert.equal((await ack(healthy, 'rooms')).ok, true);
    assert.equal(srv.running, true);
  });
});
