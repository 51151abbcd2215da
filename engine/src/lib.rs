//! The project's own Engine.IO (v4, and v3 on request) and socket.io (v5) server engine.
//!
//! Why it exists: the borrowed engine (socketioxide/engineioxide) cost 1.7x Node's memory per idle connection,
//! spent its fan-out CPU on per-socket channels and task wake-ups, and deviated from Node's protocol where it
//! mattered (an immediate first ping, a close packet on ping timeout, no way to disconnect a slow consumer, no
//! hook for connection state recovery). The measurements are in `bench/results/`.
//!
//! Layers, bottom up, each in its own folder:
//! - [`value`]: the JSON dialect of `JSON.parse`/`JSON.stringify` on [`rmpv::Value`];
//! - [`ws`]: WebSocket frames;
//! - [`eio`]: Engine.IO packets and payloads, sessions with their queue budgets and heartbeat, one task per
//!   session, the polling and WebSocket transports;
//! - [`sio`]: socket.io packets and parsers, namespaces, sockets, rooms, acknowledgements, broadcasts;
//! - [`adapter`]: how a namespace reaches the other servers of a cluster (Node's `ClusterAdapter`);
//! - [`io`]: the server handle and its tower layer.
//!
//! Each session has exactly one task; a broadcast encodes its packet once and queues a reference to the same
//! bytes for every recipient, which its task writes with one vectored write.

pub mod adapter;
pub mod config;
pub mod eio;
pub mod hooks;
pub mod io;
pub mod sid;
pub mod sio;
pub mod value;
pub mod ws;

#[cfg(test)]
mod testing;

pub use adapter::{
    Adapter, AdapterError, AdapterFactory, BroadcastOptions, LocalNamespace, SocketDescription,
};
pub use config::{EngineConfig, Transports};
pub use eio::handshake::{Handshake, RemoteAddr};
pub use eio::reason::DisconnectReason;
pub use eio::session::{SendError, Transport};
pub use hooks::Hooks;
pub use io::{EngineLayer, Io, IoBuilder};
pub use sid::Sid;
pub use sio::ack::{AckError, AckSender};
pub use sio::broadcast::BroadcastOperators;
pub use sio::namespace::{ConnectError, Namespace, NamespaceHandler};
pub use sio::socket::Socket;
