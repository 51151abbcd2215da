// Engine.IO heartbeat, differential: when the first ping comes, how a pong re-arms it, what a client that stops
// answering sees (WebSocket, pending long-poll, no long-poll), and v3's client-driven pings. Timing is the thing
// measured here, so these tests measure with short intervals and assert windows wide enough for a loaded 2-core
// machine (lower bounds tight: a ping must never come early; upper bounds loose).

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { differential, knownDeviations, labelFor, protocolPair, reasonsAfter } from '../lib/protocol-targets.mjs';
import { connectRoot } from '../lib/protocol-steps.mjs';
import { withTimeout } from '../lib/wait.mjs';

const PI = 300; // pingInterval
const PT = 200; // pingTimeout
const EARLY = 60; // how much earlier than nominal a timer may appear to fire (the client sees "open" a bit late)
const LATE = 500; // how much later a timer may fire on a loaded machine

/** Assert lo <= value <= hi with a readable message. */
function within(value, lo, hi, what) {
  assert.ok(value >= lo && value <= hi, `${what}: ${value} ms, expected within [${lo}, ${hi}]`);
}

/** GET until an answer carries the ping (at most a few GETs: the session has nothing else to send). */
async function untilPing(p) {
  for (let i = 0; i < 5; i++) {
    const g = await p.get({ timeout: 3000 });
    if (g.status !== 200) throw new Error(`GET before the ping: ${g.status ?? g.error} ${g.text ?? ''}`);
    if (g.packets.includes('2')) return g;
  }
  throw new Error('no ping in 5 GETs');
}

/** A session error answer reduced to status and numeric code. */
function refusal(res) {
  return { status: res.status, code: Number(res.json?.code) };
}

knownDeviations({});

