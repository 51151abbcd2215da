// The client contract on namespace "/": join, leave, message, broadcast, direct, members, rooms, whoami, presence, error
// acks and the `error` event, unknown events, data pass-through (JSON and binary).

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, asBuffer, barrier, normaliseBinary } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { once, Recorder } from '../lib/wait.mjs';

let seq = 0;
const uniqueRoom = (p = 'room') => `${p}-${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;

/** Assert a failure ack: {ok:false, error:<code>, message:<non-empty string>}. */
function assertFail(res, code, ctx = '') {
  assert.equal(typeof res, 'object', `${ctx} ack is not an object: ${JSON.stringify(res)}`);
  assert.equal(res.ok, false, `${ctx} expected ok:false, got ${JSON.stringify(res)}`);
  assert.equal(res.error, code, `${ctx} expected error ${code}, got ${JSON.stringify(res)}`);
  assert.equal(typeof res.message, 'string', `${ctx} message must be a string: ${JSON.stringify(res)}`);
  assert.ok(res.message.length > 0, `${ctx} empty message`);
}

function assertIdTs(x, ctx = '') {
  assert.equal(typeof x.id, 'string', `${ctx} id must be a string: ${JSON.stringify(x)}`);
  assert.ok(x.id.length > 0, `${ctx} empty id`);
  assert.equal(typeof x.ts, 'number', `${ctx} ts must be a number: ${JSON.stringify(x)}`);
  assert.ok(Number.isInteger(x.ts), `${ctx} ts must be integer epoch ms`);
  assert.ok(Math.abs(x.ts - Date.now()) < 60000, `${ctx} ts ${x.ts} is not epoch ms near now (${Date.now()})`);
}

const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

describe('events', () => {
  const srv = sharedServer({});
  const url = () => srv().url;

  e2e('user object: {id: socket id, name} from auth.name, null when absent', async (t, s) => {
    const room = uniqueRoom();
    const alice = await s.connect(url(), { auth: { name: 'Alice' } });
    const anon = await s.connect(url());
    await ack(anon, 'join', room);
    const rec = new Recorder(anon, ['presence']);
    await ack(alice, 'join', room);
    const p = await rec.wait('presence');
    assert.deepEqual(p, { room, action: 'join', user: { id: alice.id, name: 'Alice' } });
    const m = await ack(alice, 'members', room);
    assert.deepEqual(
      m.members.slice().sort(byId),
      [
        { id: alice.id, name: 'Alice' },
        { id: anon.id, name: null },
      ].sort(byId),
    );
  });

  e2e('events emitted right at connect are never lost (buffered before connect, or sent in the connect handler)', { timeout: 45000 }, async (t, s) => {
    // socket.io-client buffers emits made before the connection and sends them right after the CONNECT packet;
    // apps also commonly emit from their "connect" handler. 100 fresh sockets per pattern, both transports.
    const lost = [];
    for (let i = 0; i < 200; i++) {
      const transports = [i % 4 < 2 ? 'websocket' : 'polling'];
      const c = s.client(url(), { transports });
      const room = uniqueRoom('early');
      let res;
      if (i % 2 === 0) {
        res = c.timeout(3000).emitWithAck('join', room); // buffered until connected
      } else {
        res = new Promise((resolve, reject) =>
          c.once('connect', () => c.timeout(3000).emitWithAck('join', room).then(resolve, reject)),
        );
      }
      try {
        const r = await res;
        assert.deepEqual(r, { ok: true, room });
      } catch (e) {
        lost.push(`#${i} ${transports[0]} ${i % 2 === 0 ? 'buffered' : 'on connect'}: ${e.message}`);
      }
      c.close();
    }
    assert.deepEqual(lost, [], `${lost.length} of 200 first events got no ack`);
  });

  describe('join', () => {
    e2e('ack {ok:true, room}; other members get presence join; the joiner does not', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url(), { auth: { name: 'a' } });
      const b = await s.connect(url(), { auth: { name: 'b' } });
      const outsider = await s.connect(url());
      assert.deepEqual(await ack(a, 'join', room), { ok: true, room });
      const recA = new Recorder(a, ['presence']);
      const recO = new Recorder(outsider, ['presence']);
      const gotA = recA.wait('presence');
      assert.deepEqual(await ack(b, 'join', room), { ok: true, room });
      assert.deepEqual(await gotA, { room, action: 'join', user: { id: b.id, name: 'b' } });
      // b must not get its own presence; the outsider gets nothing.
      const recB = new Recorder(b, ['presence']);
      await barrier(b);
      await barrier(outsider);
      assert.deepEqual(recB.of('presence'), []);
      assert.deepEqual(recO.of('presence'), []);
    });

    e2e('joining an already joined room is ok and sends no new presence', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url());
      const b = await s.connect(url());
      await ack(b, 'join', room);
      const recB = new Recorder(b, ['presence', 'message']);
      assert.deepEqual(await ack(a, 'join', room), { ok: true, room });
      assert.deepEqual(await ack(a, 'join', room), { ok: true, room });
      // Anything the second join sent to b is queued before this message.
      await ack(a, 'message', { room, data: 'sync' });
      await recB.wait('message', (m) => m.data === 'sync');
      assert.equal(recB.of('presence').length, 1, JSON.stringify(recB.of('presence')));
      assert.deepEqual((await ack(a, 'rooms')).rooms, [room]);
    });

    e2e('room names: 1..128 chars ok, unicode ok', async (t, s) => {
      const a = await s.connect(url());
      for (const room of ['x', 'r'.repeat(128), 'salon café ☕', 'with space', 'a/b:c#d']) {
        assert.deepEqual(await ack(a, 'join', room), { ok: true, room }, `room ${JSON.stringify(room)}`);
      }
    });

    e2e('invalid rooms are bad_request: empty, 129 chars, control characters, non-strings', async (t, s) => {
      const a = await s.connect(url());
      const bad = ['', 'r'.repeat(129), 'a\u0000b', 'line\nbreak', 'tab\there', 'del\u007f', 'bell\u0007', 123, null, true, {}, ['r'], { room: 'r' }];
      for (const room of bad) assertFail(await ack(a, 'join', room), 'bad_request', `join(${JSON.stringify(room)})`);
      assertFail(await ack(a, 'join'), 'bad_request', 'join() without payload');
      assert.deepEqual((await ack(a, 'rooms')).rooms, []);
    });
  });

  describe('leave', () => {
    e2e('ack {ok:true, room}; others get presence leave; rooms no longer lists it', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url(), { auth: { name: 'leaver' } });
      const b = await s.connect(url());
      await ack(a, 'join', room);
      await ack(b, 'join', room);
      const recB = new Recorder(b, ['presence']);
      assert.deepEqual(await ack(a, 'leave', room), { ok: true, room });
      assert.deepEqual(await recB.wait('presence', (p) => p.action === 'leave'), {
        room,
        action: 'leave',
        user: { id: a.id, name: 'leaver' },
      });
      assert.deepEqual((await ack(a, 'rooms')).rooms, []);
      const m = await ack(b, 'members', room);
      assert.deepEqual(m.members, [{ id: b.id, name: null }]);
      // Once left, messages to the room are refused.
      assertFail(await ack(a, 'message', { room, data: 1 }), 'not_in_room', 'message after leave');
    });

    e2e('leaving a room not joined -> not_in_room', async (t, s) => {
      const a = await s.connect(url());
      assertFail(await ack(a, 'leave', uniqueRoom()), 'not_in_room', 'leave unjoined');
      const room = uniqueRoom();
      await ack(a, 'join', room);
      await ack(a, 'leave', room);
      assertFail(await ack(a, 'leave', room), 'not_in_room', 'second leave');
    });

    e2e('leave with an invalid room -> bad_request', async (t, s) => {
      const a = await s.connect(url());
      for (const room of ['', 5, null, {}, 'r'.repeat(129)]) {
        assertFail(await ack(a, 'leave', room), 'bad_request', `leave(${JSON.stringify(room)})`);
      }
    });

    e2e('disconnect sends presence leave for every joined room', async (t, s) => {
      const r1 = uniqueRoom('r1');
      const r2 = uniqueRoom('r2');
      const a = await s.connect(url(), { auth: { name: 'gone' } });
      const b = await s.connect(url());
      const c = await s.connect(url());
      await ack(a, 'join', r1);
      await ack(a, 'join', r2);
      await ack(b, 'join', r1);
      await ack(c, 'join', r2);
      const recB = new Recorder(b, ['presence']);
      const recC = new Recorder(c, ['presence']);
      const aId = a.id;
      a.disconnect();
      const user = { id: aId, name: 'gone' };
      assert.deepEqual(await recB.wait('presence', (p) => p.action === 'leave'), { room: r1, action: 'leave', user });
      assert.deepEqual(await recC.wait('presence', (p) => p.action === 'leave'), { room: r2, action: 'leave', user });
      await barrier(b);
      await barrier(c);
      assert.equal(recB.of('presence').length, 1, 'b got presence for a room it is not in');
      assert.equal(recC.of('presence').length, 1, 'c got presence for a room it is not in');
      assert.deepEqual((await ack(b, 'members', r1)).members, [{ id: b.id, name: null }]);
    });

    e2e('an abrupt transport loss also sends presence leave', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url());
      const b = await s.connect(url());
      await ack(a, 'join', room);
      await ack(b, 'join', room);
      const recB = new Recorder(b, ['presence']);
      const aId = a.id;
      // Kill the TCP connection without a socket.io/engine.io goodbye.
      a.io.engine.transport.ws?._socket?.destroy();
      assert.deepEqual(await recB.wait('presence', (p) => p.action === 'leave', 10000), {
        room,
        action: 'leave',
        user: { id: aId, name: null },
      });
    });
  });

  describe('message', () => {
    e2e('members get {id, room, from, data, ts}; ack {ok, id, ts} matches; sender and non-members get nothing', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url(), { auth: { name: 'sender' } });
      const b = await s.connect(url(), { auth: { name: 'b' } });
      const c = await s.connect(url(), { auth: { name: 'c' } });
      const out = await s.connect(url());
      for (const x of [a, b, c]) await ack(x, 'join', room);
      const recs = [a, b, c, out].map((x) => new Recorder(x, ['message']));
      const res = await ack(a, 'message', { room, data: { text: 'hi' } });
      assert.equal(res.ok, true, JSON.stringify(res));
      assertIdTs(res, 'ack');
      assert.deepEqual(Object.keys(res).sort(), ['id', 'ok', 'ts']);
      for (const r of [recs[1], recs[2]]) {
        const m = await r.wait('message');
        assert.deepEqual(m, { id: res.id, room, from: { id: a.id, name: 'sender' }, data: { text: 'hi' }, ts: res.ts });
      }
      await barrier(a);
      await barrier(out);
      assert.deepEqual(recs[0].of('message'), [], 'sender received its own message');
      assert.deepEqual(recs[3].of('message'), [], 'non-member received a room message');
    });

    e2e('message ids are unique', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url());
      await ack(a, 'join', room);
      const ids = new Set();
      for (let i = 0; i < 20; i++) ids.add((await ack(a, 'message', { room, data: i })).id);
      assert.equal(ids.size, 20);
    });

    e2e('sender not a member -> not_in_room, nobody receives it', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url());
      const b = await s.connect(url());
      await ack(b, 'join', room);
      const recB = new Recorder(b, ['message']);
      assertFail(await ack(a, 'message', { room, data: 'x' }), 'not_in_room', 'message from non-member');
      await barrier(b);
      assert.deepEqual(recB.of('message'), []);
    });

    e2e('wrong payloads -> bad_request', async (t, s) => {
      const a = await s.connect(url());
      const room = uniqueRoom();
      await ack(a, 'join', room);
      const bad = ['just a string', 42, null, [], { data: 1 }, { room: 5, data: 1 }, { room: '', data: 1 }, { room: null, data: 1 }];
      for (const p of bad) assertFail(await ack(a, 'message', p), 'bad_request', `message(${JSON.stringify(p)})`);
      assertFail(await ack(a, 'message'), 'bad_request', 'message() without payload');
    });

    e2e('data passes through unchanged: every JSON type', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url());
      const b = await s.connect(url());
      await ack(a, 'join', room);
      await ack(b, 'join', room);
      const values = [
        null,
        0,
        -1.5,
        1e21,
        Number.MAX_SAFE_INTEGER,
        true,
        false,
        '',
        'plain',
        'unicode ✓ 日本語 🎉 \u2028',
        'quote " backslash \\ newline \n',
        [],
        [1, 'two', null, [3, [4, { five: 5 }]]],
        {},
        { nested: { deep: { array: [1, 2, { x: null }] } }, emptyObj: {}, emptyArr: [] },
        { room: 'not-the-room', id: 'spoof', from: 'spoof', ts: 0 },
      ];
      const rec = new Recorder(b, ['message']);
      for (const [i, v] of values.entries()) {
        const r = await ack(a, 'message', { room, data: v });
        assert.equal(r.ok, true, `value #${i} ${JSON.stringify(v)}: ${JSON.stringify(r)}`);
      }
      await rec.waitCount('message', values.length);
      const got = rec.of('message');
      for (const [i, v] of values.entries()) {
        assert.deepEqual(got[i].data, v, `value #${i}`);
        assert.equal(got[i].room, room);
      }
    });

    e2e('binary data stays binary, top-level and nested', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url());
      const b = await s.connect(url(), { transports: ['polling'] }); // binary over polling too (base64 framing)
      await ack(a, 'join', room);
      await ack(b, 'join', room);
      const rec = new Recorder(b, ['message']);
      const bin = Buffer.from([0, 1, 2, 253, 254, 255]);
      const big = Buffer.alloc(64 * 1024, 7);
      const nested = { file: Buffer.from('hello'), meta: { name: 'f.bin', parts: [Buffer.from([9]), 'text', Buffer.alloc(0)] } };
      assert.equal((await ack(a, 'message', { room, data: bin })).ok, true);
      assert.equal((await ack(a, 'message', { room, data: big })).ok, true);
      assert.equal((await ack(a, 'message', { room, data: nested })).ok, true);
      await rec.waitCount('message', 3);
      const [m1, m2, m3] = rec.of('message');
      assert.ok(asBuffer(m1.data), `top-level binary arrived as ${typeof m1.data}: ${JSON.stringify(m1.data)?.slice(0, 100)}`);
      assert.deepEqual(asBuffer(m1.data), bin);
      assert.ok(asBuffer(m2.data));
      assert.equal(asBuffer(m2.data).length, big.length);
      assert.ok(asBuffer(m2.data).equals(big));
      assert.ok(asBuffer(m3.data.file), 'nested binary is not binary');
      assert.ok(asBuffer(m3.data.meta.parts[0]), 'binary in nested array is not binary');
      assert.deepEqual(normaliseBinary(m3.data), nested);
    });

    e2e('binary from a polling sender reaches a websocket receiver', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url(), { transports: ['polling'] });
      const b = await s.connect(url(), { transports: ['websocket'] });
      await ack(a, 'join', room);
      await ack(b, 'join', room);
      const got = once(b, 'message');
      const payload = { blob: Buffer.from([1, 2, 3]), list: [Buffer.from('x')] };
      assert.equal((await ack(a, 'message', { room, data: payload })).ok, true);
      const m = await got;
      assert.ok(asBuffer(m.data.blob));
      assert.deepEqual(normaliseBinary(m.data), payload);
    });
  });

  describe('broadcast', () => {
    e2e('every other connected socket gets {id, from, data, ts}; ack {ok, id, ts}; sender gets nothing', async (t, s) => {
      const a = await s.connect(url(), { auth: { name: 'caster' } });
      const b = await s.connect(url());
      const c = await s.connect(url(), { transports: ['polling'] });
      const room = uniqueRoom();
      await ack(c, 'join', room); // room membership does not matter
      const recs = [a, b, c].map((x) => new Recorder(x, ['broadcast']));
      const data = { announcement: 'hello all', bin: Buffer.from([1, 2]) };
      const res = await ack(a, 'broadcast', data);
      assert.equal(res.ok, true, JSON.stringify(res));
      assertIdTs(res);
      for (const r of recs.slice(1)) {
        const m = await r.wait('broadcast', (x) => x.id === res.id);
        assert.deepEqual(Object.keys(m).sort(), ['data', 'from', 'id', 'ts']);
        assert.deepEqual(m.from, { id: a.id, name: 'caster' });
        assert.equal(m.ts, res.ts);
        assert.deepEqual(normaliseBinary(m.data), data);
      }
      await barrier(a);
      assert.deepEqual(recs[0].of('broadcast'), [], 'sender received its own broadcast');
    });

    e2e('broadcast of plain JSON values', async (t, s) => {
      const a = await s.connect(url());
      const b = await s.connect(url());
      const rec = new Recorder(b, ['broadcast']);
      const values = ['text', 0, null, [1, [2]], { k: 'v' }];
      const ids = [];
      for (const v of values) ids.push((await ack(a, 'broadcast', v)).id);
      for (const [i, v] of values.entries()) {
        const m = await rec.wait('broadcast', (x) => x.id === ids[i]);
        assert.deepEqual(m.data, v);
      }
    });
  });

  describe('direct', () => {
    e2e('the target gets {id, from, data, ts}; ack {ok, id, ts}; nobody else gets it', async (t, s) => {
      const a = await s.connect(url(), { auth: { name: 'dm' } });
      const b = await s.connect(url(), { transports: ['polling'] });
      const c = await s.connect(url());
      const recB = new Recorder(b, ['direct']);
      const recC = new Recorder(c, ['direct']);
      const recA = new Recorder(a, ['direct']);
      const data = { secret: 42, bin: Buffer.from('zz') };
      const res = await ack(a, 'direct', { to: b.id, data });
      assert.equal(res.ok, true, JSON.stringify(res));
      assertIdTs(res);
      const m = await recB.wait('direct');
      assert.deepEqual(Object.keys(m).sort(), ['data', 'from', 'id', 'ts']);
      assert.equal(m.id, res.id);
      assert.equal(m.ts, res.ts);
      assert.deepEqual(m.from, { id: a.id, name: 'dm' });
      assert.deepEqual(normaliseBinary(m.data), data);
      await barrier(a);
      await barrier(c);
      assert.deepEqual(recC.of('direct'), []);
      assert.deepEqual(recA.of('direct'), []);
    });

    e2e('joining another socket\'s id as a room does not intercept its direct messages', async (t, s) => {
      const a = await s.connect(url());
      const b = await s.connect(url());
      const spy = await s.connect(url());
      const joined = await ack(spy, 'join', b.id); // refusing it (bad_request) is fine too
      assert.equal(typeof joined.ok, 'boolean', JSON.stringify(joined));
      const recB = new Recorder(b, ['direct']);
      const recSpy = new Recorder(spy, ['direct', 'message']);
      const res = await ack(a, 'direct', { to: b.id, data: 'for b only' });
      assert.equal(res.ok, true);
      await recB.wait('direct');
      await barrier(spy);
      assert.deepEqual(recSpy.of('direct'), [], `join(${b.id}) ack ${JSON.stringify(joined)} let a third socket read b's direct messages`);
    });

    e2e('unknown target: still {ok:true, id, ts}', async (t, s) => {
      const a = await s.connect(url());
      const res = await ack(a, 'direct', { to: 'no-such-socket-id', data: 'x' });
      assert.equal(res.ok, true, JSON.stringify(res));
      assertIdTs(res);
    });

    e2e('wrong payloads -> bad_request', async (t, s) => {
      const a = await s.connect(url());
      for (const p of [{ data: 1 }, { to: 123, data: 1 }, { to: null, data: 1 }, { to: '', data: 1 }, 'id', 7, null, []]) {
        assertFail(await ack(a, 'direct', p), 'bad_request', `direct(${JSON.stringify(p)})`);
      }
      assertFail(await ack(a, 'direct'), 'bad_request', 'direct() without payload');
    });
  });

  describe('members and rooms', () => {
    e2e('members(room) lists users; any socket may ask; unknown room -> empty list', async (t, s) => {
      const room = uniqueRoom();
      const a = await s.connect(url(), { auth: { name: 'A' } });
      const b = await s.connect(url(), { auth: { name: 'B' } });
      const asker = await s.connect(url());
      await ack(a, 'join', room);
      await ack(b, 'join', room);
      const res = await ack(asker, 'members', room);
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.equal(res.room, room);
      assert.deepEqual(res.members.slice().sort(byId), [{ id: a.id, name: 'A' }, { id: b.id, name: 'B' }].sort(byId));
    });

    e2e('members of an unknown room is {ok:true, room, members: []}; bad room -> bad_request', async (t, s) => {
      const a = await s.connect(url());
      const room = uniqueRoom('nobody');
      assert.deepEqual(await ack(a, 'members', room), { ok: true, room, members: [] });
      for (const r of ['', 5, null, 'x'.repeat(129)]) assertFail(await ack(a, 'members', r), 'bad_request', `members(${JSON.stringify(r)})`);
    });

    e2e('a socket id is not a room: members(<socket id>) does not expose the private room', async (t, s) => {
      const a = await s.connect(url());
      const b = await s.connect(url());
      const res = await ack(b, 'members', a.id);
      assert.equal(res.ok, true);
      assert.deepEqual(res.members, []);
    });

    e2e('rooms lists the rooms joined through join, not the own-id room', async (t, s) => {
      const a = await s.connect(url());
      assert.deepEqual(await ack(a, 'rooms'), { ok: true, rooms: [] });
      const r1 = uniqueRoom('one');
      const r2 = uniqueRoom('two');
      await ack(a, 'join', r1);
      await ack(a, 'join', r2);
      const res = await ack(a, 'rooms');
      assert.equal(res.ok, true);
      assert.deepEqual(res.rooms.slice().sort(), [r1, r2].sort());
      assert.ok(!res.rooms.includes(a.id));
      await ack(a, 'leave', r1);
      assert.deepEqual((await ack(a, 'rooms')).rooms, [r2]);
    });

    e2e('whoami answers the user others see and the node id of the replica serving the socket', async (t, s) => {
      const node = await s.server({ args: ['--node-id', 'who-7'] });
      const a = await s.connect(node.url, { auth: { name: 'Ada' } });
      assert.deepEqual(await ack(a, 'whoami'), { ok: true, user: { id: a.id, name: 'Ada' }, node: 'who-7' });
      const anon = await s.connect(node.url);
      assert.deepEqual(await ack(anon, 'whoami', 'ignored'), { ok: true, user: { id: anon.id, name: null }, node: 'who-7' });
    });
  });

  describe('errors', () => {
    e2e('a failure without an ack callback arrives as event "error" {error, message, event}', async (t, s) => {
      const a = await s.connect(url());
      const rec = new Recorder(a, ['error']);
      a.emit('join', '');
      const e1 = await rec.wait('error');
      assert.equal(e1.error, 'bad_request');
      assert.equal(e1.event, 'join');
      assert.equal(typeof e1.message, 'string');
      a.emit('leave', uniqueRoom());
      const e2 = await rec.wait('error', (e) => e.event === 'leave');
      assert.equal(e2.error, 'not_in_room');
      a.emit('message', { room: uniqueRoom(), data: 1 });
      const e3 = await rec.wait('error', (e) => e.event === 'message');
      assert.equal(e3.error, 'not_in_room');
      a.emit('direct', { data: 1 });
      const e4 = await rec.wait('error', (e) => e.event === 'direct');
      assert.equal(e4.error, 'bad_request');
      assert.equal(a.connected, true);
    });

    e2e('a success without an ack callback sends nothing back', async (t, s) => {
      const a = await s.connect(url());
      const rec = new Recorder(a, ['error', 'presence', 'message', 'join']);
      a.emit('join', uniqueRoom());
      await barrier(a);
      assert.deepEqual(rec.log, []);
      assert.equal((await ack(a, 'rooms')).rooms.length, 1);
    });

    e2e('unknown event with ack -> bad_request "unknown event"; without ack -> error event', async (t, s) => {
      const a = await s.connect(url());
      const res = await ack(a, 'frobnicate', { x: 1 });
      assertFail(res, 'bad_request', 'unknown event');
      assert.match(res.message, /unknown event/i);
      const rec = new Recorder(a, ['error']);
      a.emit('no-such-event', 1, 2, 3);
      const e = await rec.wait('error');
      assert.equal(e.error, 'bad_request');
      assert.equal(e.event, 'no-such-event');
      assert.match(e.message, /unknown event/i);
      assert.equal(a.connected, true);
      assert.equal((await ack(a, 'rooms')).ok, true);
    });

    e2e('client-side reserved-looking names are just unknown events', async (t, s) => {
      const a = await s.connect(url());
      for (const ev of ['presence', 'error', 'broadcast ', 'JOIN', 'ping']) {
        const res = await ack(a, ev, 'x');
        assertFail(res, 'bad_request', `event ${JSON.stringify(ev)}`);
      }
    });
  });
});
