// The protocol referee: a real Node socket.io 4.8 / engine.io 6 server configured like ours (path, heartbeat,
// maxPayload, EIO3), so the raw protocol tests can compare every packet our binary writes with what Node writes.
//
// Namespace "/" answers the subset of the chat contract (README "Client contract") whose answers are deterministic,
// the way our server answers them: `join` -> {ok, room}, `rooms` -> {ok, rooms}, `members` -> {ok, room, members:
// [{id, name}]}, `direct` {to, data} -> the target
// gets `direct` {id, from, data, ts} and the sender {ok, id, ts}, any other event -> {ok: false, error:
// "bad_request", message}; its connect middleware refuses a malformed auth with "bad_request" like ours.
// Namespace "/extra" exercises what the contract has no event for: a middleware refusing with {message, data},
// `echo` (acks with its arguments, binary included), `kick` (server namespace disconnect), `close` (forced close
// of the whole connection) and `ask` (emitWithAck to the client, whose answer comes back in the ack).
//
// startReference() runs it in a child process, like our binary: its timers and event loop stay out of the test
// process (timing measurements, and engine.io's un-unref'd 30 s close timers that would keep a test file alive),
// and the test asks it over IPC for the disconnect reasons it saw and for server-initiated emits. Run it as a
// script (`node lib/reference-server.mjs --ping-interval 300 ...`) to explore the protocol by hand.

import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Server } from 'socket.io';

const SELF = fileURLToPath(import.meta.url);

/** The extra namespace the reference server registers. */
export const EXTRA_NSP = '/extra';

function user(socket) {
  return { id: socket.id, name: socket.data.name ?? null };
}

function validName(n) {
  return n === undefined || (typeof n === 'string' && [...n].length >= 1 && [...n].length <= 64);
}

function installRoot(nsp) {
  nsp.use((socket, next) => {
    const auth = socket.handshake.auth;
    if (auth === null || typeof auth !== 'object' || Array.isArray(auth) || !validName(auth.name)) {
      return next(new Error('bad_request'));
    }
    socket.data.name = auth.name ?? null;
    return next();
  });
  nsp.on('connection', (socket) => {
    socket.onAny((event, ...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      const data = args[0];
      let answer;
      if (event === 'join' && typeof data === 'string') {
        socket.join(data);
        answer = { ok: true, room: data };
      } else if (event === 'members' && typeof data === 'string') {
        const members = [...(nsp.adapter.rooms.get(data) ?? [])].map((id) => user(nsp.sockets.get(id)));
        answer = { ok: true, room: data, members };
      } else if (event === 'rooms') {
        answer = { ok: true, rooms: [...socket.rooms].filter((r) => r !== socket.id) };
      } else if (event === 'direct' && data && typeof data.to === 'string') {
        const msg = { id: randomUUID(), from: user(socket), data: data.data ?? null, ts: Date.now() };
        nsp.to(data.to).emit('direct', msg);
        answer = { ok: true, id: msg.id, ts: msg.ts };
      } else {
        answer = { ok: false, error: 'bad_request', message: `unknown event \`${event}\`` };
      }
      if (ack) ack(answer);
      else if (!answer.ok) socket.emit('error', { error: answer.error, message: answer.message, event });
    });
  });
}

function installExtra(nsp) {
  nsp.use((socket, next) => {
    const auth = socket.handshake.auth ?? {};
    if (auth.refuse) {
      const err = new Error(String(auth.refuse));
      err.data = { why: 'refused by middleware', code: 42 };
      return next(err);
    }
    return next();
  });
  nsp.on('connection', (socket) => {
    socket.on('echo', (...args) => {
      const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
      if (ack) ack(...args);
      else socket.emit('echo', ...args);
    });
    socket.on('kick', () => socket.disconnect());
    socket.on('close', () => socket.disconnect(true));
    socket.on('ask', async (payload, ack) => {
      try {
        const answer = await socket.timeout(3000).emitWithAck('question', payload);
        if (typeof ack === 'function') ack({ answer });
      } catch (e) {
        if (typeof ack === 'function') ack({ error: e.message });
      }
    });
  });
}

/**
 * Create the reference server in this process, on 127.0.0.1 (a free port unless `port`).
 * Resolves to {url, port, io, disconnects, engineCloses, close()}:
 * - disconnects: every socket.io disconnection {nsp, id, reason, at}, in order;
 * - engineCloses: every Engine.IO socket close {sid, reason, at}.
 */
