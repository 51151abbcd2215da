//! The adapter: how a namespace's operations reach the other servers of a cluster, modelled on Node's
//! `ClusterAdapter`.
//!
//! The engine calls the namespace's [`Adapter`] for every broadcast and cluster-wide operation; the adapter
//! applies it locally through [`LocalNamespace`] and forwards it to the other servers. [`MemoryAdapter`] (one
//! server) only applies it locally.

mod memory;
pub mod recovery;

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rmpv::Value;

pub use memory::{MemoryAdapter, MemoryAdapterFactory};

use crate::sio::namespace::Namespace;
use crate::sio::packet::Packet;
use crate::sio::socket::Socket;

/// Which sockets an operation targets (Node's `BroadcastOptions` and flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastOptions {
    /// Sockets in any of these rooms; every socket when empty.
    pub rooms: Vec<String>,
    /// Minus the sockets in any of these rooms.
    pub except: Vec<String>,
    /// Only this server's sockets.
    pub local: bool,
    /// Drop the packet for sockets that cannot take it at once.
    pub volatile: bool,
    /// How long to wait for acknowledgements.
    pub timeout: Option<Duration>,
}

/// A socket as other servers see it (Node's `RemoteSocket`: `{id, handshake, rooms, data}`).
#[derive(Debug, Clone, PartialEq)]
pub struct SocketDescription {
    /// The socket id.
    pub id: String,
    /// Node's `socket.handshake` object.
    pub handshake: Value,
    /// Every room of the socket, its own-id room included.
    pub rooms: Vec<String>,
    /// `socket.data`.
    pub data: Value,
}

/// What a socket.io session needs to be restored on another connection (connection state recovery).
#[derive(Debug, Clone, PartialEq)]
pub struct PersistedSession {
    /// The socket id.
    pub sid: String,
    /// The private session id the client presents to recover.
    pub pid: String,
    /// The rooms the socket was in.
    pub rooms: Vec<String>,
    /// `socket.data`.
    pub data: Value,
    /// The latest offset when the socket connected, for a client that never received an offset (not in Node's
    /// format: Node servers ignore it).
    pub connected_offset: Option<String>,
}

/// A restored session and the events the client missed, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredSession {
    /// The session as it was persisted.
    pub session: PersistedSession,
    /// The `[event, ...args]` of every missed event, each with its offset as the last argument.
    pub missed: Vec<Vec<Value>>,
}

/// Acknowledgements of a broadcast: one response (the first argument of the client's ack) per client.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckResponses {
    /// The responses that arrived.
    pub responses: Vec<Value>,
    /// Whether every expected client (on every server) answered in time.
    pub complete: bool,
}

/// Why a cluster operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdapterError {
    /// The cluster cannot be reached now (e.g. Redis is away).
    #[error("cluster unavailable: {0}")]
    Unavailable(String),
    /// Not every server answered in time; never a silently partial result.
    #[error("not every server answered within the request timeout")]
    Timeout,
    /// The operation is not supported by this adapter.
    #[error("not supported by this adapter")]
    Unsupported,
}

/// The adapter of one namespace.
pub trait Adapter: Send + Sync + 'static {
    /// Delivers `packet` (an EVENT whose `nsp` is the namespace) to the targeted sockets of every server.
    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Like [`Adapter::broadcast`], collecting one acknowledgement per client until `opts.timeout`.
    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<AckResponses, AdapterError>>;

    /// Makes the targeted sockets of every server join `rooms`.
    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Makes the targeted sockets of every server leave `rooms`.
    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Disconnects the targeted sockets of every server (`close`: their connections too).
    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Describes the targeted sockets of every server; an error rather than a partial list.
    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketDescription>, AdapterError>>;

    /// Node's `serverSideEmit`: `[event, ...args]` to the other servers' namespace.
    fn server_side_emit(&self, data: Vec<Value>) -> BoxFuture<'_, Result<(), AdapterError>>;

    /// Node's `serverSideEmitWithAck`: one response per other server.
    fn server_side_emit_with_ack(
        &self,
        data: Vec<Value>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Value>, AdapterError>>;

    /// Number of servers of the cluster, this one included.
    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>>;

    /// Keeps a disconnected socket's session for connection state recovery.
    fn persist_session(&self, session: PersistedSession) -> BoxFuture<'_, ()>;

    /// A connected socket's recoverable state changed: it connected (or recovered), joined or left a room, or its
    /// `data` was set. Called with connection state recovery on only, from the socket's own handlers, so it must
    /// not wait.
    ///
    /// Why: Node keeps a session only when its socket disconnects, so the sessions of a server that crashes (or is
    /// killed) are lost. An adapter whose sessions live outside the process (the Redis streams mode) keeps each
    /// connected socket's session current from here, so that its client recovers on another server after a
    /// crash. Only the socket is named: the adapter reads its current state when it writes, so changes in quick
    /// succession cost one write. The default does nothing (sessions are kept at disconnect only).
    fn session_changed(&self, _socket: &Socket) {}

    /// A socket left for a reason whose session is not kept (a client or server namespace disconnect): a session
    /// kept while it was connected ([`Adapter::session_changed`]) must go, or the client could still recover it.
    /// Called with connection state recovery on only; a recoverable disconnect calls [`Adapter::persist_session`]
    /// instead.
    fn session_ended(&self, _socket: &Socket) {}

    /// Takes back a persisted session (once) and the events it missed since `offset` (since it connected, without
    /// one); `None` when it cannot be recovered.
    fn restore_session(
        &self,
        pid: String,
        offset: Option<String>,
    ) -> BoxFuture<'_, Result<Option<RestoredSession>, AdapterError>>;

    /// The offset of the latest stored packet (recorded when a socket connects).
    fn latest_offset(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(async { None })
    }

    /// A room got its first local member (sharded Redis subscribes to it).
    fn room_created(&self, _room: &str) {}

    /// A room lost its last local member.
    fn room_deleted(&self, _room: &str) {}
}

/// Creates the adapter of each namespace.
pub trait AdapterFactory: Send + Sync + 'static {
    /// The adapter of `namespace`.
    fn create(&self, namespace: LocalNamespace) -> Arc<dyn Adapter>;
}

/// The local side of a namespace, for its adapter: applies operations to this server's sockets only.
#[derive(Clone)]
pub struct LocalNamespace(pub(crate) Weak<Namespace>);

impl LocalNamespace {
    /// The namespace, while the server runs.
    pub fn get(&self) -> Option<Arc<Namespace>> {
        self.0.upgrade()
    }
}
