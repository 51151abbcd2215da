//! Packets sent straight to one socket (acks and `error` events). A full outgoing buffer marks a
//! slow consumer: the socket is disconnected and counted instead of letting memory grow or silently
//! losing its messages. (Broadcasts go through the adapter, which applies the same rule.)

use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};

use crate::adapter::ServerAdapter;
use crate::state::AppState;

/// Accounts for the outcome of one send to `socket`: counts it, and disconnects the socket
/// when its buffer is full. Returns whether the packet was queued.
pub fn sent(
    result: Result<(), SendError>,
    socket: &SocketRef<ServerAdapter>,
    app: &AppState,
) -> bool {
    match result {
        Ok(()) => {
            app.metrics.packets_sent.inc();
            true
        }
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            if app.cluster.note_slow_consumer(socket.id) {
                tracing::warn!(sid = %socket.id, "outgoing buffer full: disconnecting slow consumer");
            }
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
