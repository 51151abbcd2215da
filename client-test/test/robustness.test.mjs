// Malformed and non-JSON packets, wrong payload types, unknown events, connection churn: no crash, other clients
// unaffected, error acks where an ack was requested.

import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { ack, barrier, createClient, waitConnected } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { httpRequest } from '../lib/http.mjs';
import { eioUrl, RawPolling } from '../lib/raw.mjs';
import { Recorder, withTimeout } from '../lib/wait.mjs';

describe('robustness', () => {
  const srv = sharedServer({});
  const url = () => srv().url;

  // A bystander connected for the whole file: it must never be disturbed.
  let bystander;
  let watcher;
  let bystanderRec;
  const room = 'robust-room';
  before(async () => {
    bystander = createClient(url(), { auth: { name: 'bystander' } });
    watcher = createClient(url(), { transports: ['polling'] });
    await waitConnected(bystander);
    await waitConnected(watcher);
    await ack(bystander, 'join', room);
    await ack(watcher, 'join', room);
    bystanderRec = new Recorder(bystander, ['message', 'disconnect']);
  });
  after(() => {
    bystander?.close();
    watcher?.close();
  });

  /** The server is alive and the bystanders still exchange messages. */
  async function assertHealthy(ctx) {
    assert.equal(srv().running, true, `${ctx}: server process exited ${JSON.stringify(srv().exit)}`);
    const h = await httpRequest(`${srv().adminUrl}/health`);
    assert.equal(h.status, 200, `${ctx}: /health ${h.status}`);
    assert.equal(bystander.connected, true, `${ctx}: bystander disconnected (${JSON.stringify(bystanderRec.of('disconnect'))})`);
    assert.equal(watcher.connected, true, `${ctx}: polling watcher disconnected`);
    const tag = `${ctx}-${Math.random()}`;
    const res = await ack(watcher, 'message', { room, data: tag });
    assert.equal(res.ok, true, `${ctx}: ${JSON.stringify(res)}`);
    await bystanderRec.wait('message', (m) => m.data === tag);
  }

  // Raw Engine.IO frames sent after a proper namespace connect. The server may close that connection (as Node does
  // on a parse error) or ignore the frame, but must not crash or affect others.
  const MALFORMED = [
    ['truncated JSON', '42[bad json'],
    ['event packet with garbage', '4garbage'],
    ['bare message packet', '4'],
    ['unknown engine.io type', '9hello'],
    ['unknown socket.io type', '49["join","x"]'],
    ['non-array event payload (object)', '42{"event":"join"}'],
    ['non-array event payload (string)', '42"join"'],
    ['non-array event payload (number)', '421'],
    ['empty array', '42[]'],
    ['event name not a string', '42[123,"x"]'],
    ['event name null', '42[null]'],
    ['event name object', '42[{"a":1},"x"]'],
    ['unknown namespace', '42/nope,["join","x"]'],
    ['ack id overflow', '4299999999999999999999999["rooms"]'],
    ['negative ack id', '42-1["rooms"]'],
    ['huge nesting (array)', `42["message",${'['.repeat(100000)}${']'.repeat(100000)}]`],
    ['huge nesting (object)', `42["message",${'{"a":'.repeat(50000)}1${'}'.repeat(50000)}]`],
    ['binary event announcing missing attachments', '451-["message",{"_placeholder":true,"num":0}]'],
    ['binary event with absurd attachment count', '4599999999-["message",{"_placeholder":true,"num":0}]'],
    ['placeholder out of range', '42["message",{"room":"robust-room","data":{"_placeholder":true,"num":7}}]'],
    ['ack for an unknown id', '43999["x"]'],
    ['invalid UTF-8 in a text frame', Buffer.from([0x34, 0x32, 0x5b, 0x22, 0xff, 0xfe, 0x22, 0x5d])],
    ['binary frame without a binary event', Buffer.from([1, 2, 3, 4])],
    ['connect again', '40'],
    ['connect with bad auth JSON', '40{bad'],
    ['disconnect with payload', '41garbage'],
    ['upgrade packet', '5'],
    ['noop packet', '6'],
    ['engine close packet', '1'],
    ['empty frame', ''],
  ];

  for (const [label, frame] of MALFORMED) {
    e2e(`raw websocket frame: ${label}`, async (t, s) => {
      const { raw } = await s.rawSocketIo(url());
      if (Buffer.isBuffer(frame) && label.startsWith('invalid UTF-8')) {
        raw.ws.send(frame, { binary: false }); // a text frame whose bytes are not UTF-8 (ws does not validate)
      } else {
        raw.send(frame);
      }
      // Whatever happens to this connection, the server must still serve everyone else.
      await assertHealthy(label);
      if (raw.isOpen) {
        // If the connection survived, it must still be usable.
        raw.send('420["rooms"]');
        const reply = await Promise.race([
          raw.next('430', 3000).catch(() => null),
          raw.closed.then(() => 'closed'),
        ]);
        if (reply !== 'closed' && reply !== null) assert.match(reply, /^430\[\{"ok":true/);
      }
    });
  }

  e2e('raw frames with acks and wrong payload types get error acks', async (t, s) => {
    const { raw } = await s.rawSocketIo(url());
    const cases = [
      ['421["join",123]', 'bad_request'],
      ['422["join",null]', 'bad_request'],
      ['423["join"]', 'bad_request'],
      ['424["message"]', 'bad_request'],
      ['425["message",{"data":1}]', 'bad_request'],
      ['426["message","text"]', 'bad_request'],
      ['427["direct",{"data":1}]', 'bad_request'],
      ['428["direct",{"to":5,"data":1}]', 'bad_request'],
      ['429["members",{}]', 'bad_request'],
      ['4210["leave",[]]', 'bad_request'],
      ['4211["unknown-thing",1]', 'bad_request'],
      ['4212["message",{"room":"never-joined","data":1}]', 'not_in_room'],
      ['4213["leave","never-joined"]', 'not_in_room'],
    ];
    for (const [frame, code] of cases) {
      const id = /^42(\d+)\[/.exec(frame)[1];
      raw.send(frame);
      const reply = await raw.next(`43${id}[`, 5000);
      const [res] = JSON.parse(reply.slice(2 + id.length));
      assert.equal(res.ok, false, `${frame}: ${reply}`);
      assert.equal(res.error, code, `${frame}: ${reply}`);
      assert.equal(typeof res.message, 'string', `${frame}: ${reply}`);
    }
    assert.equal(raw.isOpen, true, 'wrong payload types must not close the connection');
    await assertHealthy('wrong payload types');
  });

  e2e('socket.io-client: wrong payload types with acks -> bad_request, connection kept', async (t, s) => {
    const c = await s.connect(url());
    const cases = [
      ['join', [123]],
      ['join', [{ room: 'x' }]],
      ['join', [['x']]],
      ['leave', [42]],
      ['message', ['text']],
      ['message', [{ data: 'no room' }]],
      ['message', [{ room: 123, data: 1 }]],
      ['message', [[room, 'x']]],
      ['direct', [{ data: 'no to' }]],
      ['direct', [{ to: { id: 'x' }, data: 1 }]],
      ['direct', ['socket-id']],
      ['members', [123]],
      ['members', []],
    ];
    for (const [ev, args] of cases) {
      const res = await ack(c, ev, ...args);
      assert.equal(res.ok, false, `${ev}(${JSON.stringify(args)}): ${JSON.stringify(res)}`);
      assert.equal(res.error, 'bad_request', `${ev}(${JSON.stringify(args)}): ${JSON.stringify(res)}`);
    }
    // Extra arguments beyond the contract are not a crash either.
    const extra = await ack(c, 'join', 'extra-args-room', 'unexpected', 3);
    assert.ok(extra && typeof extra.ok === 'boolean', JSON.stringify(extra));
    assert.equal(c.connected, true);
    await assertHealthy('socket.io-client wrong types');
  });

  e2e('unknown events: many names, with and without acks', async (t, s) => {
    const c = await s.connect(url());
    const rec = new Recorder(c, ['error']);
    const names = ['', ' ', 'x'.repeat(10000), 'évènement', '🎉', 'constructor', '__proto__', 'toString', 'join ', 'Join'];
    for (const n of names) {
      const res = await ack(c, n, { some: 'payload' });
      assert.equal(res.ok, false, `${JSON.stringify(n.slice(0, 20))}: ${JSON.stringify(res)}`);
      assert.equal(res.error, 'bad_request');
    }
    c.emit('definitely-unknown');
    const e = await rec.wait('error', (x) => x.event === 'definitely-unknown');
    assert.equal(e.error, 'bad_request');
    await assertHealthy('unknown events');
  });

  e2e('raw polling: malformed POST bodies and bad query strings', async (t, s) => {
    const bodies = ['42[bad json', '4garbage', 'not-a-packet', '', '\x1e\x1e\x1e', 'b', 'bAAAA====', '42["message"\x1e', '9'];
    for (const body of bodies) {
      const p = new RawPolling(url());
      await p.open();
      await p.connectNamespace();
      const r = await p.post(body);
      assert.ok(r.status < 500, `POST ${JSON.stringify(body)} -> ${r.status} ${r.text}`);
    }
    const bad = [
      eioUrl(url(), { eio: 5 }),
      eioUrl(url(), { transport: 'carrier-pigeon' }),
      eioUrl(url(), { sid: 'no-such-sid' }),
      `${url()}/socket.io/`,
      `${url()}/socket.io/?EIO=abc&transport=polling`,
      `${url()}/socket.io/?EIO=4&transport=websocket`, // websocket transport without an upgrade
    ];
    for (const u of bad) {
      const r = await httpRequest(u);
      assert.ok(r.status >= 400 && r.status < 500, `GET ${u} -> ${r.status} ${r.text}`);
    }
    const p = new RawPolling(url());
    await p.open();
    const huge = await httpRequest(eioUrl(url(), { sid: p.sid }), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(2_000_000),
    });
    assert.ok(huge.status >= 400 && huge.status < 500, `2 MB POST over the default 1 MB max payload -> ${huge.status}`);
    await assertHealthy('raw polling');
  });

  e2e('binary attachments: valid raw binary event over websocket works', async (t, s) => {
    const { raw } = await s.rawSocketIo(url());
    raw.send('421["join","robust-room"]');
    await raw.next('431[');
    raw.send('451-2["message",{"room":"robust-room","data":{"_placeholder":true,"num":0}}]');
    raw.send(Buffer.from([7, 7, 7]));
    const reply = await raw.next('432[', 5000);
    assert.match(reply, /"ok":true/);
    const m = await bystanderRec.wait('message', (x) => Buffer.isBuffer(x.data) && x.data.equals(Buffer.from([7, 7, 7])));
    assert.ok(m);
  });

  e2e('connection churn: 60 clients connect and vanish abruptly', { timeout: 45000 }, async (t, s) => {
    const clients = [];
    for (let i = 0; i < 60; i++) {
      clients.push(s.client(url(), { transports: [i % 2 ? 'websocket' : 'polling'] }));
    }
    await withTimeout(
      Promise.all(clients.map((c) => new Promise((resolve) => (c.connected ? resolve() : c.once('connect', resolve))))),
      15000,
      '60 connections',
    );
    await Promise.all(clients.map((c) => ack(c, 'join', room)));
    for (const [i, c] of clients.entries()) {
      if (i % 3 === 0) c.io.engine.transport.ws?._socket?.destroy();
      else if (i % 3 === 1) c.io.engine.close();
      else c.disconnect();
    }
    await barrier(bystander);
    await assertHealthy('churn');
  });

  e2e('the bystanders were never disconnected', async () => {
    assert.deepEqual(bystanderRec.of('disconnect'), []);
    await assertHealthy('final');
  });
});
