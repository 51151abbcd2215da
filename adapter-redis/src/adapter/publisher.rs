//! The ordered, non-blocking publish queue of one namespace.
//!
//! A socket's events are handled one after the other, so a handler that waited for a PUBLISH would hold up the
//! socket's next events for a Redis round trip (or a whole command timeout when Redis just went away). Handlers
//! queue their operations here instead; one task publishes them in order, pipelined in batches. While Redis is
//! away the publishes fail fast and are counted, as a failed publish always was.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use crate::connection::Connection;
use crate::metrics::AdapterMetrics;
use crate::protocol::Outgoing;

/// Publishes queued beyond this are dropped and counted as publish errors (a Redis that cannot keep up).
const QUEUE: usize = 65_536;

/// Most publishes pipelined in one batch.
const BATCH: usize = 256;

/// The publish queue.
pub(crate) struct Publisher {
    tx: Option<mpsc::Sender<Outgoing>>,
    metrics: Arc<AdapterMetrics>,
}

impl Publisher {
    /// Starts the queue's task on `conn` (none without Redis: every publish is then a no-op).
    pub fn start(conn: Option<Connection>, metrics: Arc<AdapterMetrics>) -> Self {
        let Some(conn) = conn else {
            return Self { tx: None, metrics };
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(conn, rx));
        Self {
            tx: Some(tx),
            metrics,
        }
    }

    /// Queues a publish.
    pub fn send(&self, out: Outgoing) {
        let Some(tx) = &self.tx else {
            return;
        };
        if tx.try_send(out).is_err() {
            self.metrics.publish_errors.inc();
            tracing::debug!("publish queue full; operation not sent to the other servers");
        }
    }
}

async fn run(conn: Connection, mut rx: mpsc::Receiver<Outgoing>) {
    let logged = AtomicBool::new(false);
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Commands reach the connection in the order they are first polled: `join_all` polls in order.
        let conn = &conn;
        let results = futures_util::future::join_all(
            batch
                .drain(..)
                .map(|o| async move { conn.publish(o.sharded, &o.channel, o.payload).await }),
        )
        .await;
        if let Some(Err(err)) = results.into_iter().find(Result::is_err) {
            if !logged.swap(true, Ordering::Relaxed) {
                tracing::warn!(%err, "publish to redis failed; delivering locally only (logged once)");
            } else {
                tracing::debug!(%err, "publish to redis failed");
            }
        }
    }
}
