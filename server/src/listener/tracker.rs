//! Where a connection stands in its HTTP exchange, and therefore which timeout applies to it.
//!
//! A connection that is waiting for the client is on a clock: its first request head must arrive
//! within the header timeout of the connection's start, a later one within the header timeout of
//! its first byte, every request whole (body included) within the body timeout, and an idle
//! connection between two requests may wait for the keep-alive timeout. While the server works on
//! a request (a long-poll waiting for packets) or once the connection is upgraded to a WebSocket,
//! no HTTP timeout applies: the Engine.IO heartbeat takes over.
//!
//! The stream reports bytes read, the service reports requests, request-body ends, response ends
//! and upgrades; the stream asks for the current deadline whenever a read has to wait.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use prometheus_client::metrics::counter::Counter;
use tokio::time::Instant;

use super::budget::PeerSlot;

/// The HTTP timeouts of a listener.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A request head must arrive whole within this time.
    pub header: Duration,
    /// A request must arrive whole, body included, within this time.
    pub body: Duration,
    /// An idle connection is closed after this time without a new request.
    pub keep_alive: Duration,
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The request head did not arrive in time.
    Header,
    /// The request body did not arrive in time.
    Body,
    /// No new request on an idle connection.
    KeepAlive,
}

impl TimeoutKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            TimeoutKind::Header => "header",
            TimeoutKind::Body => "body",
            TimeoutKind::KeepAlive => "keep_alive",
        }
    }
}

/// Counters of the timeouts that closed connections, one per kind.
#[derive(Debug, Clone, Default)]
pub struct TimeoutCounters {
    /// `header`.
    pub header: Counter,
    /// `body`.
    pub body: Counter,
    /// `keep_alive`.
    pub keep_alive: Counter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request; `first` until the connection's first request.
    Idle { first: bool },
    /// Part of a request head has arrived.
    Head,
    /// The head was handled; the body has not arrived whole.
    Body,
    /// The request arrived whole; the server is answering.
    Busy,
    /// Upgraded (WebSocket): no HTTP timeout any more.
    Upgraded,
}

impl Phase {
    /// Whether the connection waits for the client to finish a request (counted per peer).
    fn unfinished(self) -> bool {
        matches!(
            self,
            Phase::Idle { first: true } | Phase::Head | Phase::Body
        )
    }
}

struct State {
    phase: Phase,
    /// Start of the current request (or of the wait for one).
    since: Instant,
    response_pending: bool,
    /// Bytes arrived while the server was answering: the next request has started.
    read_while_busy: bool,
    peer: Option<PeerSlot>,
}

impl State {
    fn set(&mut self, phase: Phase) {
        self.phase = phase;
        if let Some(peer) = &mut self.peer {
            peer.set_counted(phase.unfinished());
        }
    }

    fn after_exchange(&mut self) {
        self.since = Instant::now();
        let next = if self.read_while_busy {
            Phase::Head
        } else {
            Phase::Idle { first: false }
        };
        self.set(next);
    }
}

/// The HTTP state of one connection, shared by its stream and its service.
pub struct Tracker {
    timeouts: Timeouts,
    counters: TimeoutCounters,
    /// Set once upgraded: reads then skip the lock.
    upgraded: AtomicBool,
    state: Mutex<State>,
    /// The stream's pending read, woken when the connection goes back to waiting for the client
    /// (its deadline appears only then).
    reader: AtomicWaker,
}

