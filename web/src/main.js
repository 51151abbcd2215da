// The chat page: one socket.io connection speaking the server's client contract (README, "Client contract"):
// `join`/`leave` rooms, room `message`s, live `presence` and `members`, `direct` messages, and `whoami` for the id
// of the replica that serves the connection. Rooms are per connection on the server, so the page joins its rooms
// again after every reconnection (which may land on another replica).
//
// Everything the tests drive or read has an id and a `data-test` attribute; user text is only ever set with
// textContent.

import { io } from 'socket.io-client';
import { optionsFrom } from './options.js';
import './style.css';

const $ = (id) => document.getElementById(id);
const opts = optionsFrom(window.location);

const state = {
  rooms: new Set(), // rooms this page wants to be in (joined again after a reconnection)
  active: null, // the room shown
  members: new Map(), // room -> Map(socket id -> user)
  messages: new Map(), // room -> [{from, text, ts, own}]
  direct: null, // {id, name} of the member direct messages go to
  me: null, // {id, name} as the server sees this socket
  node: null,
  everConnected: false,
};

const initialName = opts.name || localStorage.getItem('sio-chat-name') || `guest-${Math.random().toString(36).slice(2, 6)}`;
$('name').value = initialName;

const socket = io(opts.url, { ...opts.io, auth: { name: initialName } });
for (const p of opts.problems) logEvent(p);

/** An event with an ack; a failure ack (`{ok: false, error}`) also when no answer comes in time. */
async function call(event, ...args) {
  try {
    return await socket.timeout(5000).emitWithAck(event, ...args);
  } catch {
    return { ok: false, error: 'timeout', message: `no answer to ${event}` };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Connection state: connecting, connected (over polling or websocket), reconnecting, disconnected, with the reason.

function setStatus(st, reason) {
  const el = $('status');
  const transport = st === 'connected' ? socket.io.engine?.transport?.name ?? '' : '';
  el.dataset.state = st;
  el.dataset.transport = transport;
  el.textContent = transport ? `${st} · ${transport}` : st;
  el.className = `pill ${st}`;
  const r = $('reason');
  if (reason) {
    r.textContent = reason;
    r.hidden = false;
  } else if (st === 'connected') {
    r.hidden = true;
  }
  $('toggle').textContent = socket.active ? 'Disconnect' : 'Connect';
  document.body.dataset.state = st;
}

setStatus('connecting');

socket.on('connect', async () => {
  state.everConnected = true;
  setStatus('connected');
  const transport = socket.io.engine.transport.name;
  socket.io.engine.once('upgrade', (t) => {
    setStatus('connected');
    logEvent(`upgraded to ${t.name}`);
  });
  setControls(true);
  const who = await call('whoami');
  if (who?.ok) {
    state.me = who.user;
    state.node = who.node;
    $('node').textContent = who.node;
    $('sid').textContent = who.user.id;
  }
  logEvent(`connected to ${who?.node ?? 'a replica'} over ${transport}`);
  for (const room of [...state.rooms]) await join(room, { rejoin: true });
  if (opts.room && !state.rooms.has(opts.room)) await join(opts.room);
  render();
});

socket.on('disconnect', (reason, details) => {
  const why = details?.description?.message ? `${reason}: ${details.description.message}` : reason;
  $('node').textContent = '';
  $('sid').textContent = '';
  state.node = null;
  state.members.clear();
  setControls(false);
  setStatus(socket.active ? 'reconnecting' : 'disconnected', `disconnected: ${why}`);
  logEvent(`disconnected (${why})`);
  render();
});

socket.on('connect_error', (err) => {
  if (socket.active) setStatus(state.everConnected ? 'reconnecting' : 'connecting', `connect error: ${err.message}`);
  else setStatus('disconnected', `refused: ${err.message}`);
});

socket.io.on('reconnect_attempt', (n) => {
  setStatus('reconnecting');
  $('status').textContent = `reconnecting · attempt ${n}`;
});
socket.io.on('reconnect_failed', () => setStatus('disconnected', 'gave up reconnecting'));

$('toggle').addEventListener('click', () => {
  if (socket.active) {
    socket.disconnect();
  } else {
    setStatus('connecting');
    socket.connect();
  }
});

$('name-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('name').value.trim();
  if (!name) return;
  localStorage.setItem('sio-chat-name', name);
  // The name is part of the handshake: a new connection carries it.
  socket.auth = { name };
  socket.disconnect();
  setStatus('connecting');
  socket.connect();
});

// ---------------------------------------------------------------------------------------------------------------
// Rooms, members and presence.

async function join(room, { rejoin = false } = {}) {
  const res = await call('join', room);
  if (!res?.ok) {
    logEvent(`join ${room}: ${res?.error} (${res?.message})`);
    return;
  }
  state.rooms.add(room);
  if (!state.messages.has(room)) state.messages.set(room, []);
  if (!rejoin || !state.active) state.active = room;
  await refreshMembers(room);
  render();
}

async function leave(room) {
  state.rooms.delete(room);
  state.members.delete(room);
  if (state.active === room) state.active = [...state.rooms][0] ?? null;
  render();
  if (socket.connected) {
    const res = await call('leave', room);
    if (!res?.ok) logEvent(`leave ${room}: ${res?.error}`);
  }
}

async function refreshMembers(room) {
  const res = await call('members', room);
  if (!res?.ok) {
    logEvent(`members of ${room}: ${res?.error}`);
    return;
  }
  state.members.set(room, new Map(res.members.map((u) => [u.id, u])));
  render();
}

// A presence event updates the list at once; a `members` answer shortly after reconciles it (a replica that
// died could not say that its sockets left).
const refreshTimers = new Map();
socket.on('presence', ({ room, action, user }) => {
  const members = state.members.get(room) ?? new Map();
  if (action === 'join') members.set(user.id, user);
  else members.delete(user.id);
  state.members.set(room, members);
  logEvent(`${user.name ?? user.id} ${action === 'join' ? 'joined' : 'left'} ${room}`);
  clearTimeout(refreshTimers.get(room));
  refreshTimers.set(
    room,
    setTimeout(() => {
      if (socket.connected && state.rooms.has(room)) refreshMembers(room);
    }, 300),
  );
  render();
});

$('join-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const room = $('room-input').value.trim();
  if (!room) return;
  $('room-input').value = '';
  if (state.rooms.has(room)) {
    state.active = room;
    render();
    return;
  }
  await join(room);
});

