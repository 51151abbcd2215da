//! [`RedisAdapter`]: socketioxide's `CoreAdapter` for one namespace, on the shared
//! [`RedisCluster`].
//!
//! Local delivery never waits for Redis: a broadcast reaches this server's sockets first, then is
//! published; a failed publish is counted and logged, never returned as a delivery failure.
//! Local sockets are sent to one by one so that a full outgoing buffer is attributed to its
//! socket, which is then disconnected as a slow consumer. Messages from other servers are handled
//! by one task per namespace; a malformed one is counted and logged once per kind.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::{self, BoxStream, FusedStream, Stream, StreamExt};
use rmpv::Value;
use socketioxide_core::adapter::errors::{AdapterError, BroadcastError, SocketError};
use socketioxide_core::adapter::{
    AckStreamItem, BroadcastFlags, BroadcastOptions, CoreAdapter, CoreLocalAdapter, DefinedAdapter,
    RemoteSocketData, Room, RoomParam, SocketEmitter,
};
use socketioxide_core::packet::Packet;
use socketioxide_core::{Sid, Uid};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio::time::Instant;

use crate::cluster::{BoxFuture, ClusterError, ClusterOps, Fetched, RedisCluster, Shared};
use crate::connection::Connection;
use crate::convert::{self, WireParser, opts_from_wire, opts_to_wire, single};
use crate::metrics::MalformedLabel;
use crate::protocol::{Incoming, LegacyAction, Mode, Op, Protocol, Reply, RequestKind};
use crate::requests::Requests;
use crate::wire::{self, RemoteSocketData as WireSocket};

/// The adapter of one namespace.
pub struct RedisAdapter<E> {
    local: CoreLocalAdapter<E>,
    shared: Arc<Shared>,
    protocol: Protocol,
    parser: WireParser,
    requests: Arc<Requests<Reply, RequestKind>>,
    nsp: String,
    room_channels: Mutex<HashSet<String>>,
    logged: Mutex<HashSet<&'static str>>,
    /// Set once Redis confirmed this namespace's subscriptions. Before that a request's answers
    /// cannot reach this server (and PUBSUB NUMSUB does not count it yet), so requests fail at once.
    subscribed: AtomicBool,
}

impl<E: SocketEmitter> DefinedAdapter for RedisAdapter<E> {}

impl<E: SocketEmitter> CoreAdapter<E> for RedisAdapter<E> {
    type Error = ClusterError;
    type State = RedisCluster;
    type AckStream = AckStream<E::AckError>;
    type InitRes = ();

    fn new(state: &RedisCluster, local: CoreLocalAdapter<E>) -> Self {
        let uid = local.server_id().to_string();
        let nsp = local.path().to_string();
        let shared = state.shared.clone();
        let protocol = Protocol::new(shared.config.mode, &shared.config.prefix, &nsp, &uid);
        Self {
            parser: WireParser::detect(local.parser()),
            local,
            shared,
            protocol,
            requests: Arc::default(),
            nsp,
            room_channels: Mutex::default(),
            logged: Mutex::default(),
            subscribed: AtomicBool::new(false),
        }
    }

    fn init(self: Arc<Self>, on_success: impl FnOnce() + Send + 'static) {
        let ops: Arc<dyn ClusterOps> = self.clone();
        self.shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.nsp.clone(), ops);
        if let Some(conn) = self.shared.connection.clone() {
            // Subscribe to the receiver before subscribing to channels so nothing is missed.
            let messages = conn.messages();
            let weak = Arc::downgrade(&self);
            tokio::spawn(async move {
                let subs = match weak.upgrade() {
                    Some(this) => this.protocol.subscriptions(),
                    None => return,
                };
                // Ready once Redis confirmed the namespace's subscriptions; until then the server is
                // not ready either (it would acknowledge messages no other node can get).
                loop {
                    conn.connected().await;
                    let patterns =
                        subs.patterns.is_empty() || conn.psubscribe(subs.patterns.clone()).await;
                    let channels =
                        subs.channels.is_empty() || conn.subscribe(subs.channels.clone()).await;
                    let shard = subs.shard_channels.is_empty()
                        || conn.ssubscribe(subs.shard_channels.clone()).await;
                    if patterns && channels && shard {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                match weak.upgrade() {
                    Some(this) => {
                        this.subscribed.store(true, Ordering::Release);
                        this.shared.mark_subscribed();
                    }
                    None => return,
                }
                receive(weak, messages).await;
            });
            if matches!(self.protocol.mode(), Mode::Sharded(_)) {
                tokio::spawn(drop_unused_room_channels(Arc::downgrade(&self)));
            }
        }
        on_success();
    }

    async fn close(&self) -> Result<(), ClusterError> {
        self.shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.nsp);
        Ok(())
    }

