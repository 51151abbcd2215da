// The proxy variants of the classic "scaling socket.io" guides (issue 7), each run for real on loopback in front of
// a fresh Redis and three replicas, with the configuration generated from the shipped file (only addresses changed,
// see lib/proxy.mjs):
// - nginx (docker/nginx/nginx.conf): `hash $remote_addr`; clients come from distinct loopback source
//   addresses (127.0.0.2, 127.0.0.3, ...) so that the hash spreads them (every listener is still on 127.0.0.1);
// - HAProxy with the replicas' own cookie (docker/haproxy/haproxy-cookie.cfg: `cookie io prefix indirect nocache`,
//   replicas with `--cookie io`);
// - HAProxy with dynamic cookies and server-template (docker/haproxy/haproxy.cfg; its scaling is in
//   proxy-haproxy.test.mjs).
// Behind each, websocket-only clients with the guides' reconnection settings survive a replica restart.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readFileSync } from 'node:fs';
import {
  byNode,
  connectSpread,
  haproxyLoopbackConfig,
  nginxLoopbackConfig,
  deliver,
  disconnectsSince,
  proxiedClient,
  roundTrips,
  SHIPPED,
  snapshotDisconnects,
  Topology,
} from '../lib/proxy.mjs';
import { waitConnected } from '../lib/client.mjs';
import { httpRequest } from '../lib/http.mjs';

/** Fast reconnection (tests that are not about the guides' settings). */
const RECONNECT = { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000 };
/** The reconnection settings of the guides, verbatim. */
const GUIDE = { reconnection: true, reconnectionDelay: 500, transports: ['websocket'] };

/** Loopback source addresses 127.0.<block>.<2..254>, one per client. */
const sourceAddress = (block, i) => `127.0.${block}.${2 + (i % 250)}`;

/** A describe block owning one topology; `step` prints every log and the generated configuration on failure. */
function withTopology(name) {
  const topo = new Topology(name);
  after(async () => {
    await topo.destroy();
  });
  const step = (title, fn, opts = {}) =>
    test(title, { timeout: 30000, ...opts }, async (t) => {
      try {
        await fn(t);
      } catch (err) {
        if (!opts.todo) console.error(await topo.report());
        throw err;
      }
    });
  return { topo, step };
}

/**
 * Websocket-only clients with the guides' settings, spread over the replicas; one replica is restarted (SIGTERM,
 * graceful exit, a new process on the same ports with the same node id, as `docker restart` does). Its clients are
 * connected again within a few seconds and keep receiving; the others see nothing.
 */
async function restartScenario(t, topo, url, { room, sourceBlock, afterRestart = async () => {} }) {
  const nodes = topo.live.map((r) => r.nodeId);
  const clients = await connectSpread(topo, url, {
    nodes,
    perNode: 2,
    max: 60,
    make: (i) => ({
      ...GUIDE,
      withCredentials: false,
      name: `guide-${i}`,
      room,
      localAddress: sourceBlock === undefined ? undefined : sourceAddress(sourceBlock, i),
    }),
  });
  for (const c of clients) assert.equal(c.io.engine.transport.name, 'websocket');
  const victim = topo.live[1];
  const moved = clients.filter((c) => c.node === victim.nodeId);
  const others = clients.filter((c) => c.node !== victim.nodeId);
  const marks = snapshotDisconnects(others);
  const since = Date.now();
  const { exit, replica } = await topo.restartReplica(victim);
  assert.equal(exit.code, 0, `graceful exit of ${victim.nodeId}: ${JSON.stringify(exit)}`);
  t.diagnostic(`${victim.nodeId} restarted ${Date.now() - since} ms after SIGTERM`);
  const times = await Promise.all(
    moved.map(async (c) => {
      const reason = await c.rec.wait('disconnect', (_, r) => r.at >= since, 5000);
      assert.equal(reason, 'transport close', `${c.label} disconnect reason`);
      await c.rec.wait('connect', (_, r) => r.at > since, 10000);
      assert.deepEqual(await c.joined, { ok: true, room }, `${c.label} joins again`);
      return c.connectedAt - since;
    }),
  );
  t.diagnostic(`${moved.length} clients of ${victim.nodeId} reconnected after ${times.join(', ')} ms, to ${moved.map((c) => c.node)}`);
  const retried = moved.filter((c) => c.joinRetries > 0);
  if (retried.length) {
    t.diagnostic(`join answered "unavailable" on the restarted replica before Redis had confirmed its subscriptions: ${retried.map((c) => `${c.label} x${c.joinRetries}`)}`);
  }
  await topo.waitNodes(3);
  await afterRestart(replica);
  // Everyone keeps receiving, from a client of each replica.
  for (const sender of Object.values(byNode(clients)).map((cs) => cs[0])) await deliver(sender, room, clients);
  assert.deepEqual(disconnectsSince(others, marks), [], 'clients of the other replicas saw no disconnect');
  return clients;
}

