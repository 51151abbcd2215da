// --parser msgpack with socket.io-msgpack-parser on the client.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import msgpackParser from 'socket.io-msgpack-parser';
import { ack, asBuffer, barrier, normaliseBinary } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { postJson } from '../lib/http.mjs';
import { Recorder } from '../lib/wait.mjs';

const KEY = 'msgpack-key';

describe('--parser msgpack', () => {
  const srv = sharedServer({ args: ['--parser', 'msgpack', '--api-key', KEY] });
  const opts = (extra = {}) => ({ parser: msgpackParser, ...extra });

  for (const transport of ['websocket', 'polling']) {
    e2e(`${transport}: join, presence, message with acks`, async (t, s) => {
      const a = await s.connect(srv().url, opts({ transports: [transport], auth: { name: 'packA' } }));
      const b = await s.connect(srv().url, opts({ transports: [transport], auth: { name: 'packB' } }));
      const room = `mp-${transport}`;
      assert.deepEqual(await ack(b, 'join', room), { ok: true, room });
      const rec = new Recorder(b, ['presence', 'message']);
      assert.deepEqual(await ack(a, 'join', room), { ok: true, room });
      assert.deepEqual(await rec.wait('presence'), { room, action: 'join', user: { id: a.id, name: 'packA' } });
      const data = { text: 'hello', n: 42, f: 1.25, arr: [1, 'two', null, true], nested: { deep: {} } };
      const res = await ack(a, 'message', { room, data });
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.equal(typeof res.id, 'string');
      assert.equal(typeof res.ts, 'number');
      const m = await rec.wait('message');
      assert.deepEqual(m, { id: res.id, room, from: { id: a.id, name: 'packA' }, data, ts: res.ts });
    });

    e2e(`${transport}: binary stays binary (top-level and nested)`, async (t, s) => {
      const a = await s.connect(srv().url, opts({ transports: [transport] }));
      const b = await s.connect(srv().url, opts({ transports: [transport] }));
      const room = `mp-bin-${transport}`;
      await ack(a, 'join', room);
      await ack(b, 'join', room);
      const rec = new Recorder(b, ['message', 'direct']);
      const bin = Buffer.from([0, 255, 1, 254]);
      const nested = { blob: Buffer.alloc(10000, 3), parts: [Buffer.from('ab'), 'text'] };
      assert.equal((await ack(a, 'message', { room, data: bin })).ok, true);
      assert.equal((await ack(a, 'direct', { to: b.id, data: nested })).ok, true);
      const m = await rec.wait('message');
      assert.ok(asBuffer(m.data), `binary arrived as ${typeof m.data}`);
      assert.deepEqual(asBuffer(m.data), bin);
      const d = await rec.wait('direct');
      assert.ok(asBuffer(d.data.blob));
      assert.deepEqual(normaliseBinary(d.data), nested);
    });
  }

  e2e('broadcast, members, rooms, error acks and the error event', async (t, s) => {
    const a = await s.connect(srv().url, opts());
    const b = await s.connect(srv().url, opts());
    const recB = new Recorder(b, ['broadcast']);
    const res = await ack(a, 'broadcast', { hi: 1 });
    assert.equal(res.ok, true);
    const bc = await recB.wait('broadcast');
    assert.deepEqual(bc.data, { hi: 1 });
    assert.equal(bc.from.id, a.id);
    await ack(a, 'join', 'mp-room');
    assert.deepEqual(await ack(b, 'members', 'mp-room'), { ok: true, room: 'mp-room', members: [{ id: a.id, name: null }] });
    assert.deepEqual(await ack(a, 'rooms'), { ok: true, rooms: ['mp-room'] });
    const fail = await ack(a, 'leave', 'never-joined');
    assert.equal(fail.ok, false);
    assert.equal(fail.error, 'not_in_room');
    const unknown = await ack(a, 'what');
    assert.equal(unknown.error, 'bad_request');
    const recA = new Recorder(a, ['error']);
    a.emit('join', 123);
    const e = await recA.wait('error');
    assert.equal(e.error, 'bad_request');
    assert.equal(e.event, 'join');
    await barrier(a);
  });

  e2e('HTTP API emits reach msgpack clients', async (t, s) => {
    const a = await s.connect(srv().url, opts());
    const rec = new Recorder(a, ['news']);
    const r = await postJson(`${srv().url}/api/v1/emit`, { event: 'news', data: { x: [1, 2] } }, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(await rec.wait('news'), { x: [1, 2] });
  });
});
