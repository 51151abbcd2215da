// socket.io-client 2.x (Engine.IO v3) with and without --allow-eio3.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, ackV2, asBuffer } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { httpRequest, isJsonResponse } from '../lib/http.mjs';
import { eioUrl, pollingHandshake } from '../lib/raw.mjs';
import { onceArgs, Recorder, withTimeout } from '../lib/wait.mjs';

/** Resolve when a 2.x client fails to connect (connect_error or error), reject if it connects. */
function v2Refused(socket, timeout = 5000) {
  const handlers = {};
  const p = new Promise((resolve, reject) => {
    handlers.connect = () => reject(new Error('socket.io-client 2.x connected although EIO3 is not allowed'));
    handlers.connect_error = (e) => resolve(e);
    handlers.error = (e) => resolve(e);
    for (const [k, h] of Object.entries(handlers)) socket.on(k, h);
  });
  return withTimeout(p, timeout, 'the 2.x client to be refused').finally(() => {
    for (const [k, h] of Object.entries(handlers)) socket.off(k, h);
  });
}

describe('without --allow-eio3', () => {
  const srv = sharedServer({});

  e2e('raw EIO=3 handshake -> HTTP 400 JSON', async () => {
    const res = await httpRequest(eioUrl(srv().url, { eio: 3 }));
    assert.equal(res.status, 400, `status ${res.status} body ${res.text}`);
    assert.ok(isJsonResponse(res), `content-type ${res.headers['content-type']}`);
    assert.notEqual(res.json, undefined, `body not JSON: ${res.text}`);
  });

  for (const transport of ['polling', 'websocket']) {
    e2e(`socket.io-client 2.x (${transport}) gets no connection`, async (t, s) => {
      const c = s.clientV2(srv().url, { transports: [transport] });
      await v2Refused(c);
      assert.equal(c.connected, false);
    });
  }
});

describe('with --allow-eio3', () => {
  const srv = sharedServer({ args: ['--allow-eio3'] });

  e2e('raw EIO=3 polling handshake answers an open packet', async () => {
    const hs = await pollingHandshake(srv().url, { eio: 3 });
    assert.equal(hs.status, 200, hs.text);
    assert.ok(/^(\d+:)?0\{/.test(hs.text), `EIO3 open packet: ${hs.text.slice(0, 200)}`);
  });

  for (const transport of ['websocket', 'polling']) {
    e2e(`socket.io-client 2.x (${transport}) connects and uses the events`, async (t, s) => {
      const v2a = await s.connectV2(srv().url, { transports: [transport] });
      const v2b = await s.connectV2(srv().url, { transports: [transport] });
      const room = `eio3-${transport}`;
      assert.deepEqual(await ackV2(v2a, 'join', room), { ok: true, room });
      assert.deepEqual(await ackV2(v2b, 'join', room), { ok: true, room });
      const rec = new Recorder(v2b, ['message']);
      const res = await ackV2(v2a, 'message', { room, data: { hello: 'from 2.x' } });
      assert.equal(res.ok, true, JSON.stringify(res));
      const m = await rec.wait('message');
      assert.equal(m.id, res.id);
      assert.equal(m.room, room);
      assert.deepEqual(m.data, { hello: 'from 2.x' });
      const mem = await ackV2(v2a, 'members', room);
      assert.equal(mem.ok, true);
      assert.equal(mem.members.length, 2);
      assert.deepEqual(await ackV2(v2a, 'rooms'), { ok: true, rooms: [room] });
      const fail = await ackV2(v2a, 'leave', 'not-joined');
      assert.equal(fail.ok, false);
      assert.equal(fail.error, 'not_in_room');
      const unknown = await ackV2(v2a, 'nope');
      assert.equal(unknown.error, 'bad_request');
    });
  }

  e2e('2.x and 4.x clients talk to each other, binary included', async (t, s) => {
    const old = await s.connectV2(srv().url, { transports: ['websocket'] });
    const cur = await s.connect(srv().url, { auth: { name: 'modern' } });
    const room = 'mixed';
    await ackV2(old, 'join', room);
    const recOld = new Recorder(old, ['message', 'presence', 'broadcast']);
    await ack(cur, 'join', room);
    const p = await recOld.wait('presence');
    assert.deepEqual(p, { room, action: 'join', user: { id: cur.id, name: 'modern' } });
    const bin = Buffer.from([5, 6, 7]);
    await ack(cur, 'message', { room, data: { bin } });
    const m = await recOld.wait('message');
    assert.deepEqual(asBuffer(m.data.bin), bin);
    // 2.x -> 4.x
    const recCur = new Recorder(cur, ['broadcast']);
    const res = await ackV2(old, 'broadcast', { from: 'v2', bin: Buffer.from([1]) });
    assert.equal(res.ok, true);
    const bc = await recCur.wait('broadcast');
    assert.equal(bc.data.from, 'v2');
    assert.deepEqual(asBuffer(bc.data.bin), Buffer.from([1]));
  });

  e2e('a 2.x client failure without ack gets the error event', async (t, s) => {
    const old = await s.connectV2(srv().url, { transports: ['websocket'] });
    const got = onceArgs(old, 'error', { timeout: 5000 });
    old.emit('join', '');
    const [e] = await got;
    assert.equal(e.error, 'bad_request');
    assert.equal(e.event, 'join');
  });
});
