// Handshake auth: {name?, token?}; --jwt-secret (HS256) accepted and refused.

import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { ack, waitConnectError } from '../lib/client.mjs';
import { e2e, sharedServer } from '../lib/harness.mjs';
import { expiredToken, JWT_SECRET, signToken, unsignedToken } from '../lib/jwt.mjs';
import { Recorder } from '../lib/wait.mjs';

/** The user object the server sees for `subject`, observed through members(). */
async function userOf(observer, subject) {
  const room = `whoami-${Math.random().toString(36).slice(2)}`;
  const j = await ack(subject, 'join', room);
  assert.equal(j.ok, true, JSON.stringify(j));
  const m = await ack(observer, 'members', room);
  assert.equal(m.ok, true, JSON.stringify(m));
  const u = m.members.find((x) => x.id === subject.id);
  assert.ok(u, `subject ${subject.id} not in members ${JSON.stringify(m.members)}`);
  await ack(subject, 'leave', room);
  return u;
}

describe('auth without --jwt-secret', () => {
  const srv = sharedServer({});

  e2e('auth.name becomes the user name; absent -> null; no userId', async (t, s) => {
    const named = await s.connect(srv().url, { auth: { name: 'Zoë' } });
    const anon = await s.connect(srv().url);
    const empty = await s.connect(srv().url, { auth: {} });
    assert.deepEqual(await userOf(anon, named), { id: named.id, name: 'Zoë' });
    assert.deepEqual(await userOf(named, anon), { id: anon.id, name: null });
    assert.deepEqual(await userOf(named, empty), { id: empty.id, name: null });
  });

  e2e('name of exactly 64 chars is accepted', async (t, s) => {
    const n = 'n'.repeat(64);
    const c = await s.connect(srv().url, { auth: { name: n } });
    assert.deepEqual(await userOf(c, c), { id: c.id, name: n });
  });

  for (const [label, name] of [
    ['a number', 42],
    ['an empty string', ''],
    ['65 chars', 'n'.repeat(65)],
    ['an object', { first: 'x' }],
    ['an array', ['x']],
    ['a boolean', true],
  ]) {
    e2e(`invalid auth.name (${label}) -> connect_error "bad_request"`, async (t, s) => {
      const c = s.client(srv().url, { auth: { name } });
      const err = await waitConnectError(c);
      assert.equal(err.message, 'bad_request');
      assert.equal(c.connected, false);
    });
  }

  e2e('a refused handshake does not disturb connected clients', async (t, s) => {
    const ok = await s.connect(srv().url);
    const bad = s.client(srv().url, { auth: { name: '' } });
    await waitConnectError(bad);
    assert.equal(ok.connected, true);
    assert.equal((await ack(ok, 'rooms')).ok, true);
  });
});

describe('auth with --jwt-secret', () => {
  const srv = sharedServer({ args: ['--jwt-secret', JWT_SECRET] });

  e2e('valid token: userId = sub, name from the name claim (over auth.name)', async (t, s) => {
    const a = await s.connect(srv().url, { auth: { token: signToken({ sub: 'user-1', name: 'From JWT' }), name: 'ignored' } });
    const b = await s.connect(srv().url, { auth: { token: signToken({ sub: 'user-2' }) } });
    assert.deepEqual(await userOf(b, a), { id: a.id, name: 'From JWT', userId: 'user-1' });
  });

  e2e('token without a name claim: name from auth.name, else null', async (t, s) => {
    const a = await s.connect(srv().url, { auth: { token: signToken({ sub: 'u-a' }), name: 'Fallback' } });
    const b = await s.connect(srv().url, { auth: { token: signToken({ sub: 'u-b' }) } });
    assert.deepEqual(await userOf(b, a), { id: a.id, name: 'Fallback', userId: 'u-a' });
    assert.deepEqual(await userOf(a, b), { id: b.id, name: null, userId: 'u-b' });
  });

  e2e('the JWT user appears in presence and message "from"', async (t, s) => {
    const a = await s.connect(srv().url, { auth: { token: signToken({ sub: 'sub-a', name: 'Ann' }) } });
    const b = await s.connect(srv().url, { auth: { token: signToken({ sub: 'sub-b' }) } });
    const room = 'jwt-room';
    await ack(b, 'join', room);
    const rec = new Recorder(b, ['presence', 'message', 'direct']);
    await ack(a, 'join', room);
    const user = { id: a.id, name: 'Ann', userId: 'sub-a' };
    assert.deepEqual(await rec.wait('presence'), { room, action: 'join', user });
    await ack(a, 'message', { room, data: 1 });
    assert.deepEqual((await rec.wait('message')).from, user);
    await ack(a, 'direct', { to: b.id, data: 2 });
    assert.deepEqual((await rec.wait('direct')).from, user);
  });

  for (const [label, auth] of [
    ['no auth at all', undefined],
    ['auth without token', { name: 'x' }],
    ['a token signed with another secret', { token: signToken({ sub: 'x' }, { secret: 'not-the-secret' }) }],
    ['an expired token', { token: expiredToken({ sub: 'x' }) }],
    ['an unsigned alg=none token', { token: unsignedToken({ sub: 'x' }) }],
    ['a garbage token', { token: 'not.a.jwt' }],
    ['an empty token', { token: '' }],
    ['a tampered payload', { token: tamper(signToken({ sub: 'x' })) }],
  ]) {
    e2e(`refused: ${label} -> connect_error "unauthorized"`, async (t, s) => {
      const c = s.client(srv().url, auth === undefined ? {} : { auth });
      const err = await waitConnectError(c);
      assert.equal(err.message, 'unauthorized');
      assert.equal(c.connected, false);
    });
  }

  e2e('refused over polling too', async (t, s) => {
    const c = s.client(srv().url, { transports: ['polling'], auth: { token: 'nope' } });
    const err = await waitConnectError(c);
    assert.equal(err.message, 'unauthorized');
  });
});

/** Replace the payload of a signed token with another one (signature no longer matches). */
function tamper(token) {
  const [h, , sig] = token.split('.');
  const payload = Buffer.from(JSON.stringify({ sub: 'admin', exp: Math.floor(Date.now() / 1000) + 3600 })).toString('base64url');
  return `${h}.${payload}.${sig}`;
}
