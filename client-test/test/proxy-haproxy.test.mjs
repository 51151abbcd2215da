// The compose topology of docker/ run for real on loopback (issue 4, "the local cluster test"): a fresh Redis, three
// `server` replicas (target/debug/server, --redis-url, distinct --node-id) and a real HAProxy whose configuration is
// docker/haproxy/haproxy.cfg with only the addresses changed (see lib/proxy.mjs haproxyLoopbackConfig): same
// balance, dynamic sticky cookie, health checks on the admin port, timeouts and /wsk rewrite.
//
// Scaling: in Docker, HAProxy fills server-template slots from Docker's DNS. On loopback every replica shares
// 127.0.0.1 (an A record carries no port) and there is no Docker DNS, so a topology change is made the way a
// fixed-address deployment of the same file makes it: the configuration is regenerated with one `server` line per
// replica and HAProxy is reloaded (master-worker SIGUSR2: the new worker takes over the listening sockets, the old
// one finishes its connections). Dynamic cookie values depend only on the key and the replica's address, so the
// sessions pinned before a reload stay pinned after it, which the scale-up test checks.
//
// The tests of this file run in order on one topology (scale up, then down, then kill -9).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ack, waitConnected } from '../lib/client.mjs';
import { httpRequest } from '../lib/http.mjs';
import {
  byNode,
  connectSpread,
  deliver,
  disconnectsSince,
  proxiedClient,
  roundTrips,
  SHIPPED,
  snapshotDisconnects,
  Topology,
} from '../lib/proxy.mjs';

/** Reconnection of the test clients: fast, so that "within a few seconds" has a margin. */
const RECONNECT = { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 1000, randomizationFactor: 0.5 };
/** Upper bound for a client of a stopped replica to be connected again through the proxy. */
const RECONNECT_WITHIN_MS = 6000;