    async fn server_count(&self) -> Result<u16, ClusterError> {
        match self.connection() {
            None => Ok(1),
            Some(conn) => {
                let (channel, sharded) = self.protocol.server_count_channel();
                let count = conn.subscriber_count(sharded, channel).await?;
                Ok(u16::try_from(count.max(1)).unwrap_or(u16::MAX))
            }
        }
    }

    async fn broadcast(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<(), BroadcastError> {
        let remote = self
            .remote_targets(&opts)
            .zip(self.parser.packet_to_wire(&packet).ok());
        self.deliver(packet, opts);
        if let Some((opts, data)) = remote {
            self.publish(Op::Broadcast {
                data,
                opts,
                request_id: None,
            })
            .await;
        }
        Ok(())
    }

    async fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    ) -> Result<Self::AckStream, ClusterError> {
        let timeout = timeout.unwrap_or_else(|| self.local.ack_timeout());
        let remote = self
            .remote_targets(&opts)
            .zip(self.parser.packet_to_wire(&packet).ok());
        let (local, _) = self.local.broadcast_with_ack(packet, opts, Some(timeout));
        let local = local.boxed();
        let Some((mut wopts, data)) = remote else {
            return Ok(AckStream {
                inner: local.fuse(),
            });
        };
        let Some(conn) = self.connected() else {
            self.note_publish_failure("broadcast with ack: redis unavailable");
            return Ok(AckStream {
                inner: local.fuse(),
            });
        };
        let expected_servers = self.other_servers(&conn).await.unwrap_or(0);
        let request_id = Sid::new().to_string();
        let pending = self
            .requests
            .register(request_id.clone(), RequestKind::Broadcast);
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        wopts.flags = Some(wopts.flags().with_timeout(millis));
        self.publish(Op::Broadcast {
            data,
            opts: wopts,
            request_id: Some(request_id),
        })
        .await;

        let (tx, rx) = mpsc::unbounded_channel::<AckStreamItem<E::AckError>>();
        let parser = self.parser;
        let metrics = self.shared.metrics.clone();
        let deadline = Instant::now() + timeout;
        tokio::spawn(async move {
            let mut pending = pending;
            let (mut servers, mut expected_acks, mut acks) = (0usize, 0u64, 0u64);
            while servers < expected_servers || acks < expected_acks {
                match pending.next_before(deadline).await {
                    Some(Reply::ClientCount { count, .. }) => {
                        servers += 1;
                        expected_acks += count;
                    }
                    Some(Reply::Ack { data, .. }) => {
                        acks += 1;
                        if let Ok(v) = parser.wire_to_ack(data) {
                            let _ = tx.send((Sid::ZERO, Ok(v)));
                        }
                    }
                    Some(_) => {}
                    None => {
                        metrics.request_timeouts.inc();
                        if let Some(err) = timeout_error::<E::AckError>() {
                            let _ = tx.send((Sid::ZERO, Err(err)));
                        }
                        break;
                    }
                }
            }
        });
        let remote = stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(AckStream {
            inner: stream::select(local, remote).boxed().fuse(),
        })
    }

