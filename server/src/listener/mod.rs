//! The server's own accept loop and HTTP/1.1 connections, for both ports.
//!
//! axum's `serve` has no timeouts and no connection limit; a client that connects and sends
//! nothing holds a descriptor forever, and out of descriptors both ports stop accepting. Here
//! every accepted connection is first admitted against the listener's [`Budget`] (refused at once
//! with `503` when over it), then served by hyper on a [`GuardedStream`] whose reads follow the
//! HTTP timeouts of its [`Tracker`] and whose writes may not stall forever.

mod budget;
pub mod fd_limit;
mod refuse;
mod service;
mod stream;
mod tracker;

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, watch};

pub use budget::Refusal;
pub use tracker::Timeouts;

use crate::metrics::{ListenerLabel, Metrics, RefusedLabel, TimeoutLabel};
use budget::Budget;
use service::ConnService;
use stream::GuardedStream;
use tracker::{TimeoutCounters, Tracker};

/// The peer address of a connection, given to handlers as `ConnectInfo<PeerAddr>`.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// Accept queue length asked of the kernel (capped by `net.core.somaxconn`); the standard
/// library's 128 overflows in a connect storm, and dropped SYNs are retried only after a second.
const BACKLOG: u32 = 1024;

/// How often an `accept` failure is logged at most.
const ACCEPT_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// What a listener enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// HTTP timeouts.
    pub timeouts: Timeouts,
    /// How long a write may stay blocked.
    pub write_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// Most unfinished connections per peer address (`None`: no such limit).
    pub max_pending_per_peer: Option<u32>,
}

/// A bound listener with its budget and metrics.
pub struct Listener {
    tcp: TcpListener,
    name: &'static str,
    limits: Limits,
    budget: Arc<Budget>,
    refusals: Arc<Semaphore>,
    timeouts: TimeoutCounters,
    refused: [Counter; 2],
    accept_errors: Counter,
    last_warning: Option<Instant>,
    suppressed: u64,
}

impl Listener {
    /// Binds `addr`; `name` (`main` or `admin`) labels its metrics.
    pub fn bind(
        addr: SocketAddr,
        name: &'static str,
        limits: Limits,
        metrics: &Metrics,
    ) -> io::Result<Self> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let tcp = socket.listen(BACKLOG)?;
        let label = ListenerLabel { listener: name };
        let max = i64::try_from(limits.max_connections).unwrap_or(i64::MAX);
        metrics.max_connections.get_or_create(&label).set(max);
        let gauge = metrics.open_connections.get_or_create(&label).clone();
        let timeout = |kind: &'static str| {
            let label = TimeoutLabel {
                listener: name,
                kind,
            };
            metrics.http_timeouts.get_or_create(&label).clone()
        };
        let refused = |reason: Refusal| {
            let label = RefusedLabel {
                listener: name,
                reason: reason.label(),
            };
            metrics.connections_refused.get_or_create(&label).clone()
        };
        Ok(Self {
            tcp,
            name,
            limits,
            budget: Arc::new(Budget::new(
                limits.max_connections,
                gauge,
                limits.max_pending_per_peer,
            )),
            refusals: Arc::new(Semaphore::new(fd_limit::REFUSAL_SLOTS)),
            timeouts: TimeoutCounters {
                header: timeout("header"),
                body: timeout("body"),
                keep_alive: timeout("keep_alive"),
            },
            refused: [
                refused(Refusal::MaxConnections),
                refused(Refusal::PeerPending),
            ],
            accept_errors: metrics.accept_errors.get_or_create(&label).clone(),
            last_warning: None,
            suppressed: 0,
        })
    }

    /// The next admitted connection; connections over the budget are refused on the way.
    async fn accept(&mut self) -> (GuardedStream, Arc<Tracker>, SocketAddr) {
        loop {
            let (stream, addr) = match self.tcp.accept().await {
                Ok(accepted) => accepted,
                Err(err) => {
                    self.accept_failed(&err);
                    // Out of descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.budget.admit(addr.ip()) {
                Ok(admission) => {
                    // Socket.IO packets are small and latency matters more than coalescing.
                    let _ = stream.set_nodelay(true);
                    let tracker = Arc::new(Tracker::new(
                        self.limits.timeouts,
                        self.timeouts.clone(),
                        admission.peer,
                    ));
                    let stream = GuardedStream::new(
                        stream,
                        self.limits.write_timeout,
                        tracker.clone(),
                        Some(admission.open),
                    );
                    return (stream, tracker, addr);
                }
                Err(refusal) => {
                    let index = match refusal {
                        Refusal::MaxConnections => 0,
                        Refusal::PeerPending => 1,
                    };
                    self.refused[index].inc();
                    tracing::debug!(listener = self.name, peer = %addr, reason = refusal.label(), "connection refused");
                    // Answered when a refusal slot is free, else closed at once.
                    if let Ok(permit) = self.refusals.clone().try_acquire_owned() {
                        tokio::spawn(async move {
                            refuse::answer(stream, refusal).await;
                            drop(permit);
                        });
                    }
                }
            }
        }
    }

    /// Logs an `accept` failure, at most once per [`ACCEPT_WARN_INTERVAL`] with the number of
    /// failures not logged since.
    fn accept_failed(&mut self, err: &io::Error) {
        self.accept_errors.inc();
        let now = Instant::now();
        if self
            .last_warning
            .is_some_and(|last| now.duration_since(last) < ACCEPT_WARN_INTERVAL)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(listener = self.name, %err, suppressed = self.suppressed, "accept failed");
        self.last_warning = Some(now);
        self.suppressed = 0;
    }
}

