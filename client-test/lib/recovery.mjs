// Helpers of the connection state recovery tests (recovery*.test.mjs): clients that record the tests' events with
// their offsets, cutting a client's transport, and pointing a client behind HAProxy at a chosen replica.
//
// The clients reconnect by hand (`reconnection: false`, then `connect()`): socket.io-client keeps its pid and last
// offset for that, and the test decides what happens while they are away.

import assert from 'node:assert/strict';
import { ack, createClient, waitConnected } from './client.mjs';
import { metricValue } from './metrics.mjs';
import { TapAgent } from './proxy.mjs';
import { waitUntil } from './wait.mjs';

/** The events the tests send (presence events are left out: they are not replayed state). */
const RECORDED = new Set(['message', 'direct', 'news']);

/** A client that records the test's events with all their arguments (the offset is the last one). */
export function recording(url, name, extra = {}) {
  const c = createClient(url, { auth: { name }, ...extra });
  c.events = [];
  c.onAny((event, ...args) => {
    if (RECORDED.has(event)) c.events.push({ event, args });
  });
  return c;
}

/** The events recorded since `mark`, as [event, data] pairs of the contract's `message`/`direct` payloads. */
export function received(c, mark) {
  return c.events.slice(mark).map(({ event, args }) => [event, args[0]?.data ?? args[0]]);
}

/** Every contract event recorded since `mark` carries a stream-or-store offset as its last argument. */
export function assertOffsets(c, mark) {
  for (const { event, args } of c.events.slice(mark)) {
    assert.equal(typeof args.at(-1), 'string', `${event} without an offset: ${JSON.stringify(args)}`);
  }
}

/** Closes the client's transport (as a network loss would) and waits until `server` has let go of it. */
export async function cut(c, connectedOn) {
  const id = c.id;
  c.io.engine.close();
  await waitUntil(() => !c.connected, { what: 'client disconnected' });
  await connectedOn(id);
  return id;
}

/** Emits a contract event and checks its ack. */
export async function send(sender, event, payload) {
  const res = await ack(sender, event, payload);
  assert.equal(res?.ok, true, `${event}: ${JSON.stringify(res)}`);
}

/** Waits until Rust server `server` has `n` connected clients. */
export async function rustConnected(server, n) {
  await waitUntil(async () => (await metricValue(server.adminUrl, 'sio_connected_clients')) === n, {
    what: `${n} clients on ${server.label}`,
  });
}

/**
 * Clients through HAProxy (the shipped config, sticky on its `SIO_SRV` cookie) sent to a chosen replica: the
 * proxy's cookie value of each replica is learnt from probes it places (leastconn spreads them).
 */
export class Pins {
  constructor(url) {
    this.url = url;
    this.cookies = {}; // {nodeId: SIO_SRV value}
  }

  /** Learns the cookie of each of `nodeIds`. */
  async learn(nodeIds) {
    const probes = [];
    for (let i = 0; i < 3 * nodeIds.length && Object.keys(this.cookies).length < nodeIds.length; i++) {
      const p = createClient(this.url, { withCredentials: true, agent: new TapAgent({ onHeaders: (h) => probes.push(h) }) });
      await waitConnected(p);
      p.close();
      for (const h of probes.splice(0)) {
        const all = [].concat(h['set-cookie'] ?? []).join(';');
        const node = /(?:^|;)\s*io=([^;]*)/.exec(all)?.[1];
        const srv = /SIO_SRV=([^;]*)/.exec(all)?.[1];
        if (node && srv) this.cookies[node.slice(node.lastIndexOf('~') + 1)] = srv;
      }
    }
    assert.deepEqual(Object.keys(this.cookies).sort(), [...nodeIds].sort(), 'a cookie per replica');
  }

  /** A recording client through the proxy whose sticky cookie names replica `nodeId`; `c.nodes` lists who served it. */
  client(nodeId, name) {
    const c = recording(this.url, name, { autoConnect: false });
    c.nodes = [];
    this.pin(c, nodeId);
    c.connect();
    return c;
  }

  /** Points the client's next connection at `nodeId` (what a sticky proxy does with the cookie it set). */
  pin(c, nodeId) {
    c.io.opts.agent = new TapAgent({
      onHeaders: (h) => {
        for (const sc of [].concat(h['set-cookie'] ?? [])) {
          const m = /^io=([^;]*)/.exec(sc);
          if (m) c.nodes.push(m[1].slice(m[1].lastIndexOf('~') + 1));
        }
      },
    });
    c.io.opts.extraHeaders = { cookie: `SIO_SRV=${this.cookies[nodeId]}` };
  }
}
