// The chat page of web/ in real Chromium (issue 16): two replicas on one Redis behind HAProxy with the shipped
// docker/haproxy/haproxy.cfg (loopback addresses only, see lib/proxy.mjs), every replica serving the built page
// (--web-dir web/dist) and socket.io-client's bundles (--client-dir).
//
// In order, on one topology:
//   1. same origin: the page through the proxy in two browser contexts, one forced to polling, one upgrading to
//      WebSocket, on different replicas: they join a room, see each other in the member list (live presence), and
//      exchange room and direct messages;
//   2. another origin: the page served by a replica's own port, socket.io through the proxy's port (--cors-origin,
//      withCredentials): the proxy's sticky cookie rides along every polling request; without credentials the
//      polling session cannot stay on one replica (the control that shows the cookie is what holds it);
//   3. the replica of one browser is SIGKILLed: its page shows reconnecting, then connected to the other replica,
//      and messages flow again; a screenshot of each state is kept in client-test/artifacts/browser/;
//   4. the /wsk path prefix of the proxy, a disconnect and a connect by the page's button, and a plain page using the
//      served /socket.io/socket.io.min.js and ESM bundle.
// No page may log a console error or throw, except the network errors of the page whose replica was killed
// (after the kill, only) and of the deliberately broken control page.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CLIENT_DIST, launchChromium, openChat, WEB_DIST } from '../lib/browser.mjs';
import { SHIPPED, Topology } from '../lib/proxy.mjs';
import { startRedis } from '../lib/redis.mjs';
import { getFreePort } from '../lib/server.mjs';

/** Chromium's own report of a failed request or connection: what a killed replica causes, and nothing else. */
const NETWORK_ERROR = /^(Failed to load resource|WebSocket connection to .* failed)/;