// ---------------------------------------------------------------------------------------------------------------
// Room messages and direct messages.

const textOf = (data) => (typeof data?.text === 'string' ? data.text : JSON.stringify(data));

socket.on('message', ({ id, room, from, data, ts }) => {
  const list = state.messages.get(room) ?? [];
  list.push({ id, from, text: textOf(data), ts, own: false });
  state.messages.set(room, list);
  render();
});

$('message-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('message-input').value;
  const room = state.active;
  if (!text || !room) return;
  const res = await call('message', { room, data: { text } });
  if (!res?.ok) {
    logEvent(`message to ${room}: ${res?.error} (${res?.message})`);
    return;
  }
  $('message-input').value = '';
  state.messages.get(room)?.push({ id: res.id, from: state.me, text, ts: res.ts, own: true });
  render();
});

const directs = [];
socket.on('direct', ({ id, from, data, ts }) => {
  directs.push({ id, from, to: state.me, text: textOf(data), ts, own: false });
  render();
});

$('direct-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = $('direct-input').value;
  const to = state.direct;
  if (!text || !to) return;
  const res = await call('direct', { to: to.id, data: { text } });
  if (!res?.ok) {
    logEvent(`direct to ${to.name}: ${res?.error} (${res?.message})`);
    return;
  }
  $('direct-input').value = '';
  directs.push({ id: res.id, from: state.me, to, text, ts: res.ts, own: true });
  render();
});

socket.on('error', (e) => logEvent(`${e?.event}: ${e?.error} (${e?.message})`));

// ---------------------------------------------------------------------------------------------------------------
// Rendering.

function setControls(connected) {
  for (const id of ['message-input', 'send']) $(id).disabled = !connected || !state.active;
  for (const id of ['direct-input', 'direct-send']) $(id).disabled = !connected || !state.direct;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k === 'onclick') e.addEventListener('click', v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

const time = (ts) => new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const nameOf = (u) => u?.name ?? u?.id ?? '?';

function render() {
  $('rooms').replaceChildren(
    ...[...state.rooms].map((room) =>
      el(
        'li',
        { 'data-test': 'room', 'data-room': room, class: room === state.active ? 'active' : '' },
        el('button', { type: 'button', class: 'link', textContent: room, onclick: () => ((state.active = room), render()) }),
        el('button', { type: 'button', 'data-test': 'leave', title: `leave ${room}`, textContent: '×', onclick: () => leave(room) }),
      ),
    ),
  );

  const room = state.active;
  $('room-title').textContent = room ? `# ${room}` : 'No room joined';
  $('members-room').textContent = room ? `of ${room}` : '';
  const members = [...(state.members.get(room)?.values() ?? [])];
  $('members').replaceChildren(
    ...members.map((u) => {
      const me = u.id === state.me?.id;
      return el(
        'li',
        { 'data-test': 'member', 'data-id': u.id, 'data-name': u.name ?? '', class: me ? 'me' : '' },
        el('span', { textContent: me ? `${nameOf(u)} (you)` : nameOf(u) }),
        me
          ? ''
          : el('button', {
              type: 'button',
              'data-test': 'dm',
              textContent: 'DM',
              title: `direct message to ${nameOf(u)}`,
              onclick: () => {
                state.direct = { id: u.id, name: nameOf(u) };
                render();
                $('direct-input').focus();
              },
            }),
      );
    }),
  );

  $('messages').replaceChildren(
    ...(state.messages.get(room) ?? []).map((m) =>
      el(
        'li',
        { 'data-test': 'message', 'data-from': nameOf(m.from), 'data-room': room, class: m.own ? 'own' : '' },
        el('span', { class: 'who', textContent: nameOf(m.from) }),
        el('span', { class: 'text', textContent: m.text }),
        el('time', { textContent: time(m.ts) }),
      ),
    ),
  );
  $('messages').scrollTop = $('messages').scrollHeight;

  $('direct-to').textContent = state.direct ? state.direct.name : 'nobody: pick a member';
  $('directs').replaceChildren(
    ...directs.map((m) =>
      el(
        'li',
        { 'data-test': 'direct', 'data-from': nameOf(m.from), 'data-to': nameOf(m.to), class: m.own ? 'own' : '' },
        el('span', { class: 'who', textContent: m.own ? `to ${nameOf(m.to)}` : `from ${nameOf(m.from)}` }),
        el('span', { class: 'text', textContent: m.text }),
        el('time', { textContent: time(m.ts) }),
      ),
    ),
  );
  setControls(socket.connected);
}

function logEvent(text) {
  const list = $('events');
  list.prepend(el('li', { 'data-test': 'event', textContent: `${time(Date.now())} ${text}` }));
  while (list.children.length > 30) list.lastChild.remove();
}

render();
