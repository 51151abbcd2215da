// What the Admin UI costs the event path (issue 18), measured: one Rust replica on a Redis, pinned to core 0 with
// one tokio worker; 20 light clients in one room on core 1, each sending `message` in a closed loop (the next
// after the ack), so every message is one event received and 19 events sent. Runs the same load with the UI off,
// in production mode, and in development mode with one UI connected (every event becomes a report broadcast to
// the admin namespace through Redis), and prints messages/s and the server's CPU time per message.
//
//   node client-test/bench/admin-ui-cost.mjs [--bin target/release/server] [--seconds 8] [--rounds 3]
//
// Not part of the test command (about 2 minutes); the README's numbers come from it.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { adminArgs, uiClient } from '../lib/admin-ui.mjs';
import { waitAdapterConnected } from '../lib/cluster.mjs';
import { createClient, waitConnected } from '../lib/client.mjs';
import { startRedis } from '../lib/redis.mjs';
import { REPO_ROOT, startServer } from '../lib/server.mjs';
import { LightClient } from '../lib/swarm.mjs';
import { sleep } from '../lib/wait.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const BIN = path.resolve(arg('--bin', path.join(REPO_ROOT, 'target', 'release', 'server')));
const SECONDS = Number(arg('--seconds', '8'));
const CLIENTS = 20;
process.env.SERVER_BIN = BIN;

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** What uiClient needs of a test scope: making a client (closed by run() itself). */
const scope = { client: (url, opts) => createClient(url, opts) };

async function run(label, extra, withUi) {
  const redis = await startRedis();
  const server = await startServer({
    args: ['--redis-url', redis.url, '--rate-limit', '1000000', '--rate-burst', '1000000', '--presence', 'off', ...extra],
    env: { TOKIO_WORKER_THREADS: '1', RUST_LOG: 'warn' },
  });
  try {
    await waitAdapterConnected(server);
    // The server on core 0; this process (the load) on core 1.
    execFileSync('taskset', ['-acp', '0', String(server.proc.pid)], { stdio: 'ignore' });
    execFileSync('taskset', ['-acp', '1', String(process.pid)], { stdio: 'ignore' });
    let ui;
    let uiEvents = 0;
    if (withUi) {
      ui = uiClient(scope, server.url);
      ui.onAny(() => uiEvents++);
      await waitConnected(ui);
    }
    const clients = Array.from({ length: CLIENTS }, () => new LightClient(server.url, { auth: { name: 'b' } }));
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(clients.map((c) => c.emitWithAck('join', 'bench')));
    let sent = 0;
    let running = true;
    const loops = clients.map(async (c) => {
      while (running) {
        await c.emitWithAck('message', { room: 'bench', data: { text: 'hello admin ui', n: sent } });
        sent++;
      }
    });
    await sleep(1000); // warm-up (pacing a measurement window, not synchronisation)
    const [m0, c0, u0] = [sent, cpuSeconds(server.proc.pid), uiEvents];
    const t0 = process.hrtime.bigint();
    await sleep(SECONDS * 1000);
    const [m1, c1, u1] = [sent, cpuSeconds(server.proc.pid), uiEvents];
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    running = false;
    await Promise.allSettled(loops);
    for (const c of clients) c.close();
    ui?.close();
    const rate = (m1 - m0) / secs;
    const cpuPerMsg = ((c1 - c0) / (m1 - m0)) * 1e6;
    const result = { label, messagesPerSec: Math.round(rate), deliveriesPerSec: Math.round(rate * (CLIENTS - 1)), serverCpuUsPerMessage: Math.round(cpuPerMsg), serverCpuShare: +((c1 - c0) / secs).toFixed(2), uiEventsPerSec: Math.round((u1 - u0) / secs) };
    console.log(JSON.stringify(result));
    return result;
  } finally {
    await server.kill();
    await redis.destroy();
  }
}

// Interleaved rounds (off, production, development, off, ...), the median of each mode: the machine may be shared.
const ROUNDS = Number(arg('--rounds', '3'));
const modes = [
  ['off', [], false],
  ['production, 1 UI', adminArgs({ mode: 'production' }), true],
  ['development, 1 UI', adminArgs({ mode: 'development' }), true],
];
const runs = new Map(modes.map(([label]) => [label, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [label, extra, withUi] of modes) runs.get(label).push(await run(label, extra, withUi));
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(runs.get('off').map((r) => r.serverCpuUsPerMessage));
console.log(`\n${ROUNDS} rounds, medians:\n`);
console.log('| admin UI | messages/s | server CPU per message | vs off | UI events/s |\n|---|---|---|---|---|');
for (const [label, rs] of runs) {
  const cpu = median(rs.map((r) => r.serverCpuUsPerMessage));
  const rate = median(rs.map((r) => r.messagesPerSec));
  const ui = median(rs.map((r) => r.uiEventsPerSec));
  console.log(`| ${label} | ${rate} | ${cpu} µs | ${(cpu / base).toFixed(2)}x | ${ui} |`);
}
process.exit(0);
