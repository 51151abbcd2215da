// Spawning and stopping the real server binary.
//
// startServer({args, env}) picks free ports for --port and --admin-port, binds to 127.0.0.1, waits until the admin
// /health answers 200 and returns a handle. Every spawned process is remembered so that a test-file process that
// dies still kills its children (see the 'exit' hook at the bottom), and so that logs can be dumped on failure.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { httpRequest } from './http.mjs';
import { sleep } from './wait.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Repository root (client-test/..). */
export const REPO_ROOT = path.resolve(here, '..', '..');
/** The binary under test. */
export const SERVER_BIN = process.env.SERVER_BIN || path.join(REPO_ROOT, 'target', 'debug', 'server');

/** Every server handle ever started by this process (for log dumps and last-resort cleanup). */
export const allServers = new Set();

function assertBinary() {
  if (!existsSync(SERVER_BIN)) {
    throw new Error(
      `server binary not found at ${SERVER_BIN}: build it with \`cargo build -p server\` from ${REPO_ROOT} ` +
        'or point SERVER_BIN at it',
    );
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function getFreePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function tail(s, n = 4000) {
  return s.length > n ? `...[${s.length - n} chars cut]...\n${s.slice(-n)}` : s;
}

class ServerHandle {
  constructor({ proc, port, adminPort, args, env, label }) {
    this.proc = proc;
    this.port = port;
    this.adminPort = adminPort;
    this.args = args;
    this.env = env;
    this.label = label;
    this.url = `http://127.0.0.1:${port}`;
    this.adminUrl = `http://127.0.0.1:${adminPort}`;
    this.startedAt = Date.now();
    this._stdout = '';
    this._stderr = '';
    this.exit = null; // {code, signal, at}
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      this._stdout += d;
    });
    proc.stderr.on('data', (d) => {
      this._stderr += d;
    });
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        resolve(this.exit);
      });
      proc.on('error', (err) => {
        this.spawnError = err;
        this.exit = { code: null, signal: null, at: Date.now(), error: err };
        resolve(this.exit);
      });
    });
  }

  get stdout() {
    return this._stdout;
  }

  get stderr() {
    return this._stderr;
  }

  get running() {
    return this.exit === null;
  }

  /** Wait (bounded) for the process to exit; resolves to {code, signal, at} or null on timeout. */
  async waitExit(timeoutMs) {
    let timer;
    const t = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Send `signal`; wait up to timeoutMs for exit, then SIGKILL. Resolves to the exit info. */
  async stop(signal = 'SIGTERM', timeoutMs = 15000) {
    if (!this.running) return this.exit;
    try {
      this.proc.kill(signal);
    } catch {
      /* already gone */
    }
    const res = await this.waitExit(timeoutMs);
    if (res) return res;
    this.proc.kill('SIGKILL');
    return this.exited;
  }

  /** Immediate kill (cleanup path). */
  async kill() {
    if (!this.running) return this.exit;
    try {
      this.proc.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    return this.exited;
  }

  /** Human readable diagnostics. */
  describe() {
    const exit = this.exit ? `exited code=${this.exit.code} signal=${this.exit.signal}` : 'running';
    return (
      `--- server ${this.label} (pid ${this.proc.pid}, ${exit}) ${SERVER_BIN} ${this.args.join(' ')}\n` +
      `--- stdout:\n${tail(this._stdout)}\n--- stderr:\n${tail(this._stderr)}\n--- end server ${this.label}`
    );
  }
}

let counter = 0;

/**
 * Start the server and wait until /health answers 200.
 * @param {object} o
 * @param {string[]} [o.args] extra CLI flags
 * @param {object} [o.env] extra environment
 * @param {number} [o.port] fixed main port (default: a free one)
 * @param {number} [o.adminPort] fixed admin port (default: a free one)
 * @param {boolean} [o.portsViaEnv] give host/ports through HOST/PORT/ADMIN_PORT instead of flags
 * @param {number} [o.nofile] run the binary with this file descriptor limit (soft and hard, `ulimit -n`)
 * @param {number} [o.readyTimeoutMs]
 */
export async function startServer(o = {}) {
  assertBinary();
  const attempts = o.port ? 1 : 3;
  let lastErr;
  for (let i = 0; i < attempts; i++) {
    try {
      return await startOnce(o);
    } catch (err) {
      lastErr = err;
      // Retry only a lost race for a free port.
      if (!/in use|AddrInUse|address already/i.test(String(err.message))) throw err;
    }
  }
  throw lastErr;
}

async function startOnce(o) {
  const port = o.port ?? (await getFreePort());
  let adminPort = o.adminPort ?? (await getFreePort());
  while (adminPort === port) adminPort = await getFreePort();
  const userArgs = o.args ?? [];
  const env = { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'info', ...(o.env ?? {}) };
  let args;
  if (o.portsViaEnv) {
    args = [...userArgs];
    Object.assign(env, { HOST: '127.0.0.1', PORT: String(port), ADMIN_PORT: String(adminPort) });
  } else {
    args = ['--host', '127.0.0.1', '--port', String(port), '--admin-port', String(adminPort), ...userArgs];
  }
  // With a descriptor limit, `sh` sets it and execs the binary, so the handle's pid is still the server's.
  const proc = o.nofile
    ? spawn('sh', ['-c', `ulimit -n ${Number(o.nofile)} && exec "$0" "$@"`, SERVER_BIN, ...args], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(SERVER_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = new ServerHandle({ proc, port, adminPort, args, env, label: `#${++counter}` });
  allServers.add(handle);

  const deadline = Date.now() + (o.readyTimeoutMs ?? 20000);
  for (;;) {
    if (!handle.running) {
      throw new Error(`server exited before becoming healthy\n${handle.describe()}`);
    }
    try {
      const r = await httpRequest(`${handle.adminUrl}/health`, { timeout: 1000 });
      if (r.status === 200) return handle;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await handle.kill();
      throw new Error(`server did not answer GET /health with 200 in time\n${handle.describe()}`);
    }
    await sleep(50); // polling a readiness endpoint: there is no event to await
  }
}

/**
 * Run the binary as a one-shot command (flag validation, `healthcheck`), bounded in time.
 * Resolves to {code, signal, stdout, stderr, timedOut}.
 */
export function runBinary(args, { env = {}, timeoutMs = 10000 } = {}) {
  assertBinary();
  return new Promise((resolve) => {
    const proc = spawn(SERVER_BIN, args, {
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
    });
    proc.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
    proc.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err), timedOut });
    });
  });
}

// Last resort: never leave a server behind when this test-file process goes away.
process.on('exit', () => {
  for (const s of allServers) {
    if (s.running) {
      try {
        s.proc.kill('SIGKILL');
      } catch {
        /* ignore */
      }
    }
  }
});