/// Serves `router` on `listener` until `stop` turns true, then stops accepting, lets every
/// connection finish its current exchange (graceful shutdown) and returns once all have closed.
/// Upgraded connections are not waited for: they belong to the socket.io layer from then on.
pub async fn serve(mut listener: Listener, router: Router, mut stop: watch::Receiver<bool>) {
    // Connection tasks hold a receiver: `closed()` resolves once they all ended.
    let (done_tx, done_rx) = watch::channel(());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    loop {
        let (stream, tracker, peer) = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => accepted,
        };
        let service = ConnService::new(router.clone(), tracker, peer);
        let mut shutdown = shutdown_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let builder = hyper::server::conn::http1::Builder::new();
            let mut conn = pin!(
                builder
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
            );
            let mut shutting_down = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(err) = result {
                            tracing::trace!(%err, %peer, "connection ended");
                        }
                        break;
                    }
                    _ = shutdown.wait_for(|s| *s), if !shutting_down => {
                        shutting_down = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(done_rx);
    let _ = shutdown_tx.send(true);
    done_tx.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            timeouts: Timeouts {
                header: Duration::from_secs(1),
                body: Duration::from_secs(1),
                keep_alive: Duration::from_secs(1),
            },
            write_timeout: Duration::from_secs(1),
            max_connections: 1,
            max_pending_per_peer: None,
        }
    }

    #[tokio::test]
    async fn accept_failures_are_counted_and_logged_once_per_interval() {
        let metrics = Metrics::new("test");
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut listener = Listener::bind(addr, "main", limits(), &metrics).unwrap();
        let err = io::Error::from_raw_os_error(24);
        for _ in 0..100 {
            listener.accept_failed(&err);
        }
        assert_eq!(listener.accept_errors.get(), 100);
        assert_eq!(listener.suppressed, 99, "one warning, 99 suppressed");
        listener.last_warning = Instant::now().checked_sub(ACCEPT_WARN_INTERVAL);
        listener.accept_failed(&err);
        assert_eq!(listener.suppressed, 0, "a warning after the interval");
    }

    #[tokio::test]
    async fn a_connection_over_the_limit_gets_503() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let metrics = Metrics::new("test");
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let listener = Listener::bind(addr, "main", limits(), &metrics).unwrap();
        let addr = listener.tcp.local_addr().unwrap();
        let (_stop, stopped) = watch::channel(false);
        let router = Router::new().route("/", axum::routing::get(|| async { "hello" }));
        tokio::spawn(serve(listener, router, stopped));
        // The first connection takes the only place and keeps it (its request is not finished).
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        first.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        second
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        second.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(answer.contains("Too many connections"), "{answer}");
        let refused = metrics.render();
        assert!(
            refused.contains(
                "sio_connections_refused_total{listener=\"main\",reason=\"max_connections\"} 1"
            ),
            "{refused}"
        );
    }
}
