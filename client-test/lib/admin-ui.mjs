// The socket.io Admin UI (issue 18): flags of a Rust server with the UI on, a socket.io-client acting as the UI
// (the events it records), and `instrument()` of the real @socket.io/admin-ui package on a Node peer.

import path from 'node:path';
import { instrument, RedisStore } from '@socket.io/admin-ui';
import { REPO_ROOT } from './server.mjs';
import { Recorder } from './wait.mjs';

export const USERNAME = 'admin';
export const PASSWORD = 'admin-e2e-pass';
/** bcryptjs' hash of PASSWORD at cost 4 (the cheapest: logins stay fast in debug builds). */
export const PASSWORD_HASH = '$2a$04$ovYScWj59J5bE8qWOZ14Ru0Cs7sdb8W848aI.M8741mI/W2SPJQuq';
export const CREDENTIALS = { username: USERNAME, password: PASSWORD };

/** Every event a server sends to the UI (typed-events.ts of @socket.io/admin-ui 0.5). */
export const UI_EVENTS = [
  'session',
  'config',
  'server_stats',
  'all_sockets',
  'socket_connected',
  'socket_updated',
  'socket_disconnected',
  'room_joined',
  'room_left',
  'event_received',
  'event_sent',
];

export const ALL_FEATURES = ['EMIT', 'JOIN', 'LEAVE', 'DISCONNECT', 'MJOIN', 'MLEAVE', 'MDISCONNECT', 'AGGREGATED_EVENTS'];

/** Flags of a Rust server with the Admin UI on. */
export function adminArgs({ mode = 'development', readonly = false, serverId, auth = true, extra = [] } = {}) {
  const args = ['--admin-ui', 'on', '--admin-ui-mode', mode, '--admin-ui-dir', ADMIN_UI_DIST];
  if (auth) args.push('--admin-ui-password-hash', PASSWORD_HASH);
  else args.push('--admin-ui-auth', 'off');
  if (readonly) args.push('--admin-ui-readonly');
  if (serverId) args.push('--admin-ui-server-id', serverId);
  return [...args, ...extra];
}

/** The UI built by admin-ui/ (`npm ci && npm run build`). */
export const ADMIN_UI_DIST = path.join(REPO_ROOT, 'admin-ui', 'dist');

/**
 * A socket.io-client connected (or not) to `url`'s admin namespace as the UI connects: `withCredentials`, `auth`
 * {username, password} or {sessionId}. Its `rec` records every UI event from the moment it is created.
 */
export function uiClient(scope, url, auth = CREDENTIALS, { namespace = '/admin', transports } = {}) {
  const socket = scope.client(`${url}${namespace}`, { auth, withCredentials: true, ...(transports ? { transports } : {}) });
  socket.rec = new Recorder(socket, UI_EVENTS);
  return socket;
}

/**
 * Node's RedisStore calls a callback-style client (`exists(key, cb)`, `multi().set().expire().exec()`); node-redis 4
 * is promise-based: this adapts the peer's client.
 */
function callbackRedis(client) {
  return {
    exists: (key, cb) => client.exists(key).then((n) => cb(null, n), (err) => cb(err)),
    multi() {
      const ops = [];
      const m = {
        set: (k, v) => (ops.push(() => client.set(k, String(v))), m),
        expire: (k, s) => (ops.push(() => client.expire(k, s)), m),
        exec: () => ops.reduce((p, op) => p.then(op), Promise.resolve()),
      };
      return m;
    },
  };
}

/** `instrument()` of the real package on a Node peer, sessions in the peer's Redis (as the Rust servers keep them). */
export function instrumentPeer(io, peer, { serverId = 'node-peer', mode = 'development', readonly = false } = {}) {
  instrument(io, {
    auth: { type: 'basic', username: USERNAME, password: PASSWORD_HASH },
    mode,
    readonly,
    serverId,
    store: new RedisStore(callbackRedis(peer.pub)),
  });
}