    async fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), ClusterError> {
        let rooms: Vec<Room> = rooms.into_room_iter().collect();
        self.local.add_sockets(opts.clone(), rooms.clone());
        let names: Vec<String> = rooms.iter().map(|r| r.to_string()).collect();
        for room in &names {
            self.subscribe_room(room).await;
        }
        if let Some(opts) = self.remote_targets(&opts) {
            self.publish(Op::Join {
                opts: plain(opts),
                rooms: names,
            })
            .await;
        }
        Ok(())
    }

    async fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: impl RoomParam,
    ) -> Result<(), ClusterError> {
        let rooms: Vec<Room> = rooms.into_room_iter().collect();
        self.local.del_sockets(opts.clone(), rooms.clone());
        if let Some(opts) = self.remote_targets(&opts) {
            let rooms = rooms.iter().map(|r| r.to_string()).collect();
            self.publish(Op::Leave {
                opts: plain(opts),
                rooms,
            })
            .await;
        }
        Ok(())
    }

    async fn disconnect_socket(&self, opts: BroadcastOptions) -> Result<(), BroadcastError> {
        let result = self.local.disconnect_socket(opts.clone());
        if let Some(opts) = self.remote_targets(&opts) {
            self.publish(Op::Disconnect {
                opts: plain(opts),
                close: false,
            })
            .await;
        }
        result.map_err(BroadcastError::Socket)
    }

    async fn rooms(&self, opts: BroadcastOptions) -> Result<Vec<Room>, ClusterError> {
        let mut rooms: HashSet<Room> = self.local.rooms(opts.clone());
        let wants_remote =
            !opts.has_flag(BroadcastFlags::Local) && self.protocol.mode() == Mode::Classic;
        if wants_remote && let Some(conn) = self.connection() {
            let answers = self
                .request(
                    &conn,
                    RequestKind::AllRooms,
                    self.shared.config.request_timeout,
                    |request_id| Op::AllRooms { request_id },
                )
                .await
                .complete()?;
            for answer in answers {
                if let Reply::AllRooms { rooms: r, .. } = answer {
                    rooms.extend(r.into_iter().map(Room::Owned));
                }
            }
        }
        Ok(rooms.into_iter().collect())
    }

    async fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<RemoteSocketData>, ClusterError> {
        let mut sockets = self.local.fetch_sockets(opts.clone());
        if let (Some(wopts), Some(conn)) = (self.remote_targets(&opts), self.connection()) {
            let answers = self
                .request(
                    &conn,
                    RequestKind::Fetch,
                    self.shared.config.request_timeout,
                    |request_id| Op::Fetch {
                        request_id,
                        opts: plain(wopts),
                    },
                )
                .await
                .complete()?;
            let ns = self.local.path().clone();
            for answer in answers {
                if let Reply::Fetch {
                    sockets: remote, ..
                } = answer
                {
                    // Node socket ids (20 characters) have no socketioxide `Sid`: use ClusterOps::fetch_sockets.
                    sockets.extend(remote.iter().filter_map(|s| {
                        let id = convert::parse_sid(&s.id)?;
                        Some(RemoteSocketData {
                            id,
                            server_id: Uid::ZERO,
                            ns: ns.clone(),
                        })
                    }));
                }
            }
        }
        Ok(sockets)
    }

    fn get_local(&self) -> &CoreLocalAdapter<E> {
        &self.local
    }
}

impl From<ClusterError> for AdapterError {
    fn from(err: ClusterError) -> Self {
        AdapterError(Box::new(err))
    }
}

/// Options for requests: Node sends no `flags` key in join/leave/disconnect/fetch requests.
fn plain(mut opts: wire::BroadcastOptions) -> wire::BroadcastOptions {
    opts.flags = None;
    opts
}

/// Answers to a cluster request: every answer that arrived, and the error when not all did.
struct Answers {
    replies: Vec<Reply>,
    error: Option<ClusterError>,
}

impl Answers {
    /// All answers, or the error (for callers that cannot use a partial list).
    fn complete(self) -> Result<Vec<Reply>, ClusterError> {
        match self.error {
            None => Ok(self.replies),
            Some(err) => Err(err),
        }
    }
}

/// socketioxide's ack error for a timeout, built through its serde form (the type is generic here).
fn timeout_error<T: serde::de::DeserializeOwned>() -> Option<T> {
    serde_json::from_value(serde_json::Value::String("Timeout".into())).ok()
}

impl<E: SocketEmitter> RedisAdapter<E> {
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

