// The differential harness of the raw protocol tests: the same scenario runs against the Node reference server
// (lib/reference-server.mjs) and against our binary, configured alike, and our server must observe exactly what
// Node does. Also the one table that maps Node's disconnect reasons to our metric labels.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dumpServers } from './harness.mjs';
import { postJson } from './http.mjs';
import { fetchMetrics } from './metrics.mjs';
import { RawPollingConn, RawWs } from './raw.mjs';
import { startReference } from './reference-server.mjs';
import { startServer } from './server.mjs';
import { waitUntil, withTimeout } from './wait.mjs';

/**
 * Node's disconnect reason -> the `reason` label our server gives `sio_disconnections_total` for it today. When the
 * engine names reasons as Node does, delete the entries (a missing entry means "the label is Node's name").
 */
export const REASON_LABEL = {};

/** Our label for one of Node's reasons. */
export function labelFor(nodeReason) {
  return REASON_LABEL[nodeReason] ?? nodeReason;
}

const API_KEY = 'protocol-test-key';

/** The reference server as a target. */
class NodeTarget {
  constructor(ref) {
    this.kind = 'node';
    this.ref = ref;
    this.url = ref.url;
  }

  async reasonsMark() {
    return (await this.ref.disconnects()).length;
  }

  /** Disconnect reasons on "/" (as our labels would name them) since `mark`, sorted. */
  async reasonsSince(mark) {
    return (await this.ref.disconnects())
      .slice(mark)
      .filter((d) => d.nsp === '/')
      .map((d) => labelFor(d.reason))
      .sort();
  }

  /** io.timeout(ms).emitWithAck on namespace "/": the acks of every client. */
  emitWithAck(event, data, timeout) {
    return this.ref.emitWithAck(event, data, timeout);
  }

  connected() {
    return this.ref.connected();
  }

  describe() {
    return `reference server ${this.url}`;
  }
}

/** Our binary as a target. */
class OurTarget {
  constructor(handle) {
    this.kind = 'ours';
    this.handle = handle;
    this.url = handle.url;
  }

  async counts() {
    const { samples } = await fetchMetrics(this.handle.adminUrl);
    const out = {};
    for (const s of samples) {
      if (s.name === 'sio_disconnections_total') out[s.labels.reason] = (out[s.labels.reason] ?? 0) + s.value;
    }
    return out;
  }

  async reasonsMark() {
    return this.counts();
  }

  async connected() {
    const { samples } = await fetchMetrics(this.handle.adminUrl);
    return samples.find((x) => x.name === 'sio_connected_clients')?.value ?? 0;
  }

  async reasonsSince(mark) {
    const now = await this.counts();
    const out = [];
    for (const [label, n] of Object.entries(now)) {
      for (let i = 0; i < n - (mark[label] ?? 0); i++) out.push(label);
    }
    return out.sort();
  }

  /** The HTTP emit API with `ack: true` (Node's io.timeout(ms).emitWithAck). */
  async emitWithAck(event, data, timeout) {
    const res = await postJson(
      `${this.url}/api/v1/emit`,
      { event, data, ack: true, timeout },
      { headers: { authorization: `Bearer ${API_KEY}` }, timeout: timeout + 5000 },
    );
    return res.status === 200 ? { ok: true, acks: res.json.acks } : { ok: false };
  }

  describe() {
    return this.handle.describe();
  }
}

/** Start a reference server and our server with the same settings: {node, ours, settings}. */
export async function startTargets({ pingInterval = 10000, pingTimeout = 5000, maxPayload = 1000, allowEIO3 = true } = {}) {
  const ref = await startReference({ pingInterval, pingTimeout, maxPayload, allowEIO3 });
  const args = [
    '--ping-interval',
    String(pingInterval),
    '--ping-timeout',
    String(pingTimeout),
    '--max-payload',
    String(maxPayload),
    '--api-key',
    API_KEY,
    '--presence',
    'off',
  ];
  if (allowEIO3) args.push('--allow-eio3');
  try {
    const handle = await startServer({ args });
    return { node: new NodeTarget(ref), ours: new OurTarget(handle), settings: { pingInterval, pingTimeout } };
  } catch (err) {
    await ref.kill();
    throw err;
  }
}

/** Stop both servers of startTargets at once. */
export async function stopTargets(pair) {
  await Promise.all([pair?.ours.handle.kill(), pair?.node.ref.kill()]);
}

/**
 * startTargets in `before`, stopTargets in `after`, for the tests of a describe block; returns a getter for
 * {node, ours}.
 */
export function protocolPair(settings = {}) {
  let pair = null;
  before(async () => {
    pair = await startTargets(settings);
  });
  after(() => stopTargets(pair));
  return () => pair;
}

/** Connections a scenario opened, closed whatever happens. */
export class Conns {
  constructor() {
    this.list = [];
  }

  add(c) {
    this.list.push(c);
    return c;
  }