impl Tracker {
    /// A new connection, accepted now; `peer` counts it against its address while unfinished.
    pub fn new(timeouts: Timeouts, counters: TimeoutCounters, peer: Option<PeerSlot>) -> Self {
        Self {
            timeouts,
            counters,
            upgraded: AtomicBool::new(false),
            state: Mutex::new(State {
                phase: Phase::Idle { first: true },
                since: Instant::now(),
                response_pending: false,
                read_while_busy: false,
                peer,
            }),
            reader: AtomicWaker::new(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A panic while holding this lock cannot leave the state inconsistent: recover it.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// Bytes arrived from the client.
    pub fn on_read(&self) {
        if self.upgraded.load(Ordering::Relaxed) {
            return;
        }
        self.with(|s| match s.phase {
            Phase::Idle { first: true } => s.set(Phase::Head),
            Phase::Idle { first: false } => {
                s.since = Instant::now();
                s.set(Phase::Head);
            }
            Phase::Busy => s.read_while_busy = true,
            Phase::Head | Phase::Body | Phase::Upgraded => {}
        });
    }

    /// A request head was parsed; `body_done` when it has no body (or an empty one).
    pub fn on_request(&self, body_done: bool) {
        self.with(|s| {
            s.response_pending = true;
            s.read_while_busy = false;
            if matches!(s.phase, Phase::Idle { first: false }) {
                // Parsed from bytes read along with the previous request.
                s.since = Instant::now();
            }
            s.set(if body_done { Phase::Busy } else { Phase::Body });
        });
    }

    /// The request body arrived whole (or the application dropped it: hyper drains the rest or
    /// closes the connection).
    pub fn on_body_end(&self) {
        let waiting = self.with(|s| {
            if s.phase != Phase::Body {
                return false;
            }
            if s.response_pending {
                s.set(Phase::Busy);
                false
            } else {
                s.after_exchange();
                true
            }
        });
        if waiting {
            self.reader.wake();
        }
    }

    /// The response was sent whole.
    pub fn on_response_end(&self) {
        let waiting = self.with(|s| {
            s.response_pending = false;
            if s.phase != Phase::Busy {
                return false;
            }
            s.after_exchange();
            true
        });
        if waiting {
            self.reader.wake();
        }
    }

    /// Registers the stream's pending read, to be woken when a deadline starts.
    pub fn register_reader(&self, waker: &Waker) {
        self.reader.register(waker);
    }

    /// The connection was upgraded (the response was `101 Switching Protocols`).
    pub fn on_upgrade(&self) {
        self.upgraded.store(true, Ordering::Relaxed);
        self.with(|s| s.set(Phase::Upgraded));
    }

    /// Whether the connection was upgraded (no HTTP timeout any more).
    pub fn is_upgraded(&self) -> bool {
        self.upgraded.load(Ordering::Relaxed)
    }

    /// The connection closed: it no longer counts against its address.
    pub fn on_close(&self) {
        self.with(|s| s.peer = None);
    }

    /// When the connection must be closed unless the client makes progress, and why.
    pub fn deadline(&self) -> Option<(Instant, TimeoutKind)> {
        if self.upgraded.load(Ordering::Relaxed) {
            return None;
        }
        let t = self.timeouts;
        self.with(|s| {
            let head = || {
                if t.header <= t.body {
                    (s.since + t.header, TimeoutKind::Header)
                } else {
                    (s.since + t.body, TimeoutKind::Body)
                }
            };
            match s.phase {
                Phase::Idle { first: true } | Phase::Head => Some(head()),
                Phase::Idle { first: false } => {
                    Some((s.since + t.keep_alive, TimeoutKind::KeepAlive))
                }
                Phase::Body => Some((s.since + t.body, TimeoutKind::Body)),
                Phase::Busy | Phase::Upgraded => None,
            }
        })
    }

    /// The timeout counters (tests look at them).
    #[cfg(test)]
    pub fn counters_for_test(&self) -> &TimeoutCounters {
        &self.counters
    }

    /// Counts a connection closed by `kind`.
    pub fn record_timeout(&self, kind: TimeoutKind) {
        match kind {
            TimeoutKind::Header => self.counters.header.inc(),
            TimeoutKind::Body => self.counters.body.inc(),
            TimeoutKind::KeepAlive => self.counters.keep_alive.inc(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        body: Duration::from_secs(30),
        keep_alive: Duration::from_secs(5),
    };

    fn kind(t: &Tracker) -> Option<TimeoutKind> {
        t.deadline().map(|(_, k)| k)
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_cycle_moves_through_the_deadlines() {
        let t = Tracker::new(T, TimeoutCounters::default(), None);
        let start = Instant::now();
        assert_eq!(t.deadline(), Some((start + T.header, TimeoutKind::Header)));
        tokio::time::advance(Duration::from_secs(2)).await;
        // The first request's head is timed from the connection's start, whatever arrives.
        t.on_read();
        assert_eq!(t.deadline(), Some((start + T.header, TimeoutKind::Header)));
        t.on_request(false);
        assert_eq!(t.deadline(), Some((start + T.body, TimeoutKind::Body)));
        t.on_body_end();
        assert_eq!(kind(&t), None, "no timeout while the server answers");
        tokio::time::advance(Duration::from_secs(100)).await;
        t.on_response_end();
        let idle = Instant::now();
        assert_eq!(
            t.deadline(),
            Some((idle + T.keep_alive, TimeoutKind::KeepAlive))
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        // A later request is timed from its first byte.
        t.on_read();
        let second = Instant::now();
        assert_eq!(t.deadline(), Some((second + T.header, TimeoutKind::Header)));
        t.on_request(true);
        assert_eq!(kind(&t), None);
        t.on_upgrade();
        t.on_response_end();
        t.on_read();
        assert_eq!(kind(&t), None, "an upgraded connection has no HTTP timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_sent_before_the_body_arrived_keeps_the_body_deadline() {
        let t = Tracker::new(T, TimeoutCounters::default(), None);
        let start = Instant::now();
        t.on_read();
        t.on_request(false);
        t.on_response_end();
        assert_eq!(t.deadline(), Some((start + T.body, TimeoutKind::Body)));
        t.on_body_end();
        assert_eq!(kind(&t), Some(TimeoutKind::KeepAlive));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_of_the_next_request_read_while_answering_start_its_clock() {
        let t = Tracker::new(T, TimeoutCounters::default(), None);
        t.on_read();
        t.on_request(true);
        t.on_read();
        tokio::time::advance(Duration::from_secs(3)).await;
        t.on_response_end();
        assert_eq!(
            t.deadline(),
            Some((Instant::now() + T.header, TimeoutKind::Header))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_timeout_below_the_header_timeout_bounds_the_head_too() {
        let short = Timeouts {
            body: Duration::from_secs(4),
            ..T
        };
        let t = Tracker::new(short, TimeoutCounters::default(), None);
        assert_eq!(
            t.deadline(),
            Some((Instant::now() + short.body, TimeoutKind::Body))
        );
    }
}
