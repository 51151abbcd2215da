// Real redis-server processes for the cluster tests: standalone servers and three-master Redis Clusters on free
// loopback ports, in a temporary directory, without persistence. Never touches the system Redis on 6379.
//
// startRedis() -> RedisHandle {port, url, pid, kill(), restart(), ping(), cmd(...)}
// startRedisCluster() -> RedisClusterHandle {ports, url (redis-cluster:// form), nodes, kill(), cmdAll(...)}
// Every process is remembered and SIGKILLed when the test-file process exits, whatever happened.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { getFreePort } from './server.mjs';
import { sleep, withTimeout } from './wait.mjs';

export const REDIS_SERVER = process.env.REDIS_SERVER || 'redis-server';
export const REDIS_CLI = process.env.REDIS_CLI || 'redis-cli';

/** Every redis-server process this test file started (for last-resort cleanup). */
const allRedis = new Set();

function tail(s, n = 3000) {
  return s.length > n ? `...[${s.length - n} chars cut]...\n${s.slice(-n)}` : s;
}

// ---------------------------------------------------------------------------------------------------------------
// A tiny RESP client (one command per connection, bounded in time): PING, INFO, PUBSUB NUMSUB, CLUSTER INFO.

function encodeCommand(args) {
  let out = `*${args.length}\r\n`;
  for (const a of args) {
    const s = String(a);
    out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
  }
  return out;
}

/** Parse one RESP2 reply from buf at offset; returns {value, end} or null when incomplete. */
function parseReply(buf, off = 0) {
  const nl = buf.indexOf('\r\n', off);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, nl);
  const next = nl + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RedisReplyError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const arr = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, pos);
        if (!r) return null;
        arr.push(r.value);
        pos = r.end;
      }
      return { value: arr, end: pos };
    }
    default:
      throw new Error(`unexpected RESP type ${JSON.stringify(type)}`);
  }
}

export class RedisReplyError extends Error {}

/**
 * Send one command to 127.0.0.1:port and resolve with the reply (error replies resolve to a RedisReplyError
 * instance); rejects when the connection fails or nothing complete arrives within `timeout` ms.
 */
export function redisCommand(port, args, { timeout = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const done = (err, value) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`redis ${args[0]} on ${port}: no reply in ${timeout} ms`)), timeout);
    sock.on('connect', () => sock.write(encodeCommand(args)));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      let r;
      try {
        r = parseReply(buf);
      } catch (e) {
        done(e);
        return;
      }
      if (r) done(null, r.value);
    });
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error(`redis ${args[0]} on ${port}: connection closed`)));
  });
}

/** A pair of free ports p, p + 10000 below the ephemeral range (the Redis Cluster bus uses port + 10000). */
async function getFreeClusterPort() {
  for (let i = 0; i < 200; i++) {
    const p = 12000 + Math.floor(Math.random() * 10000);
    if ((await isFree(p)) && (await isFree(p + 10000))) return p;
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

function isFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------------------------------------------------------

export class RedisHandle {
  constructor({ port, args, dir, label }) {
    this.port = port;
    this.args = args;
    this.dir = dir;
    this.label = label;
    this.url = `redis://127.0.0.1:${port}`;
    this.log = '';
    this.proc = null;
    this.generation = 0;
  }

  get pid() {
    return this.proc?.pid;
  }

  get running() {
    return this.proc !== null && this.exit === null;
  }

  /** Spawn redis-server (again, on the same port) and wait until it answers PING; resolves with that moment. */
  async start({ timeout = 10000 } = {}) {
    const proc = spawn(REDIS_SERVER, this.args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exit = null;
    this.generation += 1;
    const gen = this.generation;
    allRedis.add(this);
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      this.log += d;
    });
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      this.log += d;
    });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        if (this.generation === gen) this.exit = { code, signal, at: Date.now() };
        resolve({ code, signal });
      });
      proc.on('error', (err) => {
        if (this.generation === gen) this.exit = { code: null, signal: null, error: err, at: Date.now() };
        resolve({ error: err });
      });
    });
    const deadline = Date.now() + timeout;
    for (;;) {
      if (this.exit) throw new Error(`redis-server exited at start\n${this.describe()}`);
      try {
        if ((await this.ping(500)) === 'PONG') {
          this.readyAt = Date.now();
          return this.readyAt;
        }
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`redis-server did not answer PING within ${timeout} ms\n${this.describe()}`);
      }
      await sleep(5); // polling a port: there is no event to await
    }
  }

  ping(timeout = 1000) {
    return redisCommand(this.port, ['PING'], { timeout });
  }

  cmd(...args) {
    return redisCommand(this.port, args);
  }

  /** SIGKILL the process and wait for it to be gone. */
  async kill() {
    if (!this.proc || this.exit) return this.exit;
    try {
      this.proc.kill('SIGKILL');
    } catch {
      /* gone */
    }
    await withTimeout(this.exited, 5000, `redis-server ${this.port} to exit`).catch(() => {});
    return this.exit;
  }

  /** Kill (if running) and start again on the same port; resolves with the moment it answers PING. */
  async restart(opts) {
    await this.kill();
    return this.start(opts);
  }

  /** kill() and remove the temporary directory. */
  async destroy() {
    await this.kill();
    allRedis.delete(this);
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  describe() {
    const st = this.exit ? `exited ${JSON.stringify(this.exit)}` : 'running';
    return `--- redis ${this.label} port ${this.port} pid ${this.pid} (${st})\n${tail(this.log)}\n--- end redis ${this.label}`;
  }
}

