// Issue 13, smaller items: JWT claims Node's jsonwebtoken refuses (`nbf` ahead, empty `sub`) and an over-long `name`
// claim; the HTTP API's bearer scheme in any case, failed keys counted, the `ack` timeout capped.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, waitConnectError } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { postJson } from '../lib/http.mjs';
import { JWT_SECRET, signToken } from '../lib/jwt.mjs';
import { metricValue } from '../lib/metrics.mjs';

describe('JWT claims (--jwt-secret)', () => {
  const srv = sharedServer({ args: ['--jwt-secret', JWT_SECRET] });
  const now = () => Math.floor(Date.now() / 1000);

  for (const [label, claims] of [
    ['nbf an hour ahead', { sub: 'u1', nbf: now() + 3600 }],
    ['an empty sub', { sub: '' }],
    ['a name claim of 65 characters', { sub: 'u1', name: 'n'.repeat(65) }],
    ['an empty name claim', { sub: 'u1', name: '' }],
    ['a name claim with a control character', { sub: 'u1', name: 'a\u0007b' }],
  ]) {
    e2e(`refused: ${label} -> connect_error "unauthorized"`, async (t, s) => {
      const c = s.client(srv().url, { auth: { token: signToken(claims), name: 'fallback' } });
      const err = await waitConnectError(c);
      assert.equal(err.message, 'unauthorized');
    });
  }

  e2e('accepted: nbf in the past, a name claim of 64 characters', async (t, s) => {
    const name = 'n'.repeat(64);
    const c = await s.connect(srv().url, { auth: { token: signToken({ sub: 'u1', nbf: now() - 10, name }) } });
    const room = 'nbf-ok';
    await ack(c, 'join', room);
    const m = await ack(c, 'members', room);
    assert.deepEqual(m.members, [{ id: c.id, name, userId: 'u1' }]);
  });
});

describe('HTTP API hardening (--api-key)', () => {
  const KEY = 'e2e-hostile-api-key';
  const srv = sharedServer({ args: ['--api-key', KEY] });
  const emit = (body, headers) => postJson(`${srv().url}/api/v1/emit`, body, { headers });

  e2e('the bearer scheme is case-insensitive', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer', 'bEaReR']) {
      const res = await emit({ event: 'news' }, { authorization: `${scheme} ${KEY}` });
      assert.equal(res.status, 200, `${scheme}: ${res.status} ${res.text}`);
    }
    const wrong = await emit({ event: 'news' }, { authorization: `bearer ${KEY}x` });
    assert.equal(wrong.status, 401);
  });

  e2e('failed keys are counted in sio_api_auth_failures_total', async () => {
    const before = await metricValue(srv().adminUrl, 'sio_api_auth_failures_total');
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${KEY}` }]) {
      assert.equal((await emit({ event: 'news' }, headers)).status, 401);
    }
    const res = await postJson(`${srv().url}/api/v1/server-emit`, { event: 'x' }, { headers: { authorization: 'x' } });
    assert.equal(res.status, 401);
    const after = await metricValue(srv().adminUrl, 'sio_api_auth_failures_total');
    assert.equal(after - before, 4);
  });

  e2e('an ack timeout above 60000 ms is refused with 400; 60000 is accepted', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    for (const timeout of [60001, 2 ** 53 - 1]) {
      const res = await emit({ event: 'news', ack: true, timeout }, auth);
      assert.equal(res.status, 400, `timeout ${timeout}: ${res.status} ${res.text}`);
      assert.equal(res.json?.error, 'bad_request');
      assert.match(res.json.message, /60000/);
      const server = await postJson(`${srv().url}/api/v1/server-emit`, { event: 'x', ack: true, timeout }, {
        headers: auth,
      });
      assert.equal(server.status, 400, `server-emit timeout ${timeout}: ${server.status} ${server.text}`);
    }
    // No client matches: the acks are complete at once.
    const ok = await emit({ event: 'news', ack: true, timeout: 60000, rooms: ['nobody-here'] }, auth);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { ok: true, acks: [] });
  });
});