describe('the chat page in Chromium, two replicas behind HAProxy (docker/haproxy/haproxy.cfg)', () => {
  const topo = new Topology('browser-chat');
  const room = `lobby-${process.pid}`;
  let hp;
  let browser;
  let pageOrigin; // the page's own origin in test 2: replica web-1's port
  const pages = [];
  let ada; // polling, same origin
  let grace; // WebSocket upgrade, same origin
  const timings = {};

  before(async () => {
    // Replica web-1's port is the other origin of test 2; both replicas allow it with credentials.
    topo.redis = await startRedis();
    const pagePort = await getFreePort();
    pageOrigin = `http://127.0.0.1:${pagePort}`;
    topo.args = ['--web-dir', WEB_DIST, '--client-dir', CLIENT_DIST, '--cors-origin', pageOrigin];
    await topo.startReplica('web-1', { port: pagePort });
    await topo.startReplica('web-2');
    await topo.waitNodes(2);
    hp = await topo.haproxy({ file: SHIPPED.haproxy, replicas: topo.live });
    browser = await launchChromium();
  });
  after(async () => {
    for (const p of pages) await p.close();
    await browser?.close().catch(() => {});
    await topo.destroy();
    if (Object.keys(timings).length) console.log(`browser-chat timings: ${JSON.stringify(timings)}`);
  });

  /** A test that prints every page's state and every process's log on failure. */
  const step = (name, fn, timeout = 45000) =>
    test(name, { timeout }, async (t) => {
      try {
        await fn(t);
      } catch (err) {
        for (const p of pages) console.error(await p.describe());
        console.error(await topo.report());
        throw err;
      }
    });

  const open = async (url, label) => {
    const p = await openChat(browser, url, label);
    pages.push(p);
    return p;
  };

  /**
   * Open the page in fresh contexts until one is served by a replica other than `avoid` (HAProxy balances the
   * page's first request with leastconn and pins the context with its cookie); the extra contexts are closed.
   */
  const openElsewhere = async (url, label, avoid, transport) => {
    for (let i = 0; i < 6; i++) {
      const p = await open(url, label);
      await p.waitState('connected', { transport });
      const node = await p.node();
      if (node && node !== avoid) return p;
      pages.splice(pages.indexOf(p), 1);
      await p.close();
    }
    throw new Error(`${label}: six contexts all landed on ${avoid}`);
  };

  const assertNoConsoleErrors = (...ps) => {
    for (const p of ps) {
      assert.deepEqual(p.pageErrors, [], `${p.label}: uncaught errors`);
      assert.deepEqual(p.consoleErrors(), [], `${p.label}: console errors`);
    }
  };

  /** Both pages in `room`, each listing both, then room and direct messages both ways. */
  const converse = async (a, b, tag) => {
    await a.waitMembers([a.label, b.label]);
    await b.waitMembers([a.label, b.label]);
    await a.sendRoom(`${tag}: hello from ${a.label}`);
    await b.waitRoomMessage(a.label, `${tag}: hello from ${a.label}`);
    await b.sendRoom(`${tag}: hi ${a.label}, ${b.label} here`);
    await a.waitRoomMessage(b.label, `${tag}: hi ${a.label}, ${b.label} here`);
    await a.sendDirect(b.label, `${tag}: psst ${b.label}`);
    await b.waitDirect(a.label, `${tag}: psst ${b.label}`);
    await b.sendDirect(a.label, `${tag}: psst back`);
    await a.waitDirect(b.label, `${tag}: psst back`);
  };

  step('same origin: a polling page and an upgrading page on different replicas chat in a room and directly', async () => {
    const started = Date.now();
    ada = await open(`${hp.url}/?name=Ada&transports=polling`, 'Ada');
    await ada.waitState('connected', { transport: 'polling' });
    const adaNode = await ada.node();
    grace = await openElsewhere(`${hp.url}/?name=Grace`, 'Grace', adaNode, 'websocket');
    const graceNode = await grace.node();
    assert.deepEqual(new Set([adaNode, graceNode]), new Set(['web-1', 'web-2']), 'one page per replica');
    timings.sameOriginTransports = { Ada: (await ada.status()).transport, Grace: (await grace.status()).transport };

    await ada.join(room);
    await ada.waitMembers(['Ada']);
    await grace.join(room);
    // Ada's list grows by the presence event from the other replica; Grace's comes from `members`.
    await converse(ada, grace, 'same origin');
    // Leaving shrinks the other replica's page's list (presence), joining again grows it.
    await grace.leave(room);
    await ada.waitMembers(['Ada']);
    await grace.join(room);
    await ada.waitMembers(['Ada', 'Grace']);
    // Still on the same replicas and transports: nothing reconnected.
    assert.equal(await ada.node(), adaNode);
    assert.equal(await grace.node(), graceNode);
    assert.equal((await ada.status()).transport, 'polling');
    assert.equal((await grace.status()).transport, 'websocket');
    await ada.screenshot('0-same-origin-ada-polling');
    await grace.screenshot('0-same-origin-grace-websocket');
    assertNoConsoleErrors(ada, grace);
    timings.sameOriginMs = Date.now() - started;
  });

  step('another origin: the sticky cookie crosses origins with --cors-origin and withCredentials', async () => {
    const started = Date.now();
    const url = (q) => `${pageOrigin}/?server=${encodeURIComponent(hp.url)}&${q}`;
    const xroom = `${room}-x`;
    const linus = await open(url('name=Linus&transports=polling'), 'Linus');
    await linus.waitState('connected', { transport: 'polling' });
    const margaret = await openElsewhere(url('name=Margaret'), 'Margaret', await linus.node(), 'websocket');
    const sid = await linus.socketId();
    await linus.join(xroom);
    await margaret.join(xroom);
    await converse(linus, margaret, 'cross origin');
    // The polling page kept its one session (same socket id, no disconnect) over a dozen requests, every one of
    // them after the handshake carrying HAProxy's cookie to the proxy's origin.
    assert.equal(await linus.socketId(), sid);
    assert.equal((await linus.status()).state, 'connected');
    const polls = linus.requests.filter((r) => r.url.startsWith(hp.url));
    assert.ok(polls.length >= 10, `${polls.length} polling requests`);
    // (`cookie` is null while Chromium has not reported a request's final headers yet: the pending long-poll.)
    const seen = polls.slice(1).filter((r) => r.cookie !== null);
    assert.ok(seen.length >= 10, `${seen.length} polling requests with their headers`);
    const withoutCookie = seen.filter((r) => !/(^|;\s*)SIO_SRV=/.test(r.cookie));
    assert.deepEqual(withoutCookie, [], 'every polling request after the handshake carries SIO_SRV');
    assert.ok((await linus.context.cookies(hp.url)).some((c) => c.name === 'SIO_SRV'));
    assertNoConsoleErrors(linus, margaret);
    timings.crossOriginMs = Date.now() - started;

    // Control: the same page without credentials gets no cookie across origins, so HAProxy's leastconn sends the
    // session's requests to both replicas and the replica that does not hold it refuses them (400): the page
    // loses its connection.
    const control = await open(url('name=NoCookie&transports=polling&credentials=0&room=control'), 'NoCookie');
    await control.page.waitForFunction(
      () => [...document.querySelectorAll('#events li')].some((e) => e.textContent.includes('disconnected')) ||
        document.querySelector('#reason')?.textContent.includes('error'),
      null,
      { timeout: 15000 },
    );
    assert.ok(!(await control.context.cookies(hp.url)).some((c) => c.name === 'SIO_SRV'), 'no cookie without credentials');
    for (const p of [linus, margaret, control]) {
      pages.splice(pages.indexOf(p), 1);
      await p.close();
    }
  });

  step('the replica of one page is killed: reconnecting, then connected to the other replica, messages flow', async () => {
    const victimNode = await ada.node();
    const survivorNode = await grace.node();
    const victim = topo.byNode(victimNode);
    const shots = [await ada.screenshot('1-connected')];
    const adaSid = await ada.socketId();

    const killedAt = Date.now();
    await victim.kill(); // SIGKILL: no drain, the page's connection just breaks
    const reconnectingAt = await ada.waitState('reconnecting', { timeout: 10000 });
    shots.push(await ada.screenshot('2-reconnecting'));
    const reconnectedAt = await ada.waitState('connected', { transport: 'polling', timeout: 20000 });
    shots.push(await ada.screenshot('3-reconnected'));
    assert.equal(await ada.node(), survivorNode, 'Ada is now served by the surviving replica');
    assert.notEqual(await ada.socketId(), adaSid, 'a new session');
    timings.kill = {
      killed: victimNode,
      noticedMs: reconnectingAt - killedAt,
      reconnectedMs: reconnectedAt - killedAt,
      transportAfter: (await ada.status()).transport,
      screenshots: shots,
    };

    // The page joined its room again; Grace's list drops Ada's dead session (reconciled with `members`) and shows
    // the new one; messages and direct messages flow again.
    await converse(ada, grace, 'after the kill');
    assert.equal(await grace.node(), survivorNode, 'Grace never moved');
    shots.push(await ada.screenshot('4-after-kill-ada'), await grace.screenshot('4-after-kill-grace'));
    // Grace's connection was never touched: no error at all. Ada's page: only Chromium's reports of the requests
    // that hit the dead replica, and only after the kill.
    assertNoConsoleErrors(grace);
    assert.deepEqual(ada.pageErrors, []);
    assert.deepEqual(ada.consoleErrors().filter((m) => m.at < killedAt || !NETWORK_ERROR.test(m.text)), []);
    timings.kill.networkErrorsAfterKill = ada.consoleErrors({ since: killedAt }).map((m) => m.text);
  });

  step('the /wsk prefix of the proxy, disconnect and connect, and a plain page on the served client bundles', async () => {
    const wes = await open(`${hp.url}/?name=Wes&path=/wsk/socket.io&transports=websocket`, 'Wes');
    const ws = wes.page.waitForEvent('websocket', { timeout: 10000 });
    await wes.waitState('connected', { transport: 'websocket' });
    assert.match((await ws).url(), /\/wsk\/socket\.io\/\?EIO=4&transport=websocket/);
    await wes.join(room);
    await wes.waitMembers(['Ada', 'Grace', 'Wes']);
    await grace.sendRoom('to everyone, Wes included');
    await wes.waitRoomMessage('Grace', 'to everyone, Wes included');
    // Disconnected (by the page's own button), with the reason; connected again, in the room again.
    await wes.page.click('#toggle');
    await wes.waitState('disconnected');
    assert.match(await wes.page.textContent('#reason'), /io client disconnect/);
    await grace.waitMembers(['Ada', 'Grace']);
    await wes.page.click('#toggle');
    await wes.waitState('connected', { transport: 'websocket' });
    await grace.waitMembers(['Ada', 'Grace', 'Wes']);

    // What a page without a bundler does (web/public/plain.html): the classic script from the server; then the ESM
    // bundle, imported by that page.
    const plain = await open(`${hp.url}/plain.html`, 'plain');
    await plain.page.waitForSelector('#status[data-state="connected"]');
    await plain.page.waitForFunction(() => document.getElementById('node').textContent !== '');
    assert.equal(await plain.node(), await grace.node());
    const got = await plain.page.evaluate(async () => {
      const ask = (socket) =>
        new Promise((resolve, reject) => {
          socket.on('connect', async () => resolve(await socket.timeout(5000).emitWithAck('whoami')));
          socket.on('connect_error', reject);
        });
      const esm = await import('/socket.io/socket.io.esm.min.js');
      const sockets = [
        window.io({ transports: ['polling'], auth: { name: 'classic' } }),
        esm.io({ transports: ['websocket'], auth: { name: 'esm' } }),
      ];
      const out = await Promise.all(sockets.map(ask));
      for (const s of sockets) s.close();
      return out;
    });
    assert.deepEqual(
      got.map((w) => [w.ok, w.user.name, w.node]),
      [
        [true, 'classic', await grace.node()],
        [true, 'esm', await grace.node()],
      ],
    );
    assertNoConsoleErrors(wes, plain, grace);
  });
});