describe('HAProxy (docker/haproxy/haproxy.cfg) in front of a Redis cluster of replicas, on loopback', () => {
  const topo = new Topology('haproxy.cfg');
  const room = `lobby-${process.pid}`;
  let hp;
  const polling = [];
  const ws = [];
  const all = () => [...polling, ...ws].filter((c) => !c.retired);

  before(async () => {
    await topo.start({ count: 3, prefix: 'ha' });
    hp = await topo.haproxy({ file: SHIPPED.haproxy, replicas: topo.live });
  });
  after(async () => {
    await topo.destroy();
  });

  /** A test that prints every process's log (proxy, replicas, Redis) and the generated configuration on failure. */
  const step = (name, fn, timeout = 30000) =>
    test(name, { timeout }, async (t) => {
      try {
        await fn(t);
      } catch (err) {
        console.error(await topo.report());
        throw err;
      }
    });

  const pollingClient = (i, extra = {}) => ({
    transports: ['polling'],
    name: `poll-${i}`,
    room,
    ...RECONNECT,
    ...extra,
  });
  const wsClient = (i) => ({ transports: ['websocket'], name: `ws-${i}`, room, ...RECONNECT });

  step('polling-only clients keep their session across many requests (sticky cookie), spread over the replicas', async () => {
    const nodes = topo.live.map((r) => r.nodeId);
    polling.push(...(await connectSpread(topo, hp.url, { nodes, perNode: 2, max: 12, make: (i) => pollingClient(i) })));
    // Each client's requests all reach the replica that holds its session: 25 round trips of POST + long-poll GET
    // each, with no "Session ID unknown", no reconnect, no transport or replica change.
    assert.deepEqual(await roundTrips(polling, 25), []);
    // HAProxy's cookie is what pins them: one value per replica, the same for every client of that replica.
    for (const [node, cs] of Object.entries(byNode(polling))) {
      const values = new Set(cs.map((c) => c.cookies.SIO_SRV));
      assert.equal(values.size, 1, `one SIO_SRV value for the clients of ${node}: ${[...values]}`);
      assert.match([...values][0], /^[0-9a-f]{16}$/);
    }
    assert.equal(new Set(polling.map((c) => c.cookies.SIO_SRV)).size, 3, 'a distinct SIO_SRV value per replica');
    // The replicas count exactly the clients that the cookies say they serve.
    const counts = await topo.connectedCounts();
    for (const [node, cs] of Object.entries(byNode(polling))) assert.equal(counts[node], cs.length, `clients on ${node}`);
  });

  step('polling clients receive room messages sent by websocket clients pinned to other replicas', async () => {
    const nodes = topo.live.map((r) => r.nodeId);
    ws.push(...(await connectSpread(topo, hp.url, { nodes, perNode: 1, max: 12, make: (i) => wsClient(i) })));
    for (const c of ws) assert.equal(c.io.engine.transport.name, 'websocket');
    for (const sender of ws) {
      const others = polling.filter((p) => p.node !== sender.node);
      assert.ok(others.length >= 4, `polling clients on other replicas than ${sender.node}`);
      await deliver(sender, room, polling);
    }
    // And the other way round: a polling client's message reaches the websocket clients of every replica.
    await deliver(polling[0], room, ws);
    assert.deepEqual(await roundTrips(polling, 2), []);
  });

  step('scale up: a fourth replica is added (config regenerated, HAProxy reloaded), new clients reach it', async (t) => {
    const marks = snapshotDisconnects(all());
    const r4 = await topo.startReplica('ha-4');
    await topo.waitNodes(4);
    const t0 = Date.now();
    await hp.reload(topo.live);
    t.diagnostic(`HAProxy reloaded with 4 servers, all UP, in ${Date.now() - t0} ms`);
    // The sessions pinned before the reload stay pinned (dynamic cookies do not depend on the process).
    assert.deepEqual(await roundTrips(polling, 5), []);
    // New clients: leastconn sends them to the replica with the fewest connections, the new one among them.
    const fresh = await connectSpread(topo, hp.url, {
      nodes: [r4.nodeId],
      max: 8,
      make: (i) => pollingClient(`new-${i}`),
    });
    polling.push(...fresh);
    const onR4 = fresh.filter((c) => c.node === r4.nodeId);
    t.diagnostic(`new clients landed on ${JSON.stringify(fresh.map((c) => c.node))}`);
    // Messages cross between the new replica and the old ones in both directions.
    await deliver(ws.find((c) => c.node === 'ha-1'), room, onR4);
    await deliver(onR4[0], room, all());
    assert.deepEqual(await roundTrips(fresh, 10), []);
    assert.deepEqual(disconnectsSince(all(), marks), [], 'no existing client noticed the scale-up');
  });

  step('scale down: SIGTERM of a replica; its clients reconnect through the proxy to the others, nobody else notices', async (t) => {
    const victim = topo.byNode('ha-2');
    const moved = all().filter((c) => c.node === victim.nodeId);
    const others = all().filter((c) => c.node !== victim.nodeId);
    assert.ok(moved.some((c) => c.io.opts.transports[0] === 'polling') && moved.some((c) => c.io.opts.transports[0] === 'websocket'),
      `the victim serves polling and websocket clients: ${moved.map((c) => c.label)}`);
    const marks = snapshotDisconnects(others);
    const since = Date.now();
    const exited = victim.stop('SIGTERM', 10000);
    const times = await Promise.all(
      moved.map(async (c) => {
        await c.rec.wait('disconnect', (_, r) => r.at >= since, 5000);
        await c.rec.wait('connect', (_, r) => r.at > since, RECONNECT_WITHIN_MS);
        assert.notEqual(c.node, victim.nodeId, `${c.label} reconnected to the stopped replica`);
        assert.deepEqual(await c.joined, { ok: true, room }, `${c.label} joins again`);
        return c.connectedAt - since;
      }),
    );
    t.diagnostic(`${moved.length} clients of ${victim.nodeId} reconnected after ${times.join(', ')} ms to ${moved.map((c) => c.node)}`);
    const exit = await exited;
    assert.equal(exit.code, 0, `graceful exit: ${JSON.stringify(exit)}`);
    await hp.waitServer(hp.serverName(victim), 'DOWN', 8000);
    // They keep receiving: messages from a websocket client of another replica reach everyone, and theirs too.
    await deliver(ws.find((c) => c.node === 'ha-1'), room, all());
    for (const c of moved) await deliver(c, room, all());
    assert.deepEqual(await roundTrips(all().filter((c) => c.io.opts.transports[0] === 'polling'), 3), []);
    assert.deepEqual(disconnectsSince(others, marks), [], 'clients of the other replicas saw no disconnect');
  });

  step('kill -9 of a replica: once the health check marks it DOWN, its clients are on the others and keep receiving', async (t) => {
    const victim = topo.byNode('ha-3');
    const moved = all().filter((c) => c.node === victim.nodeId);
    const others = all().filter((c) => c.node !== victim.nodeId);
    assert.ok(moved.length >= 2, `clients on ${victim.nodeId}: ${moved.length}`);
    const marks = snapshotDisconnects(others);
    const since = Date.now();
    await victim.kill();
    const downAt = await hp.waitServer(hp.serverName(victim), 'DOWN', 10000);
    t.diagnostic(`HAProxy marked ${hp.serverName(victim)} DOWN ${downAt - since} ms after SIGKILL`);
    const times = await Promise.all(
      moved.map(async (c) => {
        await c.rec.wait('connect', (_, r) => r.at > since, Math.max(0, downAt - since) + RECONNECT_WITHIN_MS);
        assert.ok(!['ha-2', 'ha-3'].includes(c.node), `${c.label} reconnected to ${c.node}`);
        assert.deepEqual(await c.joined, { ok: true, room }, `${c.label} joins again`);
        return c.connectedAt - since;
      }),
    );
    t.diagnostic(`${moved.length} clients of ${victim.nodeId} reconnected after ${times.join(', ')} ms to ${moved.map((c) => c.node)}`);
    await deliver(ws.find((c) => c.node === 'ha-1'), room, all());
    for (const c of moved) await deliver(c, room, all());
    assert.deepEqual(disconnectsSince(others, marks), [], 'clients of the other replicas saw no disconnect');
    const counts = await topo.connectedCounts();
    assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), all().length, `every client connected once: ${JSON.stringify(counts)}`);
  });

  step('path prefix /wsk stripped at the proxy: polling and websocket clients with path "/wsk/socket.io"', async () => {
    const raw = await httpRequest(`${hp.url}/wsk/socket.io/?EIO=4&transport=polling`);
    assert.equal(raw.status, 200, raw.text);
    assert.match(raw.text, /^0\{"sid":/);
    const wsk = [
      proxiedClient(topo, hp.url, { path: '/wsk/socket.io', transports: ['polling'], name: 'wsk-poll', room }),
      proxiedClient(topo, hp.url, { path: '/wsk/socket.io', transports: ['websocket'], name: 'wsk-ws', room }),
      proxiedClient(topo, hp.url, { path: '/wsk/socket.io', name: 'wsk-upgrade', room }),
    ];
    for (const c of wsk) {
      await waitConnected(c);
      assert.deepEqual(await c.joined, { ok: true, room });
    }
    assert.deepEqual(await roundTrips([wsk[0]], 10), []);
    for (const c of wsk) await deliver(c, room, all());
    await deliver(ws.find((c) => c.node === 'ha-1'), room, wsk);
    for (const c of wsk) {
      c.retired = true;
      c.close();
    }
  });

  step('path prefix /wsk kept (server --path /wsk): clients with path "/wsk" through the same HAProxy file', async () => {
    // Two more replicas of the same cluster (same Redis) serving /wsk themselves, behind their own HAProxy.
    const kept = [
      await topo.startReplica('ha-wsk-1', { args: ['--path', '/wsk'] }),
      await topo.startReplica('ha-wsk-2', { args: ['--path', '/wsk'] }),
    ];
    const hp2 = await topo.haproxy({ file: SHIPPED.haproxy, replicas: kept });
    const clients = await connectSpread(topo, hp2.url, {
      nodes: kept.map((r) => r.nodeId),
      max: 8,
      make: (i) => ({ path: '/wsk', transports: i % 2 ? ['websocket'] : ['polling'], name: `kept-${i}`, room }),
    });
    assert.deepEqual(await roundTrips(clients.filter((c) => c.io.opts.transports[0] === 'polling'), 10), []);
    // One cluster: messages cross between the /wsk replicas and the others.
    for (const c of clients) await deliver(c, room, all());
    await deliver(ws.find((c) => c.node === 'ha-1'), room, clients);
    assert.equal((await ack(clients[0], 'members', room)).members.length, all().length + clients.length);
  });
});