    /// The wire options for other servers, or `None` when the operation stays local.
    fn remote_targets(&self, opts: &BroadcastOptions) -> Option<wire::BroadcastOptions> {
        self.shared.connection.as_ref()?;
        if opts.has_flag(BroadcastFlags::Local)
            || (opts.server_id.is_some() && opts.is_local(self.local.server_id()))
        {
            return None;
        }
        opts_to_wire(opts)
    }

    /// Delivers to each matching local socket; disconnects the ones whose buffer is full.
    fn deliver(&self, packet: Packet, opts: BroadcastOptions) {
        if opts.has_flag(BroadcastFlags::Volatile) {
            let _ = self.local.broadcast(packet, opts);
            return;
        }
        let config = &self.shared.config;
        let mut slow = Vec::new();
        for sid in self.local.sockets(opts) {
            match self.local.broadcast(packet.clone(), single(sid)) {
                Ok(()) => drop(config.packets_sent.inc()),
                Err(errors)
                    if errors
                        .iter()
                        .any(|e| matches!(e, SocketError::InternalChannelFull)) =>
                {
                    slow.push(sid)
                }
                Err(_) => {}
            }
        }
        for sid in slow {
            // The DISCONNECT packet may not fit in a full buffer; Engine.IO then closes the
            // connection at its next ping, which cannot be queued either.
            if self.shared.note_slow_consumer(sid) {
                tracing::warn!(%sid, "outgoing buffer full: disconnecting slow consumer");
            }
            let _ = self.local.disconnect_socket(single(sid));
        }
    }

    async fn publish(&self, op: Op) {
        let Some(conn) = self.connection() else {
            return;
        };
        let out = self.protocol.encode_op(op);
        if let Err(err) = conn.publish(out.sharded, &out.channel, out.payload).await {
            self.note_publish_failure(&err.to_string());
        }
    }

    async fn reply(&self, requester: &str, reply: Reply) {
        let Some(conn) = self.connection() else {
            return;
        };
        let out = self.protocol.encode_reply(requester, reply);
        if let Err(err) = conn.publish(out.sharded, &out.channel, out.payload).await {
            self.note_publish_failure(&err.to_string());
        }
    }

    fn note_publish_failure(&self, err: &str) {
        if self.log_once("publish") {
            tracing::warn!(%err, "publish to redis failed; delivering locally only (logged once)");
        } else {
            tracing::debug!(%err, "publish to redis failed");
        }
    }

    fn log_once(&self, kind: &'static str) -> bool {
        self.logged
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(kind)
    }

    async fn other_servers(&self, conn: &Connection) -> Result<usize, ClusterError> {
        let (channel, sharded) = self.protocol.server_count_channel();
        let count = conn.subscriber_count(sharded, channel).await?;
        Ok(usize::try_from(count.saturating_sub(1)).unwrap_or(usize::MAX))
    }

    /// Sends a request and collects one answer per other server within the request timeout.
    async fn request(
        &self,
        conn: &Connection,
        kind: RequestKind,
        timeout: Duration,
        op: impl FnOnce(String) -> Op,
    ) -> Answers {
        let failed = |err: ClusterError| Answers {
            replies: Vec::new(),
            error: Some(err),
        };
        if !conn.is_connected() {
            return failed(ClusterError::Unavailable(
                crate::connection::ConnectionError::Down,
            ));
        }
        // A server restarted behind a proxy takes clients before its subscriptions are confirmed;
        // a request sent then would wait the whole timeout for answers it cannot receive.
        if !self.subscribed.load(Ordering::Acquire) {
            return failed(ClusterError::Unavailable(
                crate::connection::ConnectionError::NotSubscribed,
            ));
        }
        let expected = match self.other_servers(conn).await {
            Ok(0) => {
                return Answers {
                    replies: Vec::new(),
                    error: None,
                };
            }
            Ok(n) => n,
            Err(err) => return failed(err),
        };
        let request_id = Sid::new().to_string();
        let pending = self.requests.register(request_id.clone(), kind);
        let out = self.protocol.encode_op(op(request_id));
        if let Err(err) = conn.publish(out.sharded, &out.channel, out.payload).await {
            return failed(err.into());
        }
        match pending.collect(expected, timeout).await {
            Ok(replies) => Answers {
                replies,
                error: None,
            },
            Err(t) => {
                self.shared.metrics.request_timeouts.inc();
                let error = ClusterError::Timeout {
                    received: t.partial.len(),
                    expected: t.expected,
                };
                Answers {
                    replies: t.partial,
                    error: Some(error),
                }
            }
        }
    }