let counter = 0;

/**
 * Start a standalone redis-server on a free 127.0.0.1 port (no persistence), wait for PING.
 * @param {object} [o]
 * @param {number} [o.port]
 * @param {string[]} [o.args] extra redis-server arguments
 * @param {string} [o.dir] working directory (default: a fresh temporary one)
 */
export async function startRedis(o = {}) {
  const ownsDir = !o.dir;
  const dir = o.dir ?? mkdtempSync(path.join(os.tmpdir(), 'e2e-redis-'));
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = o.port ?? (await getFreePort());
    const args = [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--protected-mode', 'yes',
      '--loglevel', 'notice',
      ...(o.args ?? []),
    ];
    const h = new RedisHandle({ port, args, dir, label: `r${++counter}` });
    h.ownsDir = ownsDir;
    try {
      await h.start();
      return h;
    } catch (err) {
      lastErr = err;
      if (o.port || !/Address already in use|bind/i.test(h.log)) break;
    }
  }
  if (ownsDir) rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}

/** Run redis-cli with a time limit; resolves {code, stdout, stderr}. */
export function redisCli(args, { timeout = 30000 } = {}) {
  return new Promise((resolve) => {
    execFile(REDIS_CLI, args, { timeout, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr), err });
    });
  });
}

export class RedisClusterHandle {
  constructor(nodes, dir) {
    this.nodes = nodes;
    this.dir = dir;
    this.ports = nodes.map((n) => n.port);
    const [first, ...rest] = this.ports;
    /** The server's Redis Cluster URL form. */
    this.url = `redis-cluster://127.0.0.1:${first}?${rest.map((p) => `node=127.0.0.1:${p}`).join('&')}`;
    /** For the `redis` npm package's createCluster. */
    this.rootNodes = this.ports.map((p) => ({ url: `redis://127.0.0.1:${p}` }));
  }

  /** The same command on every master; resolves the array of replies. */
  cmdAll(...args) {
    return Promise.all(this.nodes.map((n) => n.cmd(...args)));
  }

  async destroy() {
    await Promise.all(this.nodes.map((n) => n.kill()));
    for (const n of this.nodes) allRedis.delete(n);
    rmSync(this.dir, { recursive: true, force: true });
  }

  describe() {
    return this.nodes.map((n) => n.describe()).join('\n');
  }
}

/** Start three cluster-enabled masters, create the cluster (no replicas), and wait for cluster_state:ok on each. */
export async function startRedisCluster({ masters = 3, timeout = 30000 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-redis-cluster-'));
  const nodes = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await getFreeClusterPort();
      nodes.push(
        await startRedis({
          port,
          dir,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '5000'],
        }),
      );
    }
    const res = await redisCli(
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout },
    );
    if (res.code !== 0) throw new Error(`redis-cli --cluster create failed (${res.code}):\n${res.stdout}\n${res.stderr}`);
    const deadline = Date.now() + timeout;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => n.cmd('CLUSTER', 'INFO').catch((e) => String(e))));
      if (infos.every((i) => typeof i === 'string' && i.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error(`cluster_state not ok in ${timeout} ms: ${JSON.stringify(infos)}`);
      await sleep(100); // cluster state has no event to await
    }
    return new RedisClusterHandle(nodes, dir);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Number of subscribers of a channel: PUBSUB NUMSUB (classic) or SHARDNUMSUB (sharded). On a Redis Cluster pass every
 * master port: classic counts are summed over masters (as Node's adapter does), sharded counts come from the master
 * that owns the channel's slot (the others answer an error, ignored).
 */
export async function subscriberCount(ports, channel, { sharded = false } = {}) {
  const list = Array.isArray(ports) ? ports : [ports];
  const replies = await Promise.all(
    list.map((p) =>
      redisCommand(p, ['PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', channel]).catch((e) => new RedisReplyError(e.message)),
    ),
  );
  let sum = 0;
  for (const r of replies) if (Array.isArray(r)) sum += Number(r[1]);
  return sum;
}

// node --test ends a test file that overruns --test-timeout with SIGTERM (Ctrl-C gives SIGINT), and a signal skips
// the 'exit' hooks: turn it into an exit so that they run and kill every child (redis-server here, the server
// binaries in server.mjs).
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  if (process.listenerCount(sig) === 0) {
    process.once(sig, () => process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGHUP' ? 1 : 15)));
  }
}

// Last resort: never leave a redis-server behind when this test-file process goes away.
process.on('exit', () => {
  for (const r of allRedis) {
    try {
      r.proc?.kill('SIGKILL');
    } catch {
      /* ignore */
    }
  }
});
