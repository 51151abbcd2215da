//! A namespace: its sockets, its rooms, its adapter, the application's handler, and the local side of every
//! broadcast (encode once, queue a shared reference per recipient).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::future::BoxFuture;
use rmpv::Value;
use tokio::sync::mpsc;

use super::ack::{AckSender, AckSlot, PendingBroadcastAcks};
use super::broadcast::BroadcastOperators;
use super::packet::Packet;
use super::rooms::RoomIndex;
use super::socket::Socket;
use crate::adapter::{Adapter, BroadcastOptions, SocketDescription};
use crate::eio::reason::DisconnectReason;
use crate::eio::session::SendError;
use crate::sid::Sid;

const SHARDS: usize = 16;

/// Why a connect middleware refused a client: the client gets `connect_error` with `message` and `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The error message (`err.message` on the client).
    pub message: String,
    /// Optional details (`err.data` on the client).
    pub data: Option<Value>,
}

/// What the application does with a namespace's sockets. Handlers of one socket run one at a time, in the
/// order the client sent its packets.
pub trait NamespaceHandler: Send + Sync + 'static {
    /// The connect middleware: runs before the client is told it is connected; an error refuses it.
    fn authorize(
        &self,
        socket: Arc<Socket>,
        auth: Value,
    ) -> BoxFuture<'static, Result<(), ConnectError>>;

    /// The socket is connected (its CONNECT answer is queued).
    fn connected(&self, socket: Arc<Socket>) -> BoxFuture<'static, ()>;

    /// An event from the client, with the acknowledgement sender when it asked for one.
    fn event(
        &self,
        socket: Arc<Socket>,
        event: String,
        args: Vec<Value>,
        ack: Option<AckSender>,
    ) -> BoxFuture<'static, ()>;

    /// A socket recovered its session and skipped [`NamespaceHandler::authorize`] (`skipMiddlewares`): restore
    /// the application's per-socket state, e.g. from `socket.data()`.
    fn recovered(&self, _socket: Arc<Socket>) -> BoxFuture<'static, Result<(), ConnectError>> {
        Box::pin(async { Ok(()) })
    }

    /// The socket left (its rooms were already left; `rooms` lists them).
    fn disconnected(
        &self,
        socket: Arc<Socket>,
        reason: DisconnectReason,
        rooms: Vec<String>,
    ) -> BoxFuture<'static, ()>;
}

/// The registered namespaces (fixed when the server is built).
pub(crate) struct Namespaces(pub HashMap<String, Arc<Namespace>>);

impl Namespaces {
    pub fn get(&self, name: &str) -> Option<&Arc<Namespace>> {
        self.0.get(name)
    }
}

/// Counts of one local delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Sockets the packet was queued for.
    pub sent: usize,
    /// Sockets closed as slow consumers by this delivery.
    pub slow_consumers: usize,
}

/// A namespace.
pub struct Namespace {
    name: String,
    sockets: [Mutex<HashMap<Sid, Arc<Socket>>>; SHARDS],
    pub(crate) rooms: RoomIndex,
    pub(crate) handler: Arc<dyn NamespaceHandler>,
    adapter: OnceLock<Arc<dyn Adapter>>,
    next_ack: AtomicU64,
    slow_consumers: AtomicU64,
    parser: super::parser::Parser,
    pub(crate) hooks: crate::hooks::MaybeHooks,
    recovery: Option<crate::config::Recovery>,
}

impl Namespace {
    pub(crate) fn new(
        name: String,
        handler: Arc<dyn NamespaceHandler>,
        parser: super::parser::Parser,
        hooks: crate::hooks::MaybeHooks,
        recovery: Option<crate::config::Recovery>,
    ) -> Self {
        Self {
            name,
            sockets: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            rooms: RoomIndex::new(),
            handler,
            adapter: OnceLock::new(),
            next_ack: AtomicU64::new(0),
            slow_consumers: AtomicU64::new(0),
            parser,
            hooks,
            recovery,
        }
    }

    pub(crate) fn set_adapter(&self, adapter: Arc<dyn Adapter>) {
        let _ = self.adapter.set(adapter);
    }

    /// The namespace's adapter.
    pub fn adapter(&self) -> Option<&Arc<dyn Adapter>> {
        self.adapter.get()
    }

    /// Connection state recovery settings, when on.
    pub fn recovery(&self) -> Option<&crate::config::Recovery> {
        self.recovery.as_ref()
    }

    /// The name, e.g. `/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Broadcast operators on every socket of the namespace (Node's `io.of(name)`).
    pub fn broadcast(self: &Arc<Self>) -> BroadcastOperators {
        BroadcastOperators::new(self.clone())
    }

    /// Broadcast operators on `room` (Node's `io.to(room)`).
    pub fn to(self: &Arc<Self>, room: impl Into<String>) -> BroadcastOperators {
        BroadcastOperators::new(self.clone()).to(room)
    }

