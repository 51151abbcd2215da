//! [`RedisAdapter`]: the engine's [`Adapter`] of one namespace, on the shared [`Shared`] cluster state. One job
//! per file:
//! - [`outbound`]: operations this server sends (broadcasts, joins, leaves, disconnects, server-side emits);
//! - [`inbound`]: the message loop, applying other servers' operations and answering their requests;
//! - [`request`]: requests that wait for one answer per other server (fetch sockets, server-side emit with
//!   acknowledgements, the server count);
//! - [`acks`]: broadcasts with acknowledgements, collected here and relayed for other servers;
//! - [`rooms`]: the room channels of the sharded `dynamic` mode, following the engine's room hooks;
//! - [`convert`]: engine types to wire types and back;
//! - [`streams`]: the streams mode's ordered appends, stream reader and sessions in Redis.
//!
//! Local delivery never waits for Redis: a broadcast reaches this server's sockets first, then is
//! published; a failed publish is counted and logged, never returned as a delivery failure.

mod acks;
pub(crate) mod convert;
mod inbound;
mod outbound;
mod publisher;
mod request;
mod rooms;
mod streams;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::Socket;
use engine::adapter::recovery::RecoveryStore;
use engine::adapter::{
    AckResponses, Adapter, AdapterError, BroadcastOptions, LocalNamespace, PersistedSession,
    RestoredSession, SocketDescription,
};
use engine::sio::packet::Packet;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rmpv::Value;

use crate::cluster::Shared;
use crate::connection::Connection;
use crate::protocol::{Mode, Protocol, Reply, RequestKind};
use crate::requests::Requests;
use rooms::RoomChannels;

/// How long a broadcast waits for acknowledgements when it names no timeout (the engine's default).
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// The adapter of one namespace.
pub(crate) struct RedisAdapter {
    local: LocalNamespace,
    shared: Arc<Shared>,
    protocol: Protocol,
    requests: Arc<Requests<Reply, RequestKind>>,
    nsp: String,
    rooms: RoomChannels,
    /// Connection state recovery on this server (classic and sharded modes, and without Redis: clients recover
    /// on the node they were on, as with Node's Redis adapter behind sticky sessions): every broadcast delivered
    /// here, local or from another server, gets this server's offset.
    recovery: Option<RecoveryStore>,
    /// Streams mode with Redis: the stream, its offsets and the sessions in Redis (recovery on any server).
    streams: Option<streams::Streams>,
    /// Streams mode: the reader knows where the stream ends (part of readiness).
    stream_positioned: AtomicBool,
    logged: Mutex<HashSet<&'static str>>,
    publisher: publisher::Publisher,
    /// Set once Redis confirmed this namespace's subscriptions. Before that a request's answers
    /// cannot reach this server (and PUBSUB NUMSUB does not count it yet), so requests fail at once.
    subscribed: AtomicBool,
}

