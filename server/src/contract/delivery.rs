//! Delivery of contract events to this node's sockets.
//!
//! Each target socket is sent to individually so that a full outgoing buffer is attributed to
//! the socket that caused it: that socket is a slow consumer and is disconnected (and counted)
//! instead of letting memory grow or silently losing its messages.

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};

use crate::adapter::ServerAdapter;
use crate::metrics::Metrics;

/// Sends `event` with `payload` to every socket of `targets`; returns how many received it.
pub fn emit<T: Serialize + ?Sized>(
    targets: Vec<SocketRef<ServerAdapter>>,
    event: &str,
    payload: &T,
    metrics: &Metrics,
) -> usize {
    targets
        .into_iter()
        .filter(|socket| sent(socket.emit(event, payload), socket, metrics))
        .count()
}

/// Accounts for the outcome of one send to `socket`: counts it, and disconnects the socket
/// when its buffer is full. Returns whether the packet was queued.
pub fn sent(
    result: Result<(), SendError>,
    socket: &SocketRef<ServerAdapter>,
    metrics: &Metrics,
) -> bool {
    match result {
        Ok(()) => {
            metrics.packets_sent.inc();
            true
        }
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            metrics.slow_consumer_disconnects.inc();
            tracing::warn!(sid = %socket.id, "outgoing buffer full: disconnecting slow consumer");
            // A failure here means the socket is already closing.
            let _ = socket.clone().disconnect();
            false
        }
        Err(SendError::Socket(SocketError::Closed)) => false,
        Err(SendError::Serialize(err)) => {
            tracing::error!(sid = %socket.id, %err, "cannot encode outgoing packet");
            false
        }
    }
}