    /// Sockets closed as slow consumers by broadcasts of this namespace.
    pub fn slow_consumers(&self) -> u64 {
        self.slow_consumers.load(Relaxed)
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.next_ack.fetch_add(1, Relaxed)
    }

    fn shard(&self, sid: &Sid) -> std::sync::MutexGuard<'_, HashMap<Sid, Arc<Socket>>> {
        let i = sid.as_str().as_bytes()[1] as usize % SHARDS;
        self.sockets[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The local socket with this id.
    pub fn socket(&self, sid: &str) -> Option<Arc<Socket>> {
        let sid = Sid::parse(sid)?;
        self.shard(&sid).get(&sid).cloned()
    }

    /// Number of local sockets.
    pub fn socket_count(&self) -> usize {
        self.sockets
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    pub(crate) fn insert(&self, socket: &Arc<Socket>) {
        self.shard(&socket.id).insert(socket.id, socket.clone());
    }

    pub(crate) fn remove(&self, socket: &Socket) -> bool {
        self.shard(&socket.id).remove(&socket.id).is_some()
    }

    pub(crate) fn room_joined(&self, socket: &Arc<Socket>, room: &Arc<str>) {
        if self.rooms.add(room, socket)
            && let Some(a) = self.adapter.get()
        {
            a.room_created(room);
        }
        if let Some(h) = &self.hooks {
            h.room_joined(socket, room);
        }
    }

    pub(crate) fn room_left(&self, socket: &Socket, room: &str) {
        if self.rooms.remove(room, &socket.id)
            && let Some(a) = self.adapter.get()
        {
            a.room_deleted(room);
        }
        if let Some(h) = &self.hooks {
            h.room_left(socket, room);
        }
    }

    /// Calls `f` with each local socket that `opts` targets.
    pub fn for_each_target(&self, opts: &BroadcastOptions, mut f: impl FnMut(&Arc<Socket>)) {
        let except = self.except_set(&opts.except);
        let mut visit = |s: &Arc<Socket>| {
            if !except.contains(&s.id) {
                f(s);
            }
        };
        if opts.rooms.is_empty() {
            for shard in &self.sockets {
                let sockets: Vec<Arc<Socket>> = shard
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect();
                sockets.iter().for_each(&mut visit);
            }
            return;
        }
        if opts.rooms.len() == 1 {
            self.room_members(&opts.rooms[0], &mut visit);
            return;
        }
        let mut seen = HashSet::new();
        for room in &opts.rooms {
            self.room_members(room, &mut |s| {
                if seen.insert(s.id) {
                    visit(s);
                }
            });
        }
    }

    /// Local members of `room`, the socket whose own-id room it is included.
    fn room_members(&self, room: &str, f: &mut impl FnMut(&Arc<Socket>)) {
        self.rooms.for_each(room, &mut *f);
        if let Some(s) = self.socket(room) {
            f(&s);
        }
    }

    fn except_set(&self, except: &[String]) -> HashSet<Sid> {
        let mut set = HashSet::new();
        for room in except {
            self.room_members(room, &mut |s| {
                set.insert(s.id);
            });
        }
        set
    }

    /// Local members of `room` (own-id room included).
    pub fn room_size(&self, room: &str) -> usize {
        self.rooms.len(room) + usize::from(self.socket(room).is_some())
    }

    /// Delivers `packet` to the local sockets `opts` targets: encoded once, each recipient queues a reference.
    pub fn deliver(&self, packet: &Packet, opts: &BroadcastOptions) -> Delivery {
        let frames = self.encode(packet);
        let mut delivery = Delivery::default();
        let sent_hook = self
            .hooks
            .as_ref()
            .zip(packet.data.as_ref().and_then(Value::as_array));
        self.for_each_target(opts, |s| match s.session.send(&frames, opts.volatile) {
            Ok(()) => {
                delivery.sent += 1;
                if let Some((h, data)) = sent_hook {
                    h.event_sent(s, data);
                }
            }
            Err(SendError::SlowConsumer) => delivery.slow_consumers += 1,
            Err(SendError::Closed) => {}
        });
        if delivery.slow_consumers > 0 {
            self.slow_consumers
                .fetch_add(delivery.slow_consumers as u64, Relaxed);
        }
        delivery
    }

    /// Delivers `packet` with an ack id to the targeted local sockets and returns the collector of their acks.
    pub fn deliver_with_ack(
        &self,
        mut packet: Packet,
        opts: &BroadcastOptions,
    ) -> PendingBroadcastAcks {
        let id = self.next_ack_id();
        packet.id = Some(id);
        let frames = self.encode(&packet);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut targets = Vec::new();
        self.for_each_target(opts, |s| {
            s.acks.insert(id, AckSlot::Broadcast(tx.clone()));
            match s.session.send(&frames, opts.volatile) {
                Ok(()) => targets.push(Arc::downgrade(s)),
                Err(_) => {
                    s.acks.remove(id);
                }
            }
        });
        PendingBroadcastAcks { id, targets, rx }
    }

    fn encode(&self, packet: &Packet) -> Vec<crate::eio::packet::Frame> {
        self.parser.encode(packet)
    }

    /// Makes the targeted local sockets join `rooms`.
    pub fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let mut targets = Vec::new();
        self.for_each_target(opts, |s| targets.push(s.clone()));
        for s in targets {
            for r in rooms {
                s.join(r);
            }
        }
    }

    /// Makes the targeted local sockets leave `rooms`.
    pub fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[String]) {
        let mut targets = Vec::new();
        self.for_each_target(opts, |s| targets.push(s.clone()));
        for s in targets {
            for r in rooms {
                s.leave(r);
            }
        }
    }