  /**
   * An Engine.IO session over `transport` ('polling' | 'websocket'), open packet read (v3 also reads the automatic
   * `40`). Polling sessions loop (one GET always pending) unless `loop: false`.
   */
  async open(target, { transport, eio = 4, autoPong = true, loop = true, b64 = false } = {}) {
    if (transport === 'websocket') {
      const ws = this.add(new RawWs(target.url, { eio, autoPong }));
      await withTimeout(ws.opened, 5000, 'the websocket to open');
      const first = await ws.next('0{');
      ws.open = JSON.parse(first.slice(1));
      ws.sid = ws.open.sid;
      if (eio === 3) await ws.next('40');
      return ws;
    }
    const p = this.add(new RawPollingConn(target.url, { eio, autoPong, b64 }));
    const res = await p.handshake();
    if (!p.sid) throw new Error(`polling handshake failed: ${res.status} ${res.text ?? res.error}`);
    if (eio === 3 && !res.packets.includes('40')) await p.get(); // the automatic `40` may come in the next GET
    if (loop) p.startLoop();
    return p;
  }

  /**
   * Close every connection the way a client leaves: a polling session POSTs `1` (else its socket would linger
   * until the ping timeout and show up in a later scenario's disconnect reasons and emits), a WebSocket closes.
   */
  async closeAll() {
    await Promise.all(
      this.list.map(async (c) => {
        if (c instanceof RawPollingConn && c.sid) await c.post(['1'], { timeout: 1000 });
        c.close();
      }),
    );
  }

  /** Abort everything at once (a cancelled test). */
  abortAll() {
    for (const c of this.list) c.close();
  }
}

/** Wait until at least `n` disconnections were recorded since `mark`; resolves to their labels (sorted). */
export async function reasonsAfter(target, mark, n = 1, timeout = 5000) {
  let got = [];
  await waitUntil(
    async () => {
      got = await target.reasonsSince(mark);
      return got.length >= n;
    },
    { timeout, interval: 25, what: `${n} disconnection(s) on the ${target.kind} server` },
  ).catch((e) => {
    throw new Error(`${e.message}; recorded: ${JSON.stringify(got)}`);
  });
  return got;
}

const nodeResults = new Map();
const deviations = new Map();
const usedDeviations = new Set();

/**
 * Declare the scenarios in which our server deviates from Node today: {scenario name: 'engine issue 12: <what>'}.
 * Their [ours] tests run as node:test `todo` (reported, not failing the run). A name that matches no scenario
 * fails the file, so the list cannot rot silently.
 */
export function knownDeviations(map) {
  for (const [name, why] of Object.entries(map)) deviations.set(name, why);
  after(() => {
    const unused = Object.keys(map).filter((n) => !usedDeviations.has(n));
    assert.deepEqual(unused, [], 'known deviations naming no scenario');
  });
}

/**
 * One scenario, two tests. "<name> [node]" runs `scenario(target, conns)` on the reference and checks
 * `expect(observation, target)`: the referee's facts about Node. "<name> [ours]" runs it on our server and asserts
 * that the observation deep-equals Node's (after the scenario's own normalisation; its `timing` member, if any, is
 * left out: `expect` checks it against windows), then `expect`. `todo` (a
 * string naming the deviation) marks the [ours] test as a known deviation of the engine we replace: it runs and
 * reports, and does not fail the run.
 * @param {string} name
 * @param {{pair: () => object, todo?: string, timeout?: number, skipOurs?: string, compare?: boolean}} o
 */
export function differential(name, o, scenario, expect = () => {}) {
  const timeout = o.timeout ?? 20000;
  const todo = o.todo ?? deviations.get(name);
  if (deviations.has(name)) usedDeviations.add(name);
  const run = async (kind, signal) => {
    const pair = o.pair();
    const target = pair[kind];
    const conns = new Conns();
    // A test cancelled by its timeout never reaches `finally`: close the connections when node:test aborts it.
    signal?.addEventListener('abort', () => conns.abortAll(), { once: true });
    try {
      return await scenario(target, conns, pair.settings);
    } finally {
      await conns.closeAll();
      // The next scenario starts on a server with no socket left: it must see only its own disconnections.
      await waitUntil(async () => (await target.connected()) === 0, {
        timeout: 5000,
        interval: 20,
        what: `the ${kind} server to have no socket left`,
      }).catch((e) => console.error(`warning: ${e.message}`));
    }
  };
  test(`${name} [node]`, { timeout }, async (t) => {
    const obs = await run('node', t.signal);
    nodeResults.set(name, obs);
    await expect(obs, 'node');
  });
  test(`${name} [ours]`, { timeout, todo, skip: o.skipOurs }, async (t) => {
    try {
      const obs = await run('ours', t.signal);
      const ref = nodeResults.get(name) ?? (await run('node', t.signal));
      // `timing` holds measurements that differ from run to run: `expect` checks them against windows.
      const { timing: _t1, ...mine } = obs ?? {};
      const { timing: _t2, ...theirs } = ref ?? {};
      if (o.compare !== false) assert.deepStrictEqual(mine, theirs, 'our server observed something else than Node');
      await expect(obs, 'ours');
    } catch (err) {
      if (!todo) dumpServers([o.pair().ours.handle], `test "${name}" failed: ${err?.message?.split('\n')[0]}`);
      throw err;
    }
  });
}
