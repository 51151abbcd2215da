// socket.io steps on a raw connection (RawWs or a looping RawPollingConn, v4 or v3) that the protocol scenarios
// share: connect "/", ask something with an ack, learn the socket's own id.

let counter = 0;

/** Connect "/": v4 sends CONNECT and resolves to the answer; v3 is connected by the server on its own. */
export async function connectRoot(c, eio, auth) {
  if (eio === 3) return c.next('40');
  const from = c.messages.length;
  await c.sendPackets([auth === undefined ? '40' : `40${JSON.stringify(auth)}`]);
  const isAnswer = (d) => typeof d === 'string' && (d.startsWith('40') || d.startsWith('44'));
  if (c.get && !c.looping) {
    // A polling session driven by hand: GET until the answer comes (answering a ping that comes first).
    for (let i = 0; i < 5 && !c.messages.slice(from).some((m) => isAnswer(m.data)); i++) {
      const g = await c.get({ timeout: 5000 });
      if (g.status !== 200) throw new Error(`GET while connecting: ${g.status ?? g.error} ${g.text ?? ''}`);
      if (g.packets.includes('2')) await c.post(['3']);
    }
  }
  return c.next(isAnswer, 5000, from);
}

/** Send an event with an ack id and resolve to the parsed ack arguments. */
export async function ask(c, event, ...args) {
  const id = 100 + (counter++ % 800);
  const from = c.messages.length;
  await c.sendPackets([`42${id}${JSON.stringify([event, ...args])}`]);
  const ack = await c.next(`43${id}[`, 3000, from);
  return JSON.parse(ack.slice(2 + String(id).length));
}

/** The socket's own id on "/" (join a fresh room and list its members: works on both servers, v3 included). */
export async function ownId(c) {
  const room = `me-${process.pid}-${counter++}`;
  await ask(c, 'join', room);
  const [res] = await ask(c, 'members', room);
  return res.members[0].id;
}

/**
 * Give a long-poll just sent the time to reach the server. No event tells a client that its GET is pending on the
 * server; the scenarios that need one use a session with nothing to send (pingInterval 10 s), so the wait only
 * has to cover the request's trip, and a slow trip shows up as a different answer, never as a false pass.
 */
export function headStart() {
  return new Promise((resolve) => setTimeout(resolve, 200));
}
