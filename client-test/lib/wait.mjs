// Bounded waiting: every wait has a timeout and a description that ends up in the failure message.

/** Plain delay. Only for pacing polling loops and load generation, never as synchronisation. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Race `promise` against a timeout that rejects with a descriptive error. */
export async function withTimeout(promise, ms, what = 'operation') {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, t]);
  } finally {
    clearTimeout(timer);
  }
}

function onOff(em) {
  const on = (em.on ?? em.addEventListener).bind(em);
  const off = (em.off ?? em.removeListener ?? em.removeEventListener).bind(em);
  return { on, off };
}

/**
 * Resolve with the arguments array of the next `event` on an emitter (socket.io socket, EventEmitter, ws).
 * Optional `filter(...args)` selects which emission counts.
 */
export function onceArgs(em, event, { timeout = 5000, filter } = {}) {
  const { on, off } = onOff(em);
  let handler;
  const p = new Promise((resolve) => {
    handler = (...args) => {
      if (filter && !filter(...args)) return;
      off(event, handler);
      resolve(args);
    };
    on(event, handler);
  });
  return withTimeout(p, timeout, `event "${event}"`).finally(() => off(event, handler));
}

/** Like onceArgs but resolves with the first argument. */
export async function once(em, event, opts) {
  const args = await onceArgs(em, event, opts);
  return args[0];
}

/**
 * Poll `fn` until it returns a truthy value (returned) or the timeout passes. For conditions that have no event
 * (metrics, HTTP status); `interval` paces the loop.
 */
export async function waitUntil(fn, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      const extra = lastErr ? ` (last error: ${lastErr.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${extra}`);
    }
    await sleep(interval);
  }
}

/**
 * Records every emission of the given events on a socket, so that tests can wait for a matching one (already
 * received or future) and inspect the complete ordered history.
 */
export class Recorder {
  constructor(socket, events) {
    this.socket = socket;
    this.log = []; // {event, args, at}
    this.waiters = new Set();
    this.handlers = [];
    for (const ev of events) {
      const h = (...args) => {
        const rec = { event: ev, args, data: args[0], at: Date.now() };
        this.log.push(rec);
        for (const w of [...this.waiters]) {
          if (w.match(rec)) {
            this.waiters.delete(w);
            w.resolve(rec);
          }
        }
      };
      socket.on(ev, h);
      this.handlers.push([ev, h]);
    }
  }

  /** All records of one event (data = first argument). */
  of(event) {
    return this.log.filter((r) => r.event === event).map((r) => r.data);
  }

  /** Wait for a record of `event` whose first argument satisfies `pred` (already received ones count). */
  wait(event, pred = () => true, timeout = 5000) {
    const match = (r) => r.event === event && pred(r.data, r);
    const found = this.log.find(match);
    if (found) return Promise.resolve(found.data);
    let w;
    const p = new Promise((resolve) => {
      w = { match, resolve };
      this.waiters.add(w);
    });
    return withTimeout(p, timeout, `"${event}" matching ${pred.toString().slice(0, 120)}`)
      .then((r) => r.data)
      .finally(() => this.waiters.delete(w));
  }

  /** Wait until `n` records of `event` matching `pred` exist. */
  waitCount(event, n, pred = () => true, timeout = 5000) {
    const count = () => this.log.filter((r) => r.event === event && pred(r.data)).length;
    if (count() >= n) return Promise.resolve();
    let w;
    const p = new Promise((resolve) => {
      w = { match: () => count() >= n, resolve };
      this.waiters.add(w);
    });
    return withTimeout(p, timeout, `${n} x "${event}"`)
      .catch((e) => {
        throw new Error(`${e.message} (got ${count()})`);
      })
      .then(() => undefined)
      .finally(() => this.waiters.delete(w));
  }

  stop() {
    for (const [ev, h] of this.handlers) this.socket.off(ev, h);
    this.handlers = [];
  }
}