    async fn subscribe_room(&self, room: &str) {
        let Some(channel) = self.protocol.room_channel(room) else {
            return;
        };
        let Some(conn) = self.connection() else {
            return;
        };
        let new = self
            .room_channels
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(channel.clone());
        if new {
            conn.ssubscribe(vec![channel]).await;
        }
    }

    /// Local sockets matching `opts`, with the details other servers see.
    fn local_sockets(&self, opts: BroadcastOptions) -> Vec<WireSocket> {
        self.local
            .sockets(opts)
            .into_iter()
            .map(|sid| {
                let info = self.shared.socket_info(sid);
                let mut rooms: Vec<String> = self
                    .local
                    .socket_rooms(sid)
                    .into_iter()
                    .map(|r| r.to_string())
                    .collect();
                rooms.sort();
                WireSocket {
                    id: sid.to_string(),
                    handshake: info
                        .as_ref()
                        .map(|i| i.handshake.clone())
                        .unwrap_or_default(),
                    rooms,
                    data: info.and_then(|i| i.data),
                }
            })
            .collect()
    }

    async fn handle(&self, channel: &str, payload: &[u8]) {
        self.shared.metrics.received.inc();
        let requests = self.requests.clone();
        let incoming = match self
            .protocol
            .decode(channel, payload, |id| requests.kind_of(id))
        {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return,
            Err(err) => {
                let kind = self.protocol.channel_kind(channel);
                self.shared
                    .metrics
                    .malformed
                    .get_or_create(&MalformedLabel { kind })
                    .inc();
                if self.log_once(kind) {
                    tracing::warn!(%err, channel, "malformed {kind} message dropped (logged once per kind)");
                }
                return;
            }
        };
        match incoming {
            Incoming::Reply(reply) => {
                let id = reply.request_id().to_owned();
                self.requests.deliver(&id, reply);
            }
            Incoming::Op { uid, op } => self.apply(uid.unwrap_or_default(), op).await,
            Incoming::Sockets {
                uid,
                request_id,
                rooms,
            } => {
                let opts = opts_from_wire(&wire::BroadcastOptions::new(rooms, vec![]));
                let sockets = self
                    .local
                    .sockets(opts)
                    .into_iter()
                    .map(|s| s.to_string())
                    .collect();
                self.reply(
                    &uid,
                    Reply::Sockets {
                        request_id,
                        sockets,
                    },
                )
                .await;
            }
            Incoming::Legacy {
                uid,
                request_id,
                sid,
                action,
            } => {
                let Some(sid) =
                    convert::parse_sid(&sid).filter(|s| !self.local.sockets(single(*s)).is_empty())
                else {
                    return;
                };
                match action {
                    LegacyAction::Join(room) => {
                        self.local.add_sockets(single(sid), room.clone());
                        self.subscribe_room(&room).await;
                    }
                    LegacyAction::Leave(room) => self.local.del_sockets(single(sid), room),
                    LegacyAction::Disconnect(_) => drop(self.local.disconnect_socket(single(sid))),
                }
                self.reply(&uid, Reply::Done { request_id }).await;
            }
        }
    }

