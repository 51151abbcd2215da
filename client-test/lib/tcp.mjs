// Raw TCP connections for the hostile-client tests: connections that send nothing, send a request byte by byte or a
// body slowly, or stay idle after a response. Each records what the server sent and when it closed the connection.

import net from 'node:net';
import { withTimeout } from './wait.mjs';

/** Every connection ever opened by this process, destroyed on exit. */
const open = new Set();

export class TcpConn {
  constructor(socket) {
    this.socket = socket;
    this.received = '';
    this.connected = new Promise((resolve, reject) => {
      socket.once('connect', () => {
        this.connectedAt = Date.now();
        resolve(this);
      });
      socket.once('error', reject);
    });
    this.connected.catch(() => {});
    socket.on('error', () => {}); // surfaces through `closed`
    socket.setEncoding('latin1');
    socket.on('data', (d) => {
      this.received += d;
      this.onData?.();
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (hadError) => {
        this.closedAt = Date.now();
        open.delete(this);
        resolve({ at: this.closedAt, hadError });
      });
    });
  }

  /** True until either side closed the connection. */
  get isOpen() {
    return this.closedAt === undefined;
  }

  write(data) {
    if (this.isOpen) this.socket.write(data);
  }

  /** Wait (bounded) for the server to close the connection; resolves {at, hadError}. */
  waitClosed(timeout, what = 'the server to close the connection') {
    return withTimeout(this.closed, timeout, what);
  }

  /** Wait (bounded) until the received bytes contain `text`. */
  waitReceived(text, timeout = 5000) {
    if (this.received.includes(text)) return Promise.resolve(this.received);
    const p = new Promise((resolve, reject) => {
      this.onData = () => {
        if (this.received.includes(text)) resolve(this.received);
      };
      this.closed.then(() => reject(new Error(`closed before ${JSON.stringify(text)} arrived: ${this.received}`)));
    });
    return withTimeout(p, timeout, `${JSON.stringify(text)} from the server`).finally(() => {
      this.onData = undefined;
    });
  }

  /**
   * Write `data` one byte every `intervalMs` until it is all sent or the connection closes. Resolves with the number
   * of bytes written.
   */
  async dribble(data, intervalMs) {
    let sent = 0;
    while (sent < data.length && this.isOpen) {
      this.write(data[sent++]);
      // Pacing the attacker, not synchronising: the test awaits the server's close.
      await Promise.race([new Promise((r) => setTimeout(r, intervalMs)), this.closed]);
    }
    return sent;
  }

  destroy() {
    this.socket.destroy();
  }
}

/** Open a TCP connection (resolves once connected). */
export async function tcpConnect(port, { host = '127.0.0.1', localAddress, timeout = 5000 } = {}) {
  const conn = new TcpConn(net.connect({ port, host, localAddress }));
  open.add(conn);
  await withTimeout(conn.connected, timeout, `TCP connect to ${host}:${port}`);
  return conn;
}

/** Open a TCP connection without waiting for it (the connect may complete, or the server may close it). */
export function tcpOpen(port, { host = '127.0.0.1', localAddress } = {}) {
  const conn = new TcpConn(net.connect({ port, host, localAddress }));
  open.add(conn);
  return conn;
}

process.on('exit', () => {
  for (const c of open) c.socket.destroy();
});
