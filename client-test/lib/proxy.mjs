// The deployment topologies of docker/ run for real on loopback: a Redis, N `server` replicas and a real proxy
// (HAProxy or nginx from the Debian packages) whose configuration is generated FROM the shipped file, with only
// the addresses changed, so that a change to docker/haproxy/*.cfg or docker/nginx/nginx.conf changes what is tested.
//
//   haproxyLoopbackConfig(text, {port, statsPort, dnsPort, replicas})   the shipped HAProxy file, loopback addresses
//   nginxLoopbackConfig(text, {port, replicas, dir})                    the shipped nginx file, loopback addresses
//   startHaproxy({file, replicas})  -> HaproxyHandle {url, statsUrl, reload(replicas), servers(), waitServer(...)}
//   startNginx({file, replicas})    -> NginxHandle {url}
//   Topology                         owns redis + replicas + proxies + clients; destroy() kills every process
//   proxiedClient(topo, url, o)      socket.io-client through the proxy that records which replica served it
//
// Every listener is on 127.0.0.1. Client *source* addresses may be other loopback addresses (127.0.0.2, ...):
// nginx's `hash $remote_addr` needs distinct client addresses to spread clients over the replicas.
// Every process started here is SIGKILLed when the test-file process exits, whatever happened.

import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ack, createClient, waitConnected } from './client.mjs';
import { waitServerCount } from './cluster.mjs';
import { httpRequest } from './http.mjs';
import { metricValue } from './metrics.mjs';
import { startRedis } from './redis.mjs';
import { getFreePort, REPO_ROOT, startServer } from './server.mjs';
import { Recorder, sleep, waitUntil, withTimeout } from './wait.mjs';

