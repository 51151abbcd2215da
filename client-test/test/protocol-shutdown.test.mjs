// Server shutdown, differential: what every kind of connection sees when the server closes them all (Node's
// io.close(), our SIGTERM drain): no socket.io DISCONNECT, a WebSocket close frame without `1`, a pending long-poll
// answered with the close packet. Each run needs its own servers, so this file starts a fresh pair per target.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectRoot, headStart } from '../lib/protocol-steps.mjs';
import { Conns, labelFor, startTargets, stopTargets } from '../lib/protocol-targets.mjs';
import { withTimeout } from '../lib/wait.mjs';

const KINDS = [
  ['websocket', 4],
  ['websocket', 3],
  ['polling', 4],
  ['polling', 3],
];

/** Open one connection of each kind (namespace "/" connected), shut the server down, describe what each saw. */
async function shutdownScenario(kind) {
  const pair = await startTargets();
  const conns = new Conns();
  try {
    const target = pair[kind];
    const opened = [];
    for (const [transport, eio] of KINDS) {
      const c = await conns.open(target, { transport, eio, loop: false });
      await connectRoot(c, eio);
      // Polling: one long-poll pending on the server (nothing answers it before the shutdown: pingInterval 10 s).
      const pending = c.ws ? null : c.get({ timeout: 5000 });
      opened.push({ label: `${transport} v${eio}`, c, from: c.messages.length, pending });
    }
    await headStart();
    const mark = await target.reasonsMark();
    if (kind === 'node') await target.ref.close();
    else await target.handle.stop('SIGTERM');
    const seen = {};
    for (const { label, c, from, pending } of opened) {
      if (pending) {
        const res = await pending;
        seen[label] = { status: res.status ?? res.error, packets: res.packets };
      } else {
        const end = await withTimeout(c.closed, 5000, `${label} to be closed`);
        seen[label] = { code: end.code, packets: c.messages.slice(from).map((m) => m.data).filter((d) => d !== '2') };
      }
    }
    return { seen, reasons: kind === 'node' ? await target.reasonsSince(mark).catch(() => null) : null };
  } finally {
    conns.abortAll();
    await stopTargets(pair);
  }
}

let nodeSeen;

test('shutdown closes every connection [node]', { timeout: 30000 }, async () => {
  const { seen, reasons } = await shutdownScenario('node');
  nodeSeen = seen;
  assert.deepEqual(reasons, Array(4).fill(labelFor('server shutting down')));
  assert.deepEqual(seen, {
    'websocket v4': { code: 1005, packets: [] },
    'websocket v3': { code: 1005, packets: [] },
    'polling v4': { status: 200, packets: ['1'] },
    'polling v3': { status: 200, packets: ['1'] },
  });
});

// Our reasons are not compared: the metrics go away with the process.
test('shutdown closes every connection [ours]', { timeout: 30000 }, async () => {
  const { seen } = await shutdownScenario('ours');
  assert.deepEqual(seen, nodeSeen ?? (await shutdownScenario('node')).seen);
});
