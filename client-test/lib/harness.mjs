// Test wrappers: every e2e test gets a Scope that owns its clients, raw connections and servers and cleans them up
// whatever happens; when the test fails, the logs of the servers involved are printed.

import { after, before, test } from 'node:test';
import {
  createClient,
  createClientV2,
  waitConnected,
  waitConnectedV2,
} from './client.mjs';
import { RawPolling, RawWs, rawSocketIo } from './raw.mjs';
import { allServers, startServer } from './server.mjs';
import { tcpConnect, tcpOpen } from './tcp.mjs';

export class Scope {
  constructor(name) {
    this.name = name;
    this.servers = [];
    this.clients = [];
    this.raws = [];
    this.tcps = [];
    this.deferred = [];
  }

  /** Start a server owned by this test. */
  async server(opts) {
    const s = await startServer(opts);
    this.servers.push(s);
    return s;
  }

  /** A socket.io-client 4.x socket (not awaited). */
  client(url, opts) {
    const c = createClient(url, opts);
    this.clients.push(c);
    return c;
  }

  /** A connected socket.io-client 4.x socket. */
  async connect(url, opts) {
    const c = this.client(url, opts);
    await waitConnected(c);
    return c;
  }

  /** A socket.io-client 2.x socket (not awaited). */
  clientV2(url, opts) {
    const c = createClientV2(url, opts);
    this.clients.push(c);
    return c;
  }

  async connectV2(url, opts) {
    const c = this.clientV2(url, opts);
    await waitConnectedV2(c);
    return c;
  }

  /** A raw websocket Engine.IO connection (not awaited). */
  rawWs(base, opts) {
    const r = new RawWs(base, opts);
    this.raws.push(r);
    return r;
  }

  /** A raw websocket with the "/" namespace connected: {raw, open, connectReply}. */
  async rawSocketIo(base, opts) {
    const res = await rawSocketIo(base, opts);
    this.raws.push(res.raw);
    return res;
  }

  /** A connected raw TCP connection (lib/tcp.mjs). */
  async tcp(port, opts) {
    const c = await tcpConnect(port, opts);
    this.tcps.push(c);
    return c;
  }

  /** A raw TCP connection, not awaited. */
  tcpOpen(port, opts) {
    const c = tcpOpen(port, opts);
    this.tcps.push(c);
    return c;
  }

  rawPolling(base, opts) {
    return new RawPolling(base, opts);
  }

  defer(fn) {
    this.deferred.push(fn);
  }

  async cleanup() {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const fn of this.deferred.reverse()) {
      try {
        await fn();
      } catch {
        /* best effort */
      }
    }
    for (const c of this.clients) {
      try {
        c.io?.reconnection?.(false);
        c.close();
        c.io?.engine?.close?.();
      } catch {
        /* ignore */
      }
    }
    for (const r of this.raws) r.close();
    for (const c of this.tcps) c.destroy();
    await Promise.all(this.servers.map((s) => s.kill()));
  }
}

/** Print the logs of the servers a failed test used. */
export function dumpServers(servers, why) {
  const list = [...new Set(servers)];
  if (list.length === 0) return;
  const out = [`=== server diagnostics (${why}) ===`, ...list.map((s) => s.describe())].join('\n');
  console.error(out);
}

/**
 * Declare an end-to-end test. fn(t, scope). Options go to node:test (timeout default 30 s).
 * Usage: e2e('name', async (t, s) => {...}) or e2e('name', {timeout: 20000}, async (t, s) => {...})
 */
export function e2e(name, optsOrFn, maybeFn) {
  const fn = typeof optsOrFn === 'function' ? optsOrFn : maybeFn;
  const opts = typeof optsOrFn === 'function' ? {} : optsOrFn;
  return test(name, { timeout: 30000, ...opts }, async (t) => {
    const scope = new Scope(name);
    const runningAtStart = [...allServers].filter((s) => s.running);
    // A test cancelled by its timeout never reaches `finally`: clean up when node:test aborts it.
    const onAbort = () => {
      dumpServers(scope.servers, `test "${name}" was cancelled`);
      scope.cleanup();
    };
    t.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await fn(t, scope);
    } catch (err) {
      const since = [...allServers].filter((s) => runningAtStart.includes(s) || scope.servers.includes(s));
      dumpServers(since, `test "${name}" failed: ${err?.message?.split('\n')[0]}`);
      throw err;
    } finally {
      t.signal?.removeEventListener('abort', onAbort);
      await scope.cleanup();
    }
  });
}

/**
 * A server shared by the tests of a describe block (started in before, killed in after). Returns a getter:
 * `const srv = sharedServer({args}); ... srv().url`.
 */
export function sharedServer(opts) {
  let handle = null;
  before(async () => {
    handle = await startServer(opts);
  });
  after(async () => {
    await handle?.kill();
  });
  return () => {
    if (!handle) throw new Error('shared server not started (its before hook failed)');
    return handle;
  };
}
