//! The room channels of the sharded `dynamic` modes: a room gets its channel subscribed when it gets its first
//! local member and unsubscribed when it loses its last (the engine's `room_created`/`room_deleted` hooks, as
//! Node's `create-room`/`delete-room` events), except, in `dynamic` mode, rooms that are local socket ids.
//!
//! The hooks run inside the engine's join and leave, which must not wait for Redis: they queue the change for
//! one task per namespace, which applies the changes in order (coalescing bursts) so that a room created and
//! deleted in quick succession ends unsubscribed. Subscriptions asked for while Redis is away are made on
//! reconnection by the connection.

use std::collections::HashMap;

use engine::adapter::LocalNamespace;
use tokio::sync::{mpsc, oneshot};

use crate::connection::Connection;
use crate::protocol::{Mode, Protocol};
use crate::wire::ShardedSubscriptionMode;

enum Change {
    Subscribe(String),
    Unsubscribe(String),
    /// Answered once every change queued before it was applied.
    Sync(oneshot::Sender<()>),
}

/// The room channel subscriptions of one namespace.
pub(super) struct RoomChannels {
    /// `None` unless the mode has room channels and there is a Redis connection.
    tx: Option<mpsc::UnboundedSender<Change>>,
    protocol: Protocol,
}

impl RoomChannels {
    /// Starts the task that applies the changes (sharded dynamic modes with Redis only).
    pub(super) fn start(connection: Option<Connection>, protocol: &Protocol) -> Self {
        let dynamic = matches!(
            protocol.mode(),
            Mode::Sharded(
                ShardedSubscriptionMode::Dynamic | ShardedSubscriptionMode::DynamicPrivate
            )
        );
        let tx = match (dynamic, connection, tokio::runtime::Handle::try_current()) {
            (true, Some(conn), Ok(runtime)) => {
                let (tx, rx) = mpsc::unbounded_channel();
                runtime.spawn(apply(conn, rx));
                Some(tx)
            }
            _ => None,
        };
        Self {
            tx,
            protocol: protocol.clone(),
        }
    }

    /// `room` got its first local member.
    pub(super) fn created(&self, local: &LocalNamespace, room: &str) {
        if let Some(channel) = self.channel(local, room) {
            self.send(Change::Subscribe(channel));
        }
    }

    /// `room` lost its last local member.
    pub(super) fn deleted(&self, local: &LocalNamespace, room: &str) {
        if let Some(channel) = self.channel(local, room) {
            self.send(Change::Unsubscribe(channel));
        }
    }

    /// Waits until every change queued so far was applied.
    pub(super) async fn sync(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Change::Sync(tx)) {
            let _ = rx.await;
        }
    }

    fn channel(&self, local: &LocalNamespace, room: &str) -> Option<String> {
        self.tx.as_ref()?;
        let is_local_socket_id = local.get().is_some_and(|ns| ns.socket(room).is_some());
        self.protocol.room_channel(room, is_local_socket_id)
    }

    fn send(&self, change: Change) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(change).is_ok())
    }
}

/// Applies queued changes in order; what arrived meanwhile is applied as one batch (the last change of each
/// channel wins).
async fn apply(conn: Connection, mut rx: mpsc::UnboundedReceiver<Change>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 1024).await > 0 {
        let mut last: HashMap<String, bool> = HashMap::new();
        let mut syncs = Vec::new();
        for change in batch.drain(..) {
            match change {
                Change::Subscribe(c) => drop(last.insert(c, true)),
                Change::Unsubscribe(c) => drop(last.insert(c, false)),
                Change::Sync(tx) => syncs.push(tx),
            }
        }
        let (subscribe, unsubscribe): (Vec<_>, Vec<_>) =
            last.into_iter().partition(|(_, subscribe)| *subscribe);
        if !unsubscribe.is_empty() {
            conn.sunsubscribe(unsubscribe.into_iter().map(|(c, _)| c).collect())
                .await;
        }
        if !subscribe.is_empty() {
            conn.ssubscribe(subscribe.into_iter().map(|(c, _)| c).collect())
                .await;
        }
        for tx in syncs {
            let _ = tx.send(());
        }
    }
}