impl RedisAdapter {
    /// The adapter of `local`, subscribed (in the background) to the namespace's channels.
    pub(crate) fn start(shared: Arc<Shared>, local: LocalNamespace) -> Arc<Self> {
        let nsp = local
            .get()
            .map(|ns| ns.name().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let protocol = Protocol::new(shared.config.mode, &shared.config.prefix, &nsp, &shared.uid);
        let rooms = RoomChannels::start(shared.connection.clone(), &protocol);
        let (streams, queue) = match (shared.config.mode, &shared.connection) {
            (Mode::Streams, Some(conn)) => {
                let sessions = local.get().and_then(|ns| ns.recovery().cloned()).map(|r| {
                    let settings = streams::SessionSettings {
                        prefix: shared.config.streams.session_prefix.clone(),
                        uid: shared.uid.clone(),
                        keep: r.max_disconnection,
                    };
                    streams::start_session_queue(conn.clone(), local.clone(), settings)
                });
                let (streams, queue) =
                    streams::Streams::new(&shared.config.streams, &nsp, sessions);
                (Some(streams), Some(queue))
            }
            _ => (None, None),
        };
        let recovery = local
            .get()
            .and_then(|ns| ns.recovery().cloned())
            .filter(|_| streams.is_none())
            .map(RecoveryStore::new);
        let publisher =
            publisher::Publisher::start(shared.connection.clone(), shared.metrics.clone());
        let adapter = Arc::new(Self {
            local,
            shared,
            protocol,
            requests: Arc::default(),
            nsp,
            rooms,
            recovery,
            streams,
            stream_positioned: AtomicBool::new(false),
            logged: Mutex::default(),
            publisher,
            subscribed: AtomicBool::new(false),
        });
        inbound::start(&adapter);
        if let Some(queue) = queue {
            streams::start(&adapter, queue);
        }
        adapter
    }

    /// Marks the server ready once Redis confirmed the namespace's subscriptions and, in streams mode, the reader
    /// knows where the stream ends.
    fn mark_ready_if_complete(&self) {
        let positioned = self.streams.is_none() || self.stream_positioned.load(Ordering::Acquire);
        if self.subscribed.load(Ordering::Acquire) && positioned {
            self.shared.mark_subscribed();
        }
    }

    /// The namespace name.
    pub(crate) fn nsp(&self) -> &str {
        &self.nsp
    }

    /// See [`crate::RedisCluster::sync_rooms`].
    pub(crate) async fn sync_rooms(&self) {
        self.rooms.sync().await;
    }

    fn connection(&self) -> Option<Connection> {
        self.shared.connection.clone()
    }

    /// The connection when it is up; `None` when alone or while Redis is away.
    fn connected(&self) -> Option<Connection> {
        self.shared
            .connection
            .clone()
            .filter(Connection::is_connected)
    }

    /// Delivers a broadcast to the local sockets, with this server's recovery offset when recovery is on.
    fn deliver_locally(&self, mut packet: Packet, opts: &BroadcastOptions) {
        let Some(ns) = self.local.get() else {
            return;
        };
        if let Some(store) = &self.recovery {
            store.on_broadcast(&mut packet, opts);
        }
        ns.deliver(&packet, opts);
    }

    /// The session writes (streams mode with Redis and recovery on).
    fn session_queue(&self) -> Option<&streams::SessionQueue> {
        self.streams.as_ref()?.sessions.as_ref()
    }

    /// Waits (at most `timeout`) until the session writes queued so far reached Redis.
    pub(crate) async fn flush_sessions(&self, timeout: Duration) -> bool {
        match self.session_queue() {
            Some(queue) => queue.flush(timeout).await,
            None => true,
        }
    }

    /// Whether `kind` was not logged yet (then it is now).
    fn log_once(&self, kind: &'static str) -> bool {
        self.logged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind)
    }
}

impl Adapter for RedisAdapter {
    fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.broadcast_to_all(packet, opts).boxed()
    }

    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<AckResponses, AdapterError>> {
        self.broadcast_collecting_acks(packet, opts).boxed()
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.join_everywhere(opts, rooms).boxed()
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.leave_everywhere(opts, rooms).boxed()
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.disconnect_everywhere(opts, close).boxed()
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketDescription>, AdapterError>> {
        self.fetch_everywhere(opts).boxed()
    }

    fn server_side_emit(&self, data: Vec<Value>) -> BoxFuture<'_, Result<(), AdapterError>> {
        self.emit_to_servers(data).boxed()
    }

    fn server_side_emit_with_ack(
        &self,
        data: Vec<Value>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Value>, AdapterError>> {
        self.emit_to_servers_with_ack(data, timeout).boxed()
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        self.count_servers().boxed()
    }

    fn persist_session(&self, session: PersistedSession) -> BoxFuture<'_, ()> {
        match (&self.streams, &self.recovery) {
            (Some(streams), _) => {
                if let Some(queue) = &streams.sessions {
                    queue.keep(session);
                }
            }
            (None, Some(store)) => store.persist(session),
            (None, None) => {}
        }
        async {}.boxed()
    }

    fn session_changed(&self, socket: &Socket) {
        if let Some(queue) = self.session_queue() {
            queue.changed(socket.id);
        }
    }

    fn session_ended(&self, socket: &Socket) {
        if let (Some(queue), Some(pid)) = (self.session_queue(), socket.pid()) {
            queue.forget(socket.id.as_str(), pid);
        }
    }

    fn restore_session(
        &self,
        pid: String,
        offset: Option<String>,
    ) -> BoxFuture<'_, Result<Option<RestoredSession>, AdapterError>> {
        if let Some(streams) = &self.streams {
            return async move { self.restore_from_stream_store(streams, &pid, offset).await }
                .boxed();
        }
        let restored = self
            .recovery
            .as_ref()
            .and_then(|store| store.restore(&pid, offset.as_deref()));
        async { Ok(restored) }.boxed()
    }

    fn latest_offset(&self) -> BoxFuture<'_, Option<String>> {
        let latest = match &self.streams {
            Some(streams) => streams.latest_offset(),
            None => self
                .recovery
                .as_ref()
                .and_then(RecoveryStore::latest_offset),
        };
        async { latest }.boxed()
    }

    fn room_created(&self, room: &str) {
        self.rooms.created(&self.local, room);
    }

    fn room_deleted(&self, room: &str) {
        self.rooms.deleted(&self.local, room);
    }
}
