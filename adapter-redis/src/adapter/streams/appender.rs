//! This server's stream entries, appended in the order they were made.
//!
//! Node appends a broadcast, then delivers it locally with the entry id as offset. Here one task per namespace
//! takes the queued operations in order, pipelines their `XADD`s in batches (Redis answers in order, so the ids
//! grow in queue order), and then delivers each broadcast to the local sockets with its id: local sockets and the
//! stream see this server's broadcasts in the same order, and no caller waits for Redis. When Redis refuses an
//! entry (it is away), the broadcast still reaches the local sockets, without an offset, and the failure is
//! counted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use engine::adapter::BroadcastOptions;
use engine::sio::packet::Packet;
use tokio::sync::mpsc;

use super::super::RedisAdapter;
use crate::wire::StreamEntry;

/// Operations queued beyond this are delivered locally only and counted as publish errors.
const QUEUE: usize = 65_536;

/// Most `XADD`s pipelined in one batch.
const BATCH: usize = 256;

/// One operation for the stream, with the broadcast to deliver locally once it has its id.
pub(crate) struct Append {
    pub entry: StreamEntry,
    pub local: Option<(Packet, BroadcastOptions)>,
}

/// The receiving end, handed to the task.
pub(crate) type Queue = mpsc::Receiver<Append>;

/// The sending end of the queue.
pub(crate) struct Appender {
    tx: mpsc::Sender<Append>,
}

impl Appender {
    pub(super) fn new() -> (Self, Queue) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx }, rx)
    }

    /// Queues an operation; gives it back when the queue is full (Redis cannot keep up).
    pub(super) fn send(&self, item: Append) -> Result<(), Box<Append>> {
        self.tx.try_send(item).map_err(|err| match err {
            mpsc::error::TrySendError::Full(item) | mpsc::error::TrySendError::Closed(item) => {
                Box::new(item)
            }
        })
    }
}

/// Runs the queue of `adapter`'s namespace until the adapter is gone.
pub(super) fn start(adapter: &Arc<RedisAdapter>, mut queue: Queue) {
    let weak: Weak<RedisAdapter> = Arc::downgrade(adapter);
    tokio::spawn(async move {
        let logged = AtomicBool::new(false);
        let mut batch = Vec::with_capacity(BATCH);
        while queue.recv_many(&mut batch, BATCH).await > 0 {
            let Some(this) = weak.upgrade() else {
                return;
            };
            let (Some(conn), Some(streams)) = (this.shared.connection.clone(), &this.streams)
            else {
                return;
            };
            // Commands reach the connection in the order they are first polled: `join_all` polls in order.
            let conn = &conn;
            let results = futures_util::future::join_all(
                batch
                    .iter()
                    .map(|a| conn.xadd(&streams.stream, streams.max_len, a.entry.fields())),
            )
            .await;
            for (item, result) in batch.drain(..).zip(results) {
                let id = match result {
                    Ok(id) => {
                        streams.saw(&id);
                        Some(id)
                    }
                    Err(err) => {
                        if !logged.swap(true, Ordering::Relaxed) {
                            tracing::warn!(%err, "XADD failed; delivering locally only (logged once)");
                        } else {
                            tracing::debug!(%err, "XADD failed");
                        }
                        None
                    }
                };
                if let Some((packet, opts)) = item.local {
                    this.deliver_with_offset(packet, &opts, id.as_deref());
                }
            }
        }
    });
}