describe('heartbeat', () => {
  const pair = protocolPair({ pingInterval: PI, pingTimeout: PT });

  differential('v4 websocket: the first ping comes after pingInterval', { pair }, async (t, conns) => {
    const ws = await conns.open(t, { transport: 'websocket' });
    await connectRoot(ws, 4);
    const ping = await ws.next('2', 3000);
    const at = ws.messages.find((m) => m.data === ping).at;
    return { packets: ws.messages.map((m) => m.data.slice(0, 2)), timing: { firstPing: at - ws.openedAt } };
  }, (o) => {
    assert.deepEqual(o.packets, ['0{', '40', '2']);
    within(o.timing.firstPing, PI - EARLY, PI + LATE, 'first ping after open');
  });

  differential('v4 polling: the first ping comes after pingInterval', { pair }, async (t, conns) => {
    const p = await conns.open(t, { transport: 'polling', loop: false });
    const g = await p.get({ timeout: 3000 });
    return { packets: g.packets, timing: { firstPing: g.at - p.openedAt } };
  }, (o) => {
    assert.deepEqual(o.packets, ['2']);
    within(o.timing.firstPing, PI - EARLY, PI + LATE, 'first ping after the handshake');
  });

  differential('v4 websocket: a pong re-arms the ping timer (next ping pingInterval after the pong)', { pair }, async (t, conns) => {
    const ws = await conns.open(t, { transport: 'websocket', autoPong: false });
    const DELAY = 150;
    await ws.next('2', 3000);
    await new Promise((r) => setTimeout(r, DELAY)); // the delay of the pong is what is measured
    const pongAt = Date.now();
    ws.send('3');
    const from = ws.messages.length;
    await ws.next('2', 3000, from);
    const second = ws.messages.slice(from).find((m) => m.data === '2').at;
    return { open: ws.isOpen, timing: { afterPong: second - pongAt } };
  }, (o) => {
    assert.equal(o.open, true);
    within(o.timing.afterPong, PI - EARLY, PI + LATE, 'second ping after the pong');
  });

  differential('v4 websocket, no pong: closed pingTimeout after the ping, no close packet', { pair }, async (t, conns) => {
    const mark = await t.reasonsMark();
    const ws = await conns.open(t, { transport: 'websocket', autoPong: false });
    await connectRoot(ws, 4);
    const closed = await withTimeout(ws.closed, 3000, 'the server to close the websocket');
    const ping = ws.messages.find((m) => m.data === '2');
    return {
      packets: ws.messages.map((m) => m.data.slice(0, 2)),
      code: closed.code,
      reasons: await reasonsAfter(t, mark),
      timing: { afterPing: ping ? closed.at - ping.at : null, afterOpen: closed.at - ws.openedAt },
    };
  }, (o) => {
    assert.deepEqual(o.packets, ['0{', '40', '2'], 'no `1` before the close');
    assert.deepEqual(o.reasons, [labelFor('ping timeout')]);
    within(o.timing.afterPing, PT - EARLY, PT + LATE, 'close after the unanswered ping');
    within(o.timing.afterOpen, PI + PT - EARLY, PI + PT + LATE, 'close after open');
  });

  differential('v4 polling, no pong, GET pending: that GET gets 1, then the session is gone', { pair }, async (t, conns) => {
    const mark = await t.reasonsMark();
    const p = await conns.open(t, { transport: 'polling', loop: false });
    await connectRoot(p, 4);
    const from = p.messages.length;
    const g = await untilPing(p);
    const pingAt = g.at;
    const pending = await p.get({ timeout: 3000 });
    const after = await p.get({ timeout: 3000 });
    return {
      packets: p.messages.slice(from).map((m) => m.data),
      pending: pending.packets,
      after: refusal(after),
      reasons: await reasonsAfter(t, mark),
      timing: { closeAfterPing: pending.at - pingAt },
    };
  }, (o) => {
    assert.deepEqual(o.pending, ['1']);
    assert.deepEqual(o.after, { status: 400, code: 1 });
    assert.deepEqual(o.reasons, [labelFor('ping timeout')]);
    within(o.timing.closeAfterPing, PT - EARLY, PT + LATE, 'the pending GET answered after the ping');
  });

  differential('v4 polling, no pong, no GET pending: the next request gets Session ID unknown', { pair }, async (t, conns) => {
    const mark = await t.reasonsMark();
    const p = await conns.open(t, { transport: 'polling', loop: false });
    await connectRoot(p, 4);
    const from = p.messages.length;
    await untilPing(p);
    const reasons = await reasonsAfter(t, mark); // the server gave up on the session
    const after = await p.get({ timeout: 3000 });
    return { packets: p.messages.slice(from).map((m) => m.data), after: refusal(after), reasons };
  }, (o) => {
    assert.deepEqual(o.packets, ['2']);
    assert.deepEqual(o.after, { status: 400, code: 1 });
    assert.deepEqual(o.reasons, [labelFor('ping timeout')]);
  });

  differential('v3 websocket: the client pings, the server answers 3 and never pings', { pair }, async (t, conns) => {
    const mark = await t.reasonsMark();
    const ws = await conns.open(t, { transport: 'websocket', eio: 3 });
    const from = ws.messages.length;
    const pingAt = Date.now();
    ws.send('2');
    await ws.next('3', 3000, from);
    const closed = await withTimeout(ws.closed, 3000, 'the server to close the websocket');
    return {
      packets: ws.messages.slice(from).map((m) => m.data),
      code: closed.code,
      reasons: await reasonsAfter(t, mark),
      timing: { answer: ws.messages[from].at - pingAt, closeAfterPing: closed.at - pingAt },
    };
  }, (o) => {
    assert.deepEqual(o.packets, ['3'], 'only the pong: no server ping, no `1`');
    assert.deepEqual(o.reasons, [labelFor('ping timeout')]);
    within(o.timing.answer, 0, LATE, 'pong after the ping');
    within(o.timing.closeAfterPing, PI + PT - EARLY, PI + PT + LATE, 'close after the last client ping');
  });

  differential('v3 polling: POST 2 is answered 3; without pings the pending GET gets 1', { pair }, async (t, conns) => {
    const mark = await t.reasonsMark();
    const p = await conns.open(t, { transport: 'polling', eio: 3, loop: false });
    const pingAt = Date.now();
    await p.post(['2']);
    const pong = await p.get({ timeout: 3000 });
    const pending = await p.get({ timeout: 3000 });
    return {
      pong: pong.packets,
      pending: pending.packets,
      reasons: await reasonsAfter(t, mark),
      timing: { closeAfterPing: pending.at - pingAt },
    };
  }, (o) => {
    assert.deepEqual(o.pong, ['3']);
    assert.deepEqual(o.pending, ['1']);
    assert.deepEqual(o.reasons, [labelFor('ping timeout')]);
    within(o.timing.closeAfterPing, PI + PT - EARLY, PI + PT + LATE, 'close after the last client ping');
  });
});
