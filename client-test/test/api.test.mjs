// HTTP emit API: POST /api/v1/emit on the main port.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { httpRequest, isJsonResponse, postJson } from '../lib/http.mjs';
import { metricValue } from '../lib/metrics.mjs';
import { Recorder, waitUntil } from '../lib/wait.mjs';

const KEY = 'e2e-api-key-3f9a';
const auth = (k = KEY) => ({ authorization: `Bearer ${k}` });

function assertBadRequest(res, ctx) {
  assert.equal(res.status, 400, `${ctx}: status ${res.status} body ${res.text}`);
  assert.ok(isJsonResponse(res), `${ctx}: content-type ${res.headers['content-type']}`);
  assert.equal(res.json?.ok, false, `${ctx}: ${res.text}`);
  assert.equal(res.json.error, 'bad_request', `${ctx}: ${res.text}`);
  assert.equal(typeof res.json.message, 'string', `${ctx}: ${res.text}`);
}

describe('API disabled (no --api-key)', () => {
  const srv = sharedServer({});
  e2e('POST /api/v1/emit -> 404 with a JSON body', async () => {
    const res = await postJson(`${srv().url}/api/v1/emit`, { event: 'x', data: 1 }, { headers: auth() });
    assert.equal(res.status, 404, res.text);
    assert.ok(isJsonResponse(res), `content-type ${res.headers['content-type']}`);
    assert.notEqual(res.json, undefined, `body is not JSON: ${res.text}`);
  });
});