test('the loopback configurations differ from the shipped files in addresses and scratch paths only', () => {
  const replicas = [1, 2, 3].map((i) => ({ port: 41000 + i, adminPort: 42000 + i }));
  const changed = (shipped, generated) => {
    const code = (t) => t.split('\n').filter((l) => l.trim() && !/^\s*#/.test(l));
    const before = new Set(code(shipped));
    return code(generated).filter((l) => !before.has(l));
  };
  for (const file of [SHIPPED.haproxy, SHIPPED.haproxyCookie]) {
    const text = readFileSync(file, 'utf8');
    const lines = changed(text, haproxyLoopbackConfig(text, { port: 40001, statsPort: 40002, dnsPort: 40003, replicas }));
    for (const l of lines) {
      assert.match(l, /^\s*(bind 127\.0\.0\.1:4000[12]|nameserver \S+ 127\.0\.0\.1:40003|server srv\d 127\.0\.0\.1:4100\d( cookie srv\d)? port 4200\d)$/, `${file}: ${l}`);
    }
    assert.equal(lines.filter((l) => /^\s*server /.test(l)).length, 3, `${file}: one server line per replica`);
    for (const l of changed(haproxyLoopbackConfig(text, { port: 40001, statsPort: 40002, dnsPort: 40003, replicas }), text)) {
      assert.match(l, /^\s*(bind :\d+|nameserver \S+ \S+|parse-resolv-conf|server-template .*|server .*)$/, `${file}: ${l} was changed`);
    }
  }
  const text = readFileSync(SHIPPED.nginx, 'utf8');
  for (const l of changed(text, nginxLoopbackConfig(text, { port: 40001, replicas, dir: '/scratch' }))) {
    assert.match(l, /^\s*(listen 127\.0\.0\.1:40001;|server 127\.0\.0\.1:4100\d .*;|\S+ \/scratch\/\S+;)$/, l);
  }
});

describe('nginx (docker/nginx/nginx.conf): hash $remote_addr, 3 replicas on loopback', () => {
  const { topo, step } = withTopology('nginx.conf');
  const room = `nginx-${process.pid}`;
  let ng;
  before(async () => {
    await topo.start({ count: 3, prefix: 'ng' });
    ng = await topo.nginx({ file: SHIPPED.nginx, replicas: topo.live });
  });

  step('polling clients: one replica per client address, sessions kept across many requests, messages cross replicas', async () => {
    const nodes = topo.live.map((r) => r.nodeId);
    const make = (i) => ({ transports: ['polling'], name: `poll-${i}`, room, localAddress: sourceAddress(1, i) });
    const clients = await connectSpread(topo, ng.url, { nodes, perNode: 2, max: 60, make });
    // Affinity is by address: a second client from the address of each replica's first client lands there too.
    for (const first of Object.values(byNode(clients)).map((cs) => cs[0])) {
      const again = proxiedClient(topo, ng.url, { ...make(clients.indexOf(first)), name: `${first.label}-again` });
      await waitConnected(again);
      assert.equal(again.node, first.node, `a second client from ${first.label}'s address`);
      assert.deepEqual(await again.joined, { ok: true, room });
      clients.push(again);
    }
    assert.deepEqual(await roundTrips(clients, 20), []);
    const counts = await topo.connectedCounts();
    for (const [node, cs] of Object.entries(byNode(clients))) assert.equal(counts[node], cs.length, `clients on ${node}`);
    for (const sender of Object.values(byNode(clients)).map((cs) => cs[0])) await deliver(sender, room, clients);
    // The /wsk prefix is stripped by nginx as by the other proxies.
    const wsk = proxiedClient(topo, ng.url, { path: '/wsk/socket.io', transports: ['polling'], name: 'wsk', room, localAddress: '127.0.3.2' });
    await waitConnected(wsk);
    assert.deepEqual(await wsk.joined, { ok: true, room });
    await deliver(wsk, room, clients);
    for (const c of [...clients, wsk]) c.close();
  });

  step('the limit of IP affinity: a client whose address changes mid-session loses its session and reconnects', async (t) => {
    const nodes = topo.live.map((r) => r.nodeId);
    const make = (i) => ({ transports: ['polling'], name: `move-${i}`, room, localAddress: sourceAddress(4, i), ...RECONNECT });
    const clients = await connectSpread(topo, ng.url, { nodes, perNode: 1, max: 60, make });
    const [a, b] = [clients[0], clients.find((c) => c.node !== clients[0].node)];
    const from = a.node;
    const since = Date.now();
    // The same client, now from the address of a client of another replica (a phone moving from Wi-Fi to mobile).
    a.agent.options.localAddress = b.agent.options.localAddress;
    a.emit('rooms'); // the next request (a polling POST) comes from the new address
    const reason = await a.rec.wait('disconnect', (_, r) => r.at >= since, 5000);
    await a.rec.wait('connect', (_, r) => r.at > since, 10000);
    t.diagnostic(`${a.label} moved from ${from} (disconnect "${reason}" after ${a.disconnects.at(-1).at - since} ms) to ${a.node}, the replica of its new address`);
    assert.equal(a.node, b.node);
    assert.notEqual(a.node, from);
    for (const c of clients) c.close();
  });

  step("websocket clients with the guides' reconnection settings survive a replica restart", async (t) => {
    await restartScenario(t, topo, ng.url, { room: `${room}-restart`, sourceBlock: 2 });
  });
});

describe('HAProxy with the server cookie (docker/haproxy/haproxy-cookie.cfg, server --cookie io)', () => {
  const { topo, step } = withTopology('haproxy-cookie.cfg');
  const room = `hc-${process.pid}`;
  let hp;
  before(async () => {
    await topo.start({ count: 3, prefix: 'hc' });
    hp = await topo.haproxy({ file: SHIPPED.haproxyCookie, replicas: topo.live });
  });

  step('polling clients are pinned by the replica cookie that HAProxy prefixes with its server name', async () => {
    const nodes = topo.live.map((r) => r.nodeId);
    const clients = await connectSpread(topo, hp.url, {
      nodes,
      perNode: 2,
      max: 12,
      make: (i) => ({ transports: ['polling'], name: `poll-${i}`, room }),
    });
    for (const c of clients) {
      // io=<HAProxy server>~<node id>: the prefix names the server whose replica set the cookie.
      const replica = topo.byNode(c.node);
      assert.equal(c.cookies.io, `${hp.serverName(replica)}~${replica.nodeId}`, `${c.label}'s io cookie`);
    }
    assert.deepEqual(await roundTrips(clients, 20), []);
    const counts = await topo.connectedCounts();
    for (const [node, cs] of Object.entries(byNode(clients))) assert.equal(counts[node], cs.length, `clients on ${node}`);
    for (const sender of Object.values(byNode(clients)).map((cs) => cs[0])) await deliver(sender, room, clients);
    for (const c of clients) c.close();
  });

  step("websocket clients with the guides' reconnection settings survive a replica restart", async (t) => {
    await restartScenario(t, topo, hp.url, {
      room: `${room}-restart`,
      afterRestart: () => hp.waitServers(3, 'UP', 10000),
    });
  });
});

describe('HAProxy with dynamic cookies (docker/haproxy/haproxy.cfg)', () => {
  const { topo, step } = withTopology('haproxy.cfg');
  let hp;
  before(async () => {
    await topo.start({ count: 3, prefix: 'hd' });
    hp = await topo.haproxy({ file: SHIPPED.haproxy, replicas: topo.live });
  });

  step("websocket clients with the guides' reconnection settings survive a replica restart", async (t) => {
    await restartScenario(t, topo, hp.url, {
      room: `hd-${process.pid}`,
      afterRestart: () => hp.waitServers(3, 'UP', 10000),
    });
  });

  step(
    'a restarted replica that answers /ready 200 is already part of the cluster (its clients\' messages reach the others)',
    async () => {
      const room = `early-${process.pid}`;
      const [victim, , other] = topo.live;
      const listener = proxiedClient(topo, other.url, { transports: ['websocket'], name: 'listener', room });
      await waitConnected(listener);
      assert.deepEqual(await listener.joined, { ok: true, room });
      const { replica } = await topo.restartReplica(victim);
      // Right after start /ready may be 503 (not connected to Redis yet): that is what a proxy's health check needs.
      // The moment it says 200, HAProxy (rise 1) and Kubernetes send it clients: they must reach the cluster.
      const deadline = Date.now() + 10000;
      while ((await httpRequest(`${replica.adminUrl}/ready`)).status !== 200) {
        assert.ok(Date.now() < deadline, 'the restarted replica never became ready');
        await new Promise((r) => setTimeout(r, 10));
      }
      const early = proxiedClient(topo, replica.url, { transports: ['websocket'], name: 'early', room });
      await waitConnected(early);
      assert.deepEqual(await early.joined, { ok: true, room });
      assert.equal(early.joinRetries, 0, 'join answered "unavailable" on a replica that said it was ready');
      await deliver(early, room, [listener], 3000);
    },
  );
});