    async fn apply(&self, uid: String, op: Op) {
        match op {
            Op::Broadcast {
                data,
                opts,
                request_id: None,
            } => match self.parser.wire_to_packet(&self.nsp, data) {
                Ok(packet) => self.deliver(packet, opts_from_wire(&opts)),
                Err(err) => self.malformed("broadcast", &err.to_string()),
            },
            Op::Broadcast {
                data,
                opts,
                request_id: Some(request_id),
            } => {
                let packet = match self.parser.wire_to_packet(&self.nsp, data) {
                    Ok(packet) => packet,
                    Err(err) => return self.malformed("broadcast", &err.to_string()),
                };
                let timeout = opts.flags().timeout().map(Duration::from_millis);
                let (acks, count) =
                    self.local
                        .broadcast_with_ack(packet, opts_from_wire(&opts), timeout);
                let count = u64::from(count);
                self.reply(
                    &uid,
                    Reply::ClientCount {
                        request_id: request_id.clone(),
                        count,
                    },
                )
                .await;
                if count > 0
                    && let Some(conn) = self.connection()
                {
                    // Each acknowledgement is relayed as it arrives, by a task of its own, so that a
                    // client that never answers holds up neither the others nor this message loop.
                    let protocol = self.protocol.clone();
                    let parser = self.parser;
                    tokio::spawn(async move {
                        let mut acks = std::pin::pin!(acks);
                        while let Some((_, ack)) = acks.next().await {
                            let Ok(value) = ack else { continue };
                            let data = parser.ack_to_wire(&value);
                            let reply = Reply::Ack {
                                request_id: request_id.clone(),
                                data,
                            };
                            let out = protocol.encode_reply(&uid, reply);
                            let _ = conn.publish(out.sharded, &out.channel, out.payload).await;
                        }
                    });
                }
            }
            Op::Join { opts, rooms } => {
                self.local.add_sockets(opts_from_wire(&opts), rooms.clone());
                for room in &rooms {
                    self.subscribe_room(room).await;
                }
            }
            Op::Leave { opts, rooms } => self.local.del_sockets(opts_from_wire(&opts), rooms),
            Op::Disconnect { opts, close: _ } => {
                let _ = self.local.disconnect_socket(opts_from_wire(&opts));
            }
            Op::Fetch { request_id, opts } => {
                let sockets = self.local_sockets(opts_from_wire(&opts));
                self.reply(
                    &uid,
                    Reply::Fetch {
                        request_id,
                        sockets,
                    },
                )
                .await;
            }
            Op::AllRooms { request_id } => {
                let mut all = BroadcastOptions::default();
                all.add_flag(BroadcastFlags::Broadcast);
                let rooms = self
                    .local
                    .rooms(all)
                    .into_iter()
                    .map(|r| r.to_string())
                    .collect();
                self.reply(&uid, Reply::AllRooms { request_id, rooms })
                    .await;
            }
            Op::ServerSideEmit { request_id, data } => {
                let Some(handler) = self.shared.server_side_handler() else {
                    return;
                };
                let ack = handler(data);
                if let Some(request_id) = request_id {
                    self.reply(
                        &uid,
                        Reply::ServerSideEmit {
                            request_id,
                            data: ack,
                        },
                    )
                    .await;
                }
            }
        }
    }

    fn malformed(&self, kind: &'static str, err: &str) {
        self.shared
            .metrics
            .malformed
            .get_or_create(&MalformedLabel { kind })
            .inc();
        if self.log_once(kind) {
            tracing::warn!(%err, "malformed {kind} message dropped (logged once per kind)");
        }
    }
}

/// How often the sharded dynamic mode drops the channels of rooms that no local socket is in.
const ROOM_SWEEP: Duration = Duration::from_secs(2);

/// Sharded `dynamic` mode: room channels are subscribed eagerly on join and dropped here, in the
/// background, once no local socket is in the room (sockets leave rooms without the adapter
/// being told, e.g. when they disconnect).
async fn drop_unused_room_channels<E: SocketEmitter>(adapter: Weak<RedisAdapter<E>>) {
    loop {
        tokio::time::sleep(ROOM_SWEEP).await;
        let Some(this) = adapter.upgrade() else {
            return;
        };
        let Some(conn) = this.connection() else {
            return;
        };
        let stale: Vec<String> = {
            let mut subscribed = this.room_channels.lock().unwrap_or_else(|p| p.into_inner());
            let mut all = BroadcastOptions::default();
            all.add_flag(BroadcastFlags::Broadcast);
            let wanted: HashSet<String> = this
                .local
                .rooms(all)
                .iter()
                .filter_map(|r| this.protocol.room_channel(r))
                .collect();
            let stale: Vec<String> = subscribed.difference(&wanted).cloned().collect();
            stale.iter().for_each(|c| {
                subscribed.remove(c);
            });
            stale
        };
        if !stale.is_empty() {
            conn.sunsubscribe(stale.clone()).await;
            // A join may have subscribed one of them again meanwhile: restore it.
            let rejoined: Vec<String> = {
                let subscribed = this.room_channels.lock().unwrap_or_else(|p| p.into_inner());
                stale
                    .into_iter()
                    .filter(|c| subscribed.contains(c))
                    .collect()
            };
            if !rejoined.is_empty() {
                conn.ssubscribe(rejoined).await;
            }
        }
    }
}