export async function createReference({
  path = '/socket.io',
  pingInterval = 25000,
  pingTimeout = 20000,
  maxPayload = 1e6,
  allowEIO3 = false,
  connectTimeout = 45000,
  port = 0,
} = {}) {
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    path,
    pingInterval,
    pingTimeout,
    maxHttpBufferSize: maxPayload,
    allowEIO3,
    connectTimeout,
    serveClient: false,
    cors: undefined,
  });
  const disconnects = [];
  const engineCloses = [];
  const connections = [];
  installRoot(io.of('/'));
  installExtra(io.of(EXTRA_NSP));
  for (const name of ['/', EXTRA_NSP]) {
    io.of(name).on('connection', (socket) => {
      connections.push({ nsp: name, id: socket.id, at: Date.now() });
      socket.on('disconnect', (reason) => disconnects.push({ nsp: name, id: socket.id, reason, at: Date.now() }));
    });
  }
  io.engine.on('connection', (s) => {
    s.on('close', (reason) => engineCloses.push({ sid: s.id, reason, at: Date.now() }));
  });
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, '127.0.0.1', resolve);
  });
  const actual = httpServer.address().port;
  let closed = false;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    io,
    connections,
    disconnects,
    engineCloses,
    /** Close every connection ("server shutting down") and the listener. */
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      // io.close() closes every Engine.IO session (and answers pending long-polls) before the listener stops.
      return new Promise((resolve) => {
        io.close(() => resolve());
      });
    },
  };
}

/**
 * Start the reference server in a child process. Resolves to {url, disconnects(), engineCloses(),
 * emitWithAck(event, data, timeout), close(), kill()}; the child dies with the test process.
 */
export async function startReference(opts = {}) {
  const child = fork(SELF, ['--ipc', JSON.stringify(opts)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let seq = 0;
  const pending = new Map();
  child.on('message', (m) => {
    const p = pending.get(m.id);
    if (p) {
      pending.delete(m.id);
      p(m.result);
    }
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`reference server exited early (code ${code})`)));
  });
  const call = (op, ...args) =>
    new Promise((resolve) => {
      const id = ++seq;
      pending.set(id, resolve);
      child.send({ id, op, args });
    });
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  process.on('exit', () => child.kill('SIGKILL'));
  return {
    url: ready.url,
    port: ready.port,
    disconnects: () => call('disconnects'),
    /** Sockets connected to "/" right now. */
    connected: () => call('connected'),
    engineCloses: () => call('engineCloses'),
    emitWithAck: (event, data, timeout) => call('emitWithAck', event, data, timeout),
    /** io.close() in the child ("server shutting down"); the child stays up for questions until kill(). */
    close: async () => {
      if (child.connected) await call('close');
    },
    kill,
  };
}

/** The child side of startReference: serve IPC requests until told to close. */
async function serveIpc(opts) {
  const ref = await createReference(opts);
  process.on('disconnect', () => process.exit(0));
  process.on('message', async ({ id, op, args }) => {
    let result;
    if (op === 'disconnects') result = ref.disconnects;
    else if (op === 'connected') result = ref.io.of('/').sockets.size;
    else if (op === 'engineCloses') result = ref.engineCloses;
    else if (op === 'emitWithAck') {
      const [event, data, timeout] = args;
      try {
        result = { ok: true, acks: await ref.io.timeout(timeout).emitWithAck(event, data) };
      } catch {
        result = { ok: false };
      }
    } else if (op === 'close') {
      await ref.close();
      result = true;
    }
    process.send({ id, result });
  });
  process.send({ url: ref.url, port: ref.port });
}

// Script mode: node lib/reference-server.mjs [--port N] [--path P] [--ping-interval ms] [--ping-timeout ms]
// [--max-payload bytes] [--allow-eio3]
if (process.argv[1] === SELF && process.argv[2] === '--ipc') {
  await serveIpc(JSON.parse(process.argv[3]));
} else if (process.argv[1] === SELF) {
  const argv = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const ref = await createReference({
    port: Number(opt('--port', 0)),
    path: opt('--path', '/socket.io'),
    pingInterval: Number(opt('--ping-interval', 25000)),
    pingTimeout: Number(opt('--ping-timeout', 20000)),
    maxPayload: Number(opt('--max-payload', 1e6)),
    allowEIO3: argv.includes('--allow-eio3'),
  });
  console.log(`reference socket.io server on ${ref.url}`);
  const report = () => console.log(JSON.stringify({ disconnects: ref.disconnects, engineCloses: ref.engineCloses }));
  process.on('SIGINT', async () => {
    report();
    await ref.close();
    process.exit(0);
  });
}