/** A program on PATH or in the sbin directories (not on every user's PATH), where Debian installs the proxies. */
function findBin(name) {
  for (const dir of [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin']) {
    if (dir && existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  return null;
}

function requireBin(envName, name, pkg) {
  const bin = process.env[envName] || findBin(name);
  if (!bin) throw new Error(`${name} not found: install the Debian package ${pkg} (scripts/install-deps.sh does) or set ${envName}`);
  return bin;
}

export const HAPROXY_BIN = process.env.HAPROXY_BIN || findBin('haproxy') || 'haproxy';
export const NGINX_BIN = process.env.NGINX_BIN || findBin('nginx') || 'nginx';

/** The shipped proxy configurations. */
export const SHIPPED = {
  haproxy: path.join(REPO_ROOT, 'docker', 'haproxy', 'haproxy.cfg'),
  haproxyCookie: path.join(REPO_ROOT, 'docker', 'haproxy', 'haproxy-cookie.cfg'),
  nginx: path.join(REPO_ROOT, 'docker', 'nginx', 'nginx.conf'),
};

/** The ports the shipped files listen on (container side), mapped to loopback ports by the generators. */
const HAPROXY_FRONTEND_PORT = '8080';
const HAPROXY_STATS_PORT = '8404';

function tail(s, n = 4000) {
  return s.length > n ? `...[${s.length - n} chars cut]...\n${s.slice(-n)}` : s;
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration generators: the shipped file, line by line; only addresses, ports and scratch paths change. Any
// line the generator does not expect (a bind on another port, no server line at all, ...) is an error, so that a
// change to the shipped file is never silently left out of the test.

/**
 * The shipped HAProxy configuration with loopback addresses:
 * - `bind :8080` (the socket.io frontend) -> `bind 127.0.0.1:<port>`, `bind :8404` (stats) -> `127.0.0.1:<statsPort>`;
 * - the resolvers' `parse-resolv-conf` (the container's DNS: Docker's or Podman's) or `nameserver` line ->
 *   `nameserver dns 127.0.0.1:<dnsPort>` (nothing is resolved: every server below is an IP address; this host's
 *   resolver is left out);
 * - `server-template <prefix> <range> <name>:<port> ...` (the replicas found through Docker's DNS) -> one
 *   `server <prefix><i> 127.0.0.1:<replica port> ... port <replica admin port>` per replica (each replica has its own
 *   admin port on loopback; in Docker every replica has 9000 on its own address);
 * - explicit `server <name> <host>:<port> ...` lines (a fixed set) -> the same lines, in order, with the replicas'
 *   loopback addresses and `port <admin port>`.
 * Everything else (balance, cookie, health checks, timeouts, replace-path, ...) is kept verbatim.
 * @param {string} text the shipped file
 * @param {{port: number, statsPort: number, dnsPort: number, replicas: {port: number, adminPort: number}[]}} o
 */
export function haproxyLoopbackConfig(text, { port, statsPort, dnsPort, replicas }) {
  const out = [];
  const found = { binds: new Set(), nameservers: 0, templates: 0, servers: 0 };
  const explicit = [];
  for (const line of text.split('\n')) {
    const code = line.replace(/\s+#.*$/, '');
    if (/^\s*#/.test(line) || code.trim() === '') {
      out.push(line);
      continue;
    }
    let m;
    if ((m = /^(\s*bind\s+)(\S*?):(\d+)(.*)$/.exec(code))) {
      const target = { [HAPROXY_FRONTEND_PORT]: port, [HAPROXY_STATS_PORT]: statsPort }[m[3]];
      if (!target) throw new Error(`haproxy config: unexpected bind port in "${line.trim()}"`);
      found.binds.add(m[3]);
      out.push(`${m[1]}127.0.0.1:${target}${m[4]}`);
    } else if ((m = /^(\s*nameserver\s+\S+\s+)\S+(.*)$/.exec(code))) {
      found.nameservers++;
      out.push(`${m[1]}127.0.0.1:${dnsPort}${m[2]}`);
    } else if ((m = /^(\s*)parse-resolv-conf\s*$/.exec(code))) {
      found.nameservers++;
      out.push(`${m[1]}nameserver dns 127.0.0.1:${dnsPort}`);
    } else if ((m = /^(\s*)server-template\s+(\S+)\s+(\d+)-(\d+)\s+(\S+)(.*)$/.exec(code))) {
      found.templates++;
      const [, indent, prefix, from, to, , rest] = m;
      if (replicas.length > Number(to) - Number(from) + 1) {
        throw new Error(`haproxy config: ${replicas.length} replicas do not fit the template range ${from}-${to}`);
      }
      replicas.forEach((r, i) => {
        out.push(`${indent}server ${prefix}${Number(from) + i} 127.0.0.1:${r.port}${withCheckPort(rest, r.adminPort)}`);
      });
    } else if ((m = /^(\s*)server\s+(\S+)\s+(\S+)(.*)$/.exec(code))) {
      found.servers++;
      explicit.push({ index: out.length, indent: m[1], name: m[2], rest: m[4] });
      out.push(null); // filled below
    } else {
      out.push(line);
    }
  }
  for (const p of [HAPROXY_FRONTEND_PORT, HAPROXY_STATS_PORT]) {
    if (!found.binds.has(p)) throw new Error(`haproxy config: no "bind :${p}" found`);
  }
  if (found.templates + found.servers === 0) throw new Error('haproxy config: no server or server-template line');
  if (found.templates && found.servers) throw new Error('haproxy config: both server-template and server lines');
  if (found.servers) {
    if (replicas.length > explicit.length) {
      throw new Error(`haproxy config: ${replicas.length} replicas but only ${explicit.length} server lines`);
    }
    explicit.forEach((s, i) => {
      const r = replicas[i];
      // A fixed set with fewer replicas running: the extra servers are left out (as if never resolved).
      out[s.index] = r ? `${s.indent}server ${s.name} 127.0.0.1:${r.port}${withCheckPort(s.rest, r.adminPort)}` : `${s.indent}# server ${s.name}: no replica`;
    });
  }
  return out.join('\n');
}

/** Server parameters with the health check sent to the replica's own admin port. */
function withCheckPort(rest, adminPort) {
  const params = rest.replace(/(^|\s)port\s+\S+/g, '');
  return `${params} port ${adminPort}`;
}

/**
 * The shipped nginx configuration with loopback addresses:
 * - `listen 8080` -> `listen 127.0.0.1:<port>`;
 * - the upstream's `server server:3000 <params>` (one name, resolved by nginx at start to one address per replica)
 *   -> one `server 127.0.0.1:<replica port> <params>` per replica;
 * - scratch paths under /tmp/ (pid, temp files: a tmpfs in the container) -> under `dir`.
 */
export function nginxLoopbackConfig(text, { port, replicas, dir }) {
  const out = [];
  let listens = 0;
  let upstreamServers = 0;
  let depth = 0;
  let upstreamDepth = null;
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) || line.trim() === '') {
      out.push(line);
      continue;
    }
    let m;
    let next = line;
    if (/^\s*upstream\s+\S+\s*\{/.test(line)) upstreamDepth = depth + 1;
    if ((m = /^(\s*listen\s+)(?:\S+:)?(\d+)([^;]*;.*)$/.exec(line))) {
      if (m[2] !== '8080') throw new Error(`nginx config: unexpected listen port in "${line.trim()}"`);
      listens++;
      next = `${m[1]}127.0.0.1:${port}${m[3]}`;
    } else if (upstreamDepth !== null && depth === upstreamDepth && (m = /^(\s*)server\s+([^\s;]+)([^;]*);(.*)$/.exec(line))) {
      upstreamServers++;
      next = replicas.map((r) => `${m[1]}server 127.0.0.1:${r.port}${m[3]};${m[4]}`).join('\n');
    } else if (line.includes('/tmp/')) {
      next = line.replaceAll('/tmp/', `${dir}/`);
    }
    for (const ch of line.replace(/#.*$/, '')) {
      if (ch === '{') depth++;
      if (ch === '}') {
        depth--;
        if (upstreamDepth !== null && depth < upstreamDepth) upstreamDepth = null;
      }
    }
    out.push(next);
  }
  if (listens !== 1) throw new Error(`nginx config: expected one "listen 8080", found ${listens}`);
  if (upstreamServers !== 1) throw new Error(`nginx config: expected one upstream server line, found ${upstreamServers}`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

/** Every proxy process started by this file (for last-resort cleanup). */
const allProcs = new Set();

/** PIDs of the direct children of `pid` (HAProxy's workers, nginx's workers), from /proc. */
function childPids(pid) {
  const out = [];
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may contain spaces, so parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return out;
}

function killPid(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

class ProxyProcess {
  /**
   * `stdoutFile`: the child's stdout goes to that file instead of a pipe (nginx opens "/dev/stdout" by name, which
   * fails on a socket, the kind of pipe Node creates); it is shown by describe().
   */
  constructor(label, bin, args, { env, cwd, stdoutFile } = {}) {
    this.label = label;
    this.bin = bin;
    this.args = args;
    this.log = '';
    this.exit = null;
    this.children = new Set();
    this.stdoutFile = stdoutFile;
    const out = stdoutFile ? openSync(stdoutFile, 'a') : 'pipe';
    try {
      this.proc = spawn(bin, args, { env: { ...process.env, ...env }, cwd, stdio: ['ignore', out, 'pipe'] });
    } finally {
      if (stdoutFile) closeSync(out);
    }
    allProcs.add(this);
    for (const s of [this.proc.stdout, this.proc.stderr].filter(Boolean)) {
      s.setEncoding('utf8').on('data', (d) => {
        this.log += d;
        if (this.log.length > 400000) this.log = this.log.slice(-200000);
      });
    }
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        resolve(this.exit);
      });
      this.proc.on('error', (error) => {
        this.exit = { code: null, signal: null, error, at: Date.now() };
        resolve(this.exit);
      });
    });
  }

  get pid() {
    return this.proc.pid;
  }

  get running() {
    return this.exit === null;
  }

  /** Remember the current worker processes (killed with the master). */
  trackChildren() {
    if (this.running) for (const p of childPids(this.pid)) this.children.add(p);
  }

  signal(sig) {
    if (this.running) killPid(this.pid, sig);
  }

  /** `signal` to the master, SIGKILL to it and to every worker it ever had after `timeoutMs`. */
  async stop(signal = 'SIGTERM', timeoutMs = 3000) {
    this.trackChildren();
    this.signal(signal);
    if (this.running) await withTimeout(this.exited, timeoutMs, `${this.label} to exit`).catch(() => {});
    this.killNow();
    await withTimeout(this.exited, 3000, `${this.label} to exit`).catch(() => {});
  }

  killNow() {
    this.trackChildren();
    this.signal('SIGKILL');
    for (const p of this.children) killPid(p, 'SIGKILL');
  }

  describe() {
    const st = this.exit ? `exited ${JSON.stringify({ code: this.exit.code, signal: this.exit.signal })}` : 'running';
    let out = '';
    if (this.stdoutFile) {
      try {
        out = `\n--- stdout (${this.stdoutFile}):\n${tail(readFileSync(this.stdoutFile, 'utf8'))}`;
      } catch {
        /* removed */
      }
    }
    return `--- ${this.label} (pid ${this.pid}, ${st}) ${this.bin} ${this.args.join(' ')}\n${tail(this.log)}${out}\n--- end ${this.label}`;
  }
}

/** Scratch directories of the proxies (configuration, nginx prefix), removed at exit whatever happened. */
const allDirs = new Set();

function scratchDir(prefix) {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  allDirs.add(dir);
  return dir;
}

function killAllProxies() {
  for (const p of allProcs) {
    try {
      p.killNow();
    } catch {
      /* ignore */
    }
  }
  for (const d of allDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', killAllProxies);
// Interrupted (Ctrl-C, a CI job cancelled): exit through process.exit so that every library's 'exit' hook runs and
// kills its processes too (replicas, Redis), instead of dying by the signal with children left behind.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAllProxies();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

/** A row of HAProxy's CSV statistics: {pxname, svname, status, check_status, scur, ...}. */
export async function haproxyStats(statsUrl) {
  const res = await httpRequest(`${statsUrl};csv;norefresh`, { timeout: 2000 });
  if (res.status !== 200) throw new Error(`HAProxy stats answered ${res.status}`);
  const [header, ...rows] = res.text.trim().split('\n');
  const cols = header.replace(/^# /, '').split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
}

/** The hard limit of open files of this process (from /proc/self/limits), or Infinity. */
function fdHardLimit() {
  try {
    const m = /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : Infinity;
  } catch {
    return Infinity;
  }
}

/**
 * HAProxy needs about 2 x `maxconn` file descriptors and refuses to start when it cannot raise its limit that high.
 * When this host's hard limit is below what the shipped `maxconn` needs (containers get a higher one), lower the
 * connection limit from the command line (`-n`, which takes precedence over the file) instead of editing the file.
 */
function maxconnArgs(config) {
  const maxconn = Number(/^\s*maxconn\s+(\d+)/m.exec(config)?.[1] ?? 0);
  const limit = fdHardLimit();
  if (!maxconn || 2 * maxconn + 200 <= limit) return [];
  return ['-n', String(Math.max(256, Math.floor((limit - 200) / 2)))];
}

export class HaproxyHandle {
  constructor({ file, dir, port, statsPort, dnsPort, env }) {
    this.file = file;
    this.dir = dir;
    this.port = port;
    this.statsPort = statsPort;
    this.dnsPort = dnsPort;
    this.env = env;
    this.cfgPath = path.join(dir, 'haproxy.cfg');
    this.url = `http://127.0.0.1:${port}`;
    this.statsUrl = `http://127.0.0.1:${statsPort}/stats`;
    this.generation = 0;
  }

  /** Write the loopback configuration for `replicas` (re-read from the shipped file every time). */
  writeConfig(replicas) {
    this.replicas = replicas;
    this.config = haproxyLoopbackConfig(readFileSync(this.file, 'utf8'), {
      port: this.port,
      statsPort: this.statsPort,
      dnsPort: this.dnsPort,
      replicas,
    });
    writeFileSync(this.cfgPath, this.config);
  }

  async start(replicas) {
    this.writeConfig(replicas);
    // Master-worker mode in the foreground: the master is this process's child; a reload (SIGUSR2) starts a new
    // worker that takes the listening sockets over from the old one (no refused connection), and the old worker
    // finishes its connections (WebSocket tunnels) and exits, as `systemctl reload haproxy` does.
    this.proc = new ProxyProcess(
      `haproxy ${path.basename(this.file)}`,
      HAPROXY_BIN,
      ['-W', '-db', ...maxconnArgs(this.config), '-f', this.cfgPath],
      { env: this.env },
    );
    await this.waitServers(replicas.length, 'UP', 15000);
    this.proc.trackChildren();
    return this;
  }

  /**
   * Scale: regenerate the configuration for `replicas` and reload HAProxy (SIGUSR2 to the master). Resolves when the
   * new worker answers with the new server list and every listed server is UP.
   */
  async reload(replicas) {
    this.proc.trackChildren();
    const before = this.log.length;
    this.writeConfig(replicas);
    this.proc.signal('SIGUSR2');
    await waitUntil(() => /Loading success|Reexecuting Master/i.test(this.log.slice(before)), {
      timeout: 10000,
      interval: 50,
      what: 'the HAProxy master to reload',
    });
    await this.waitServers(replicas.length, 'UP', 15000);
    this.proc.trackChildren();
    this.generation++;
  }

  /** Status rows of the backend's servers: [{svname, status, ...}]. */
  async servers() {
    const rows = await haproxyStats(this.statsUrl);
    return rows.filter((r) => r.pxname === 'sio_servers' && !['FRONTEND', 'BACKEND'].includes(r.svname));
  }

  /** The HAProxy server name of a replica in the current configuration (`srv<i>`, or the fixed set's names). */
  serverName(replica) {
    const i = this.replicas.indexOf(replica);
    if (i < 0) throw new Error(`replica ${replica.nodeId} is not in the HAProxy configuration`);
    const names = [...this.config.matchAll(/^\s*server\s+(\S+)\s+127\.0\.0\.1:/gm)].map((m) => m[1]);
    return names[i];
  }

  /** Wait until exactly `count` servers are listed and all have `status` ("UP": fully up, checked). */
  async waitServers(count, status = 'UP', timeout = 10000) {
    let last;
    await waitUntil(
      async () => {
        if (!this.proc.running) throw new Error(`haproxy exited\n${this.proc.describe()}`);
        last = await this.servers();
        return last.length === count && last.every((s) => s.status === status && s.check_status !== 'INI');
      },
      { timeout, interval: 100, what: `${count} HAProxy servers ${status} (last: ${JSON.stringify(last?.map((s) => [s.svname, s.status]))})` },
    );
  }

  /** Wait until server `name` has exactly `status` ("UP", "DOWN", "MAINT"); resolves with the moment it was seen. */
  async waitServer(name, status, timeout = 10000) {
    let last;
    await waitUntil(
      async () => {
        last = (await this.servers()).find((s) => s.svname === name);
        return last && last.status === status;
      },
      { timeout, interval: 100, what: `HAProxy server ${name} ${status} (last: ${last?.status} ${last?.check_status})` },
    );
    return Date.now();
  }

  get log() {
    return this.proc?.log ?? '';
  }

  describe() {
    return `${this.proc?.describe() ?? ''}\n--- generated ${this.cfgPath} (from ${path.relative(REPO_ROOT, this.file)}):\n${this.config}`;
  }

  async kill() {
    await this.proc?.stop('SIGTERM', 2000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Start HAProxy with the loopback version of a shipped configuration in front of `replicas`
 * ([{port, adminPort}]); resolves once every server is UP.
 */
export async function startHaproxy({ file = SHIPPED.haproxy, replicas, env = {} }) {
  requireBin('HAPROXY_BIN', 'haproxy', 'haproxy');
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = scratchDir('e2e-haproxy-');
    const h = new HaproxyHandle({
      file,
      dir,
      port: await getFreePort(),
      statsPort: await getFreePort(),
      dnsPort: await getFreePort(),
      env: { HAPROXY_COOKIE_KEY: 'loopback-test-cookie-key', ...env },
    });
    try {
      return await h.start(replicas);
    } catch (err) {
      lastErr = new Error(`${err.message}\n${h.describe()}`);
      await h.kill();
      if (!/cannot bind|Address already in use/i.test(h.log)) break; // retry only a lost race for a port
    }
  }
  throw lastErr;
}

export class NginxHandle {
  constructor({ file, dir, port }) {
    this.file = file;
    this.dir = dir;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.cfgPath = path.join(dir, 'nginx.conf');
  }

  async start(replicas) {
    this.replicas = replicas;
    this.config = nginxLoopbackConfig(readFileSync(this.file, 'utf8'), { port: this.port, replicas, dir: this.dir });
    writeFileSync(this.cfgPath, this.config);
    this.proc = new ProxyProcess('nginx', NGINX_BIN, ['-p', `${this.dir}/`, '-c', this.cfgPath, '-g', 'daemon off;'], {
      stdoutFile: path.join(this.dir, 'stdout.log'),
    });
    const health = /location\s*=\s*(\/\S+)\s*\{/.exec(this.config)?.[1] ?? '/';
    await waitUntil(
      async () => {
        if (!this.proc.running) throw new Error('nginx exited');
        return (await httpRequest(`${this.url}${health}`, { timeout: 1000 })).status === 200;
      },
      { timeout: 10000, interval: 50, what: `nginx to answer ${health}` },
    ).catch((e) => {
      throw new Error(`${e.message}\n${this.describe()}`);
    });
    this.proc.trackChildren();
    return this;
  }

  get log() {
    return this.proc?.log ?? '';
  }

  describe() {
    return `${this.proc?.describe() ?? ''}\n--- generated ${this.cfgPath} (from ${path.relative(REPO_ROOT, this.file)}):\n${this.config}`;
  }

  async kill() {
    // SIGTERM: nginx's fast shutdown (master and workers); SIGKILL to all of them if that takes too long.
    await this.proc?.stop('SIGTERM', 3000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Start nginx (foreground, own prefix) with the loopback version of the shipped nginx.conf. */
export async function startNginx({ file = SHIPPED.nginx, replicas }) {
  requireBin('NGINX_BIN', 'nginx', 'nginx-light (or nginx)');
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = scratchDir('e2e-nginx-');
    // nginx's workers run as `nobody` when the master is root: they must reach the temp directories.
    chmodSync(dir, 0o755);
    const h = new NginxHandle({ file, dir, port: await getFreePort() });
    try {
      return await h.start(replicas);
    } catch (err) {
      lastErr = err;
      await h.kill();
      if (!/Address already in use/i.test(h.log)) break;
    }
  }
  throw lastErr;
}

// ---------------------------------------------------------------------------------------------------------------
// Topology: Redis + replicas + proxies + clients, all owned and cleaned up together.

export class Topology {
  constructor(name) {
    this.name = name;
    this.redis = null;
    this.replicas = []; // every replica handle ever started (ServerHandle + nodeId)
    this.proxies = [];
    this.clients = [];
  }

  /** Start a fresh Redis and `count` replicas named `<prefix>-1..count` (+ `args`); wait until all subscribed. */
  async start({ count = 3, prefix, args = [], mode = 'classic' }) {
    this.prefix = prefix;
    this.args = args;
    this.mode = mode;
    this.redis = await startRedis();
    const started = await Promise.all(Array.from({ length: count }, (_, i) => this.startReplica(`${prefix}-${i + 1}`)));
    this.replicas = started; // in node-id order, whichever started first
    await this.waitNodes(count);
    return started;
  }

  /** Start one more replica (or a replacement on fixed ports); resolves with its handle. */
  async startReplica(nodeId, { port, adminPort, args = this.args } = {}) {
    const r = await startServer({
      port,
      adminPort,
      args: ['--redis-url', this.redis.url, '--node-id', nodeId, '--drain-timeout', '3000', '--cookie', 'io', ...args],
    });
    r.nodeId = nodeId;
    r.extraArgs = args;
    this.replicas.push(r);
    return r;
  }

  /** SIGTERM a replica, wait for its exit, start it again on the same ports with the same node id. */
  async restartReplica(r) {
    const exit = await r.stop('SIGTERM', 10000);
    const again = await this.startReplica(r.nodeId, { port: r.port, adminPort: r.adminPort, args: r.extraArgs });
    return { exit, replica: again };
  }

  get live() {
    return this.replicas.filter((r) => r.running);
  }

  byNode(nodeId) {
    return this.live.find((r) => r.nodeId === nodeId);
  }

  /**
   * Wait until `count` replicas have subscribed to the cluster's channels in Redis and every running replica reports
   * both of its Redis connections up (`sio_adapter_connected 1`; the publisher may connect after the subscriber).
   */
  async waitNodes(count, timeout = 10000) {
    await waitServerCount(this.redis, count, { timeout, mode: this.mode ?? 'classic' });
    for (const r of this.live) {
      await waitUntil(async () => (await metricValue(r.adminUrl, 'sio_adapter_connected')) === 1, {
        timeout,
        interval: 50,
        what: `sio_adapter_connected 1 on ${r.nodeId}`,
      });
    }
  }

  /** {nodeId: sio_connected_clients} of the running replicas. */
  async connectedCounts() {
    const out = {};
    for (const r of this.live) out[r.nodeId] = await metricValue(r.adminUrl, 'sio_connected_clients');
    return out;
  }

  async haproxy(o) {
    const h = await startHaproxy(o);
    this.proxies.push(h);
    return h;
  }

  async nginx(o) {
    const h = await startNginx(o);
    this.proxies.push(h);
    return h;
  }

  /** describe() with the adapter and connection metrics of every running replica, for a failed test. */
  async report() {
    const lines = [];
    for (const r of this.live) {
      try {
        const { text } = await httpRequest(`${r.adminUrl}/metrics`, { timeout: 1000 });
        const picked = text.split('\n').filter((l) => /^sio_(adapter_\w+|connected_clients|connections_total|disconnections_total)/.test(l));
        lines.push(`--- metrics of ${r.nodeId}: ${picked.join(' | ')}`);
      } catch (e) {
        lines.push(`--- metrics of ${r.nodeId}: ${e.message}`);
      }
    }
    return `${this.describe()}\n${lines.join('\n')}`;
  }

  /** Logs of every process, for a failed test. */
  describe() {
    return [
      `=== topology ${this.name} ===`,
      ...this.proxies.map((p) => p.describe()),
      ...this.replicas.map((r) => r.describe()),
      this.redis?.describe() ?? '',
    ].join('\n');
  }

  async destroy() {
    for (const c of this.clients) {
      try {
        c.io?.reconnection?.(false);
        c.close();
      } catch {
        /* ignore */
      }
    }
    await Promise.all(this.proxies.map((p) => p.kill().catch(() => {})));
    await Promise.all(this.replicas.map((r) => r.kill().catch(() => {})));
    await this.redis?.destroy().catch(() => {});
  }
}

/**
 * An http.Agent that reports the headers of every response it carries (normal responses and the 101 of a WebSocket
 * upgrade), optionally from a given loopback source address. socket.io-client passes `agent` to both of its Node
 * transports (xmlhttprequest-ssl for polling, ws for WebSocket).
 */
export class TapAgent extends http.Agent {
  constructor({ localAddress, onHeaders }) {
    super(localAddress ? { localAddress } : {});
    this.onHeaders = onHeaders;
  }

  addRequest(req, options) {
    req.once('response', (res) => this.onHeaders(res.headers, res.statusCode));
    req.once('upgrade', (res) => this.onHeaders(res.headers, res.statusCode));
    return super.addRequest(req, options);
  }
}

/**
 * A socket.io-client socket through a proxy. Options: `transports`, `path`, `localAddress` (source address),
 * `name`, `room` (joined again on every (re)connection: `c.joined` is the ack of the current connection), anything
 * else goes to io() (reconnection settings). `withCredentials: true` so that Node keeps the proxy's cookies.
 * `c.node` is the node id of the replica that accepted the current session, read from the replicas' own `io`
 * cookie (`--cookie io`; HAProxy's prefix mode shows it as `srvN~<node id>`); `c.cookies` holds every cookie seen.
 */
export function proxiedClient(topo, url, o = {}) {
  const { localAddress, name, room, ...rest } = o;
  const cookies = {};
  const nodes = [];
  const agent = new TapAgent({
    localAddress,
    onHeaders: (headers) => {
      for (const sc of [].concat(headers['set-cookie'] ?? [])) {
        const [pair] = sc.split(';');
        const eq = pair.indexOf('=');
        const k = pair.slice(0, eq).trim();
        const v = pair.slice(eq + 1).trim();
        cookies[k] = v;
        if (k === 'io') nodes.push(v.slice(v.lastIndexOf('~') + 1));
      }
    },
  });
  const c = createClient(url, { withCredentials: true, agent, auth: name ? { name } : undefined, ...rest });
  c.agent = agent;
  c.cookies = cookies;
  c.nodes = nodes;
  Object.defineProperty(c, 'node', { get: () => nodes[nodes.length - 1] });
  c.label = name ?? '?';
  c.rec = new Recorder(c, ['message', 'connect', 'disconnect', 'connect_error']);
  if (room) {
    c.joinRetries = 0;
    c.on('connect', () => {
      c.joined = joinRetrying(c, room);
    });
  }
  topo.clients.push(c);
  return c;
}

/**
 * `join`, again while it answers `unavailable`, as an application following the contract does: a replica that has
 * just started accepts clients before Redis has confirmed its subscriptions (a few hundred ms), and a join there
 * cannot check the cluster yet. `c.joinRetries` counts the retries.
 */
async function joinRetrying(c, room) {
  for (let i = 0; ; i++) {
    const res = await ack(c, 'join', room).catch((error) => ({ ok: false, error: String(error) }));
    if (res?.error !== 'unavailable' || i >= 30 || !c.connected) return res;
    c.joinRetries++;
    await sleep(100); // pacing a bounded retry loop, not synchronisation
  }
}

/** Every client's disconnect records since `marks` (from `marks = snapshotDisconnects(clients)`). */
export function disconnectsSince(clients, marks) {
  return clients.flatMap((c) => c.disconnects.slice(marks.get(c) ?? 0).map((d) => ({ client: c.label, node: c.node, reason: d.reason })));
}

export function snapshotDisconnects(clients) {
  return new Map(clients.map((c) => [c, c.disconnects.length]));
}

/** Group clients by the node id that served them: {nodeId: [client, ...]}. */
export function byNode(clients) {
  const out = {};
  for (const c of clients) (out[c.node] ??= []).push(c);
  return out;
}

let tagSeq = 0;
/**
 * `sender` sends a room message; every client of `receivers` must get it. Resolves with the message id.
 */
export async function deliver(sender, room, receivers, timeout = 5000) {
  const tag = `m-${process.pid}-${++tagSeq}`;
  const res = await ack(sender, 'message', { room, data: { tag, from: sender.label } });
  if (!res?.ok) throw new Error(`message from ${sender.label} not acknowledged: ${JSON.stringify(res)}`);
  await Promise.all(
    receivers
      .filter((r) => r !== sender)
      .map((r) =>
        r.rec.wait('message', (m) => m?.data?.tag === tag, timeout).catch((e) => {
          throw new Error(`${r.label} (node ${r.node}, connected=${r.connected}) did not receive ${sender.label}'s (node ${sender.node}) message: ${e.message}`);
        }),
      ),
  );
  return res.id;
}

/**
 * Connect clients one after the other (`make(i)` -> proxiedClient options) until every node of `nodes` serves at
 * least `perNode` of them (and at least `min` in all); at most `max` clients. Resolves with the clients, connected
 * and, when they have a room, joined.
 */
export async function connectSpread(topo, url, { nodes, perNode = 1, min = 0, max = 24, make }) {
  const clients = [];
  const enough = () =>
    clients.length >= min && nodes.every((n) => clients.filter((c) => c.node === n).length >= perNode);
  for (let i = 0; i < max && !enough(); i++) {
    const c = proxiedClient(topo, url, make(i));
    await waitConnected(c, 5000);
    if (c.joined) {
      const j = await c.joined;
      if (!j?.ok) throw new Error(`${c.label}: join failed: ${JSON.stringify(j)}`);
    }
    clients.push(c);
  }
  if (!enough()) {
    const seen = clients.map((c) => c.node);
    throw new Error(`${clients.length} clients did not cover ${nodes.join(', ')} (${perNode} each): ${JSON.stringify(seen)}`);
  }
  return clients;
}

/**
 * Stickiness: every client makes `rounds` request/response round trips (each one a POST and a long-poll GET with
 * polling); resolves with what changed, if anything ([] when every client kept its Engine.IO session, its transport
 * and its replica, and saw no disconnect).
 */
export async function roundTrips(clients, rounds) {
  const before = clients.map((c) => ({ c, sid: c.io.engine?.id, node: c.node, transport: c.io.engine?.transport?.name, d: c.disconnects.length }));
  await Promise.all(
    clients.map(async (c) => {
      for (let i = 0; i < rounds; i++) {
        const res = await ack(c, 'rooms');
        if (!res?.ok) throw new Error(`${c.label}: rooms ack ${JSON.stringify(res)}`);
      }
    }),
  );
  const changed = [];
  for (const b of before) {
    const now = { sid: b.c.io.engine?.id, node: b.c.node, transport: b.c.io.engine?.transport?.name, d: b.c.disconnects.length };
    if (now.sid !== b.sid || now.node !== b.node || now.transport !== b.transport || now.d !== b.d) {
      changed.push({ client: b.c.label, before: { sid: b.sid, node: b.node, transport: b.transport }, now, disconnects: b.c.disconnects });
    }
  }
  return changed;
}
