//! Instrumentation hooks: what metrics and the admin UI observe of the engine.
//!
//! Every method has an empty default; without hooks (the default) the engine makes no call at all, so
//! instrumentation costs nothing when it is off.

use std::sync::Arc;

use rmpv::Value;

use crate::eio::reason::DisconnectReason;
use crate::eio::session::Transport;
use crate::sid::Sid;
use crate::sio::socket::Socket;

/// Observes the engine. Calls happen on the engine's hot paths: keep them cheap (count, or queue for later).
pub trait Hooks: Send + Sync + 'static {
    /// An Engine.IO connection opened.
    fn connection_opened(&self, _sid: Sid, _transport: Transport) {}

    /// An Engine.IO connection closed.
    fn connection_closed(&self, _sid: Sid, _transport: Transport, _reason: DisconnectReason) {}

    /// A connection moved from polling to WebSocket.
    fn transport_upgraded(&self, _sid: Sid) {}

    /// A socket connected to a namespace (its CONNECT answer is queued).
    fn socket_connected(&self, _socket: &Arc<Socket>) {}

    /// A socket left its namespace (its rooms already left).
    fn socket_disconnected(&self, _socket: &Arc<Socket>, _reason: DisconnectReason) {}

    /// A socket joined a room (its own-id room excluded).
    fn room_joined(&self, _socket: &Socket, _room: &str) {}

    /// A socket left a room.
    fn room_left(&self, _socket: &Socket, _room: &str) {}

    /// A client sent an event (`[event, ...args]` as `event` and `args`).
    fn event_received(&self, _socket: &Arc<Socket>, _event: &str, _args: &[Value]) {}

    /// An event was queued for a socket (a direct emit, or one recipient of a broadcast); `data` is
    /// `[event, ...args]`.
    fn event_sent(&self, _socket: &Socket, _data: &[Value]) {}
}

/// The hooks of an engine, if any.
pub(crate) type MaybeHooks = Option<Arc<dyn Hooks>>;