    /// Disconnects the targeted local sockets (`close`: their connections too).
    pub fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        let mut targets = Vec::new();
        self.for_each_target(opts, |s| targets.push(s.clone()));
        for s in targets {
            s.disconnect();
            if close {
                s.close(DisconnectReason::ForcedClose);
            }
        }
    }

    /// Describes the targeted local sockets as other servers see them.
    pub fn describe_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketDescription> {
        let mut out = Vec::new();
        self.for_each_target(opts, |s| out.push(super::describe::describe(s)));
        out
    }

    /// Every room with local members.
    pub fn local_rooms(&self) -> Vec<String> {
        self.rooms.rooms().iter().map(|r| r.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngineConfig;
    use crate::eio::packet::{Frame, Protocol};
    use crate::testing;

    fn connected(io: &crate::io::Io) -> Arc<Socket> {
        let ns = io.of("/").unwrap();
        let session = testing::session(io, Protocol::V4);
        let socket = Arc::new(Socket::new(
            Sid::new(),
            ns.clone(),
            session,
            Value::Nil,
            None,
        ));
        ns.insert(&socket);
        socket
    }

    fn outbox(s: &Socket) -> Vec<Frame> {
        s.session.lock().outbox.iter().cloned().collect()
    }

    #[tokio::test]
    async fn a_broadcast_is_encoded_once_and_shared_by_every_recipient() {
        let (io, _) = testing::io(EngineConfig::default());
        let ns = io.of("/").unwrap();
        let sockets: Vec<_> = (0..3).map(|_| connected(&io)).collect();
        for s in &sockets {
            s.join("r");
        }
        let packet = Packet::event(
            "/",
            "news",
            vec![Value::from("x"), Value::Binary(vec![1, 2, 3])],
        );
        let d = ns.deliver(
            &packet,
            &BroadcastOptions {
                rooms: vec!["r".into()],
                except: vec![sockets[2].id.to_string()],
                ..Default::default()
            },
        );
        assert_eq!(
            d,
            Delivery {
                sent: 2,
                slow_consumers: 0
            }
        );
        let a = outbox(&sockets[0]);
        let b = outbox(&sockets[1]);
        assert_eq!(a.len(), 2, "text packet and one attachment");
        assert!(outbox(&sockets[2]).is_empty());
        for (x, y) in a.iter().zip(&b) {
            let (Frame::Text(x) | Frame::Binary(x), Frame::Text(y) | Frame::Binary(y)) = (x, y);
            assert_eq!(x.as_ptr(), y.as_ptr(), "same bytes, not a copy");
        }
    }

    #[tokio::test]
    async fn own_id_rooms_target_the_socket_without_an_index_entry() {
        let (io, _) = testing::io(EngineConfig::default());
        let ns = io.of("/").unwrap();
        let a = connected(&io);
        let _b = connected(&io);
        assert!(ns.local_rooms().is_empty());
        let d = ns.deliver(
            &Packet::event("/", "direct", vec![]),
            &BroadcastOptions {
                rooms: vec![a.id.to_string()],
                ..Default::default()
            },
        );
        assert_eq!(d.sent, 1);
        assert_eq!(outbox(&a).len(), 1);
        assert_eq!(a.rooms(), vec![a.id.to_string()]);
    }

    #[tokio::test]
    async fn rooms_are_dropped_with_their_last_member() {
        let (io, _) = testing::io(EngineConfig::default());
        let ns = io.of("/").unwrap();
        let a = connected(&io);
        a.join("r");
        a.join("r");
        assert_eq!(ns.room_size("r"), 1);
        assert_eq!(a.joined_rooms(), vec!["r".to_string()]);
        a.leave("r");
        assert_eq!(ns.room_size("r"), 0);
        assert!(ns.local_rooms().is_empty());
    }
}