describe('API enabled (--api-key)', () => {
  const srv = sharedServer({ args: ['--api-key', KEY] });
  const emitUrl = () => `${srv().url}/api/v1/emit`;

  /** Emit `sync` to everyone and wait until each client got it: everything emitted before has been delivered. */
  async function sync(recs) {
    const tag = Math.random().toString(36).slice(2);
    const r = await postJson(emitUrl(), { event: 'sync', data: tag }, { headers: auth() });
    assert.equal(r.status, 200, r.text);
    await Promise.all(recs.map((rec) => rec.wait('sync', (d) => d === tag)));
  }

  e2e('missing or wrong key -> 401 JSON', async () => {
    for (const [label, headers] of [
      ['no Authorization', {}],
      ['wrong key', auth('wrong')],
      ['Basic scheme', { authorization: `Basic ${Buffer.from(`x:${KEY}`).toString('base64')}` }],
      ['key without scheme', { authorization: KEY }],
      ['empty bearer', { authorization: 'Bearer ' }],
      ['key with suffix', auth(`${KEY}x`)],
    ]) {
      const res = await postJson(emitUrl(), { event: 'news', data: 1 }, { headers });
      assert.equal(res.status, 401, `${label}: ${res.status} ${res.text}`);
      assert.ok(isJsonResponse(res), `${label}: content-type ${res.headers['content-type']}`);
      assert.notEqual(res.json, undefined, `${label}: body not JSON: ${res.text}`);
    }
  });

  e2e('a wrong key emits nothing', async (t, s) => {
    const c = await s.connect(srv().url);
    const rec = new Recorder(c, ['news', 'sync']);
    await postJson(emitUrl(), { event: 'news', data: 1 }, { headers: auth('wrong') });
    await sync([rec]);
    assert.deepEqual(rec.of('news'), []);
  });

  e2e('emit to everyone -> 200 {ok:true}; every client gets socket.on(event, data)', async (t, s) => {
    const a = await s.connect(srv().url);
    const b = await s.connect(srv().url, { transports: ['polling'] });
    const recs = [a, b].map((c) => new Recorder(c, ['news']));
    const before = await metricValue(srv().adminUrl, 'sio_api_emits_total');
    const data = { headline: 'hello', list: [1, 2, { x: null }], n: 1.5, u: 'ü' };
    const res = await postJson(emitUrl(), { event: 'news', data }, { headers: auth() });
    assert.equal(res.status, 200, res.text);
    assert.ok(isJsonResponse(res));
    assert.deepEqual(res.json, { ok: true });
    for (const r of recs) assert.deepEqual(await r.wait('news'), data);
    await waitUntil(async () => (await metricValue(srv().adminUrl, 'sio_api_emits_total')) >= before + 1, {
      what: 'sio_api_emits_total to increase',
    });
  });

  e2e('data may be any JSON value', async (t, s) => {
    const a = await s.connect(srv().url);
    const rec = new Recorder(a, ['val']);
    const values = ['str', 0, false, null, [1, [2]], {}];
    for (const v of values) {
      const res = await postJson(emitUrl(), { event: 'val', data: v }, { headers: auth() });
      assert.equal(res.status, 200, `${JSON.stringify(v)}: ${res.text}`);
    }
    await rec.waitCount('val', values.length);
    assert.deepEqual(rec.of('val'), values);
  });

  e2e('rooms and except select the recipients', async (t, s) => {
    const inR1 = await s.connect(srv().url);
    const inR1andR2 = await s.connect(srv().url);
    const inR2 = await s.connect(srv().url);
    const none = await s.connect(srv().url);
    await ack(inR1, 'join', 'api-r1');
    await ack(inR1andR2, 'join', 'api-r1');
    await ack(inR1andR2, 'join', 'api-r2');
    await ack(inR2, 'join', 'api-r2');
    const all = [inR1, inR1andR2, inR2, none];
    const recs = all.map((c) => new Recorder(c, ['only-r1', 'r1-not-r2', 'r1-or-r2', 'all-but-r2', 'sync']));

    const emit = async (body) => {
      const res = await postJson(emitUrl(), body, { headers: auth() });
      assert.equal(res.status, 200, `${JSON.stringify(body)}: ${res.text}`);
      assert.deepEqual(res.json, { ok: true });
    };
    await emit({ event: 'only-r1', data: 1, rooms: ['api-r1'] });
    await emit({ event: 'r1-not-r2', data: 2, rooms: ['api-r1'], except: ['api-r2'] });
    await emit({ event: 'r1-or-r2', data: 3, rooms: ['api-r1', 'api-r2'] });
    await emit({ event: 'all-but-r2', data: 4, except: ['api-r2'] });
    await sync(recs);

    const got = (i, ev) => recs[i].of(ev);
    // only-r1
    assert.deepEqual([0, 1, 2, 3].map((i) => got(i, 'only-r1').length), [1, 1, 0, 0], 'rooms: [r1]');
    // r1 except r2
    assert.deepEqual([0, 1, 2, 3].map((i) => got(i, 'r1-not-r2').length), [1, 0, 0, 0], 'rooms [r1] except [r2]');
    // r1 or r2: each matching socket exactly once
    assert.deepEqual([0, 1, 2, 3].map((i) => got(i, 'r1-or-r2').length), [1, 1, 1, 0], 'rooms [r1, r2]');
    // everybody except r2
    assert.deepEqual([0, 1, 2, 3].map((i) => got(i, 'all-but-r2').length), [1, 0, 0, 1], 'except [r2]');
    assert.deepEqual(got(0, 'only-r1'), [1]);
  });

  e2e('bad bodies -> 400 {ok:false, error:"bad_request", message}', async (t, s) => {
    const c = await s.connect(srv().url);
    const rec = new Recorder(c, ['x', 'connect', 'disconnect', 'sync']);
    const raw = (body) => postJson(emitUrl(), body, { headers: auth() });
    const cases = [
      ['invalid JSON', '{"event": "x", '],
      ['not JSON at all', 'hello'],
      ['empty body', ''],
      ['JSON array', '[1,2]'],
      ['JSON string', '"x"'],
      ['missing event', { data: 1 }],
      ['event not a string', { event: 123, data: 1 }],
      ['event null', { event: null, data: 1 }],
      ['empty event', { event: '', data: 1 }],
      ['rooms not an array', { event: 'x', data: 1, rooms: 'r1' }],
      ['rooms with a non-string', { event: 'x', data: 1, rooms: ['r1', 2] }],
      ['except not an array', { event: 'x', data: 1, except: 'r2' }],
      ['except with a non-string', { event: 'x', data: 1, except: [{}] }],
      ['reserved connect', { event: 'connect', data: 1 }],
      ['reserved connect_error', { event: 'connect_error', data: 1 }],
      ['reserved disconnect', { event: 'disconnect', data: 1 }],
      ['reserved disconnecting', { event: 'disconnecting', data: 1 }],
    ];
    for (const [label, body] of cases) assertBadRequest(await raw(body), label);
    await sync([rec]);
    assert.deepEqual(
      rec.log.filter((r) => r.event !== 'sync'),
      [],
      'a refused request emitted something',
    );
    assert.equal(c.connected, true);
  });

  e2e('the API route is on the main port only, and only POST', async () => {
    const onAdmin = await postJson(`${srv().adminUrl}/api/v1/emit`, { event: 'x', data: 1 }, { headers: auth() });
    assert.equal(onAdmin.status, 404);
    const get = await httpRequest(emitUrl(), { headers: auth() });
    assert.ok(get.status === 405 || get.status === 404, `GET status ${get.status}`);
  });
});