/// The message loop of one namespace; ends when the adapter is dropped.
async fn receive<E: SocketEmitter>(
    adapter: Weak<RedisAdapter<E>>,
    mut messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
) {
    loop {
        let message = match messages.recv().await {
            Ok(m) => m,
            Err(RecvError::Lagged(n)) => {
                if let Some(this) = adapter.upgrade() {
                    this.shared
                        .metrics
                        .malformed
                        .get_or_create(&MalformedLabel { kind: "lagged" })
                        .inc_by(n);
                    tracing::warn!(dropped = n, "adapter fell behind redis; messages dropped");
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(this) = adapter.upgrade() else {
            return;
        };
        let Some(payload) = message.value.as_bytes() else {
            continue;
        };
        this.handle(&message.channel, payload).await;
    }
}

impl<E: SocketEmitter> ClusterOps for RedisAdapter<E> {
    fn fetch_sockets(&self, rooms: Vec<String>) -> BoxFuture<'_, Fetched> {
        Box::pin(async move {
            let wopts = wire::BroadcastOptions::new(rooms, vec![]);
            let mut sockets = self.local_sockets(opts_from_wire(&wopts));
            let Some(conn) = self.connection() else {
                return Fetched {
                    sockets,
                    error: None,
                };
            };
            let answers = self
                .request(
                    &conn,
                    RequestKind::Fetch,
                    self.shared.config.request_timeout,
                    |request_id| Op::Fetch {
                        request_id,
                        opts: wopts,
                    },
                )
                .await;
            // On a timeout the answers that did arrive are kept, beside the error.
            for answer in answers.replies {
                if let Reply::Fetch {
                    sockets: remote, ..
                } = answer
                {
                    sockets.extend(remote);
                }
            }
            let error = answers.error;
            Fetched { sockets, error }
        })
    }

    fn server_side_emit(
        &self,
        data: Vec<Value>,
        ack: Option<Duration>,
    ) -> BoxFuture<'_, Result<Vec<Value>, ClusterError>> {
        Box::pin(async move {
            let Some(conn) = self.connection() else {
                return Ok(Vec::new());
            };
            let Some(timeout) = ack else {
                if !conn.is_connected() {
                    return Err(ClusterError::Unavailable(
                        crate::connection::ConnectionError::Down,
                    ));
                }
                let out = self.protocol.encode_op(Op::ServerSideEmit {
                    request_id: None,
                    data,
                });
                conn.publish(out.sharded, &out.channel, out.payload).await?;
                return Ok(Vec::new());
            };
            let answers = self
                .request(&conn, RequestKind::ServerSideEmit, timeout, |request_id| {
                    Op::ServerSideEmit {
                        request_id: Some(request_id),
                        data,
                    }
                })
                .await
                .complete()?;
            Ok(answers
                .into_iter()
                .filter_map(|a| match a {
                    Reply::ServerSideEmit { data, .. } => Some(data.unwrap_or(Value::Nil)),
                    _ => None,
                })
                .collect())
        })
    }

    fn room_joined(&self, room: String) -> BoxFuture<'_, ()> {
        Box::pin(async move { self.subscribe_room(&room).await })
    }
}

/// The acknowledgements of a broadcast: local sockets' and other servers' merged.
pub struct AckStream<Err> {
    inner: futures_util::stream::Fuse<BoxStream<'static, AckStreamItem<Err>>>,
}

impl<Err> Stream for AckStream<Err> {
    type Item = AckStreamItem<Err>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl<Err> FusedStream for AckStream<Err> {
    fn is_terminated(&self) -> bool {
        self.inner.is_terminated()
    }
}
