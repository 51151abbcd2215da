//! A socket: one client connected to one namespace.

use std::any::Any;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rmpv::Value;
use tokio::sync::oneshot;

use super::ack::{AckError, AckSlot, PendingAcks, wait_single};
use super::broadcast::BroadcastOperators;
use super::namespace::Namespace;
use super::packet::{Packet, PacketKind};
use crate::adapter::PersistedSession;
use crate::eio::handshake::Handshake;
use crate::eio::reason::DisconnectReason;
use crate::eio::session::{SendError, Session, Transport};
use crate::sid::Sid;

/// A client connected to a namespace (Node's `Socket`).
pub struct Socket {
    /// The socket id (20 characters; not the Engine.IO session id).
    pub id: Sid,
    pub(crate) ns: Arc<Namespace>,
    pub(crate) session: Arc<Session>,
    /// Rooms joined, besides the socket's own-id room.
    rooms: Mutex<Vec<Arc<str>>>,
    /// `socket.data`, shared with other servers by `fetchSockets`.
    data: Mutex<Value>,
    /// The `auth` of the CONNECT packet, as other servers see it in `handshake.auth`.
    auth: Mutex<Value>,
    /// The application's own per-socket state.
    extension: OnceLock<Arc<dyn Any + Send + Sync>>,
    pub(crate) acks: PendingAcks,
    /// Connection state recovery: the private session id (`pid`), whether this socket recovered a session, and
    /// the latest offset when it connected.
    pub(crate) recovery: Option<SocketRecovery>,
}

/// A socket's connection state recovery state.
#[derive(Debug, Clone)]
pub(crate) struct SocketRecovery {
    pub pid: String,
    pub recovered: bool,
    pub connected_offset: Option<String>,
}

impl Socket {
    pub(crate) fn new(
        id: Sid,
        ns: Arc<Namespace>,
        session: Arc<Session>,
        auth: Value,
        recovery: Option<SocketRecovery>,
    ) -> Self {
        Self {
            id,
            ns,
            session,
            rooms: Mutex::new(Vec::new()),
            data: Mutex::new(Value::Nil),
            auth: Mutex::new(auth),
            extension: OnceLock::new(),
            acks: PendingAcks::default(),
            recovery,
        }
    }

    /// Whether this socket recovered a previous session (same id, rooms and data; missed events replayed).
    pub fn recovered(&self) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.recovered)
    }

    /// The private session id of connection state recovery.
    pub fn pid(&self) -> Option<&str> {
        self.recovery.as_ref().map(|r| r.pid.as_str())
    }

    /// The namespace name.
    pub fn ns(&self) -> &str {
        self.ns.name()
    }

    /// The namespace.
    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.ns
    }

    /// The request that opened the connection.
    pub fn handshake(&self) -> &Handshake {
        &self.session.handshake
    }

    /// The Engine.IO session id (`socket.conn.id`).
    pub fn client_id(&self) -> Sid {
        self.session.id
    }

    /// The transport in use now.
    pub fn transport(&self) -> Transport {
        self.session.transport()
    }

    /// Every room of the socket: its own id first, then the joined rooms in join order.
    pub fn rooms(&self) -> Vec<String> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::with_capacity(rooms.len() + 1);
        out.push(self.id.to_string());
        out.extend(rooms.iter().map(|r| r.to_string()));
        out
    }

    /// The joined rooms (own-id room excluded).
    pub fn joined_rooms(&self) -> Vec<String> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.iter().map(|r| r.to_string()).collect()
    }

    /// Whether the socket is in `room` (its own id included).
    pub fn in_room(&self, room: &str) -> bool {
        room == self.id.as_str()
            || self
                .rooms
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|r| r.as_ref() == room)
    }

    /// Joins `room` (a no-op when already in it, or when it is the socket's own id).
    pub fn join(self: &Arc<Self>, room: &str) {
        if room == self.id.as_str() {
            return;
        }
        let room: Arc<str> = {
            let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            if rooms.iter().any(|r| r.as_ref() == room) {
                return;
            }
            let room: Arc<str> = Arc::from(room);
            rooms.push(room.clone());
            room
        };
        self.ns.room_joined(self, &room);
        self.session_changed();
    }

    /// Leaves `room`.
    pub fn leave(&self, room: &str) {
        let removed = {
            let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
            let before = rooms.len();
            rooms.retain(|r| r.as_ref() != room);
            rooms.len() != before
        };
        if removed {
            self.ns.room_left(self, room);
            self.session_changed();
        }
    }

    /// Leaves every joined room (on disconnect); returns them.
    pub(crate) fn leave_all(&self) -> Vec<Arc<str>> {
        let rooms = std::mem::take(&mut *self.rooms.lock().unwrap_or_else(|e| e.into_inner()));
        for room in &rooms {
            self.ns.room_left(self, room);
        }
        rooms
    }

    /// `socket.data`.
    pub fn data(&self) -> Value {
        self.data.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets `socket.data`.
    pub fn set_data(&self, data: Value) {
        *self.data.lock().unwrap_or_else(|e| e.into_inner()) = data;
        self.session_changed();
    }

    /// The socket's recoverable session as it is now (its own-id room first, then the joined rooms); `None`
    /// without connection state recovery.
    pub fn session(&self) -> Option<PersistedSession> {
        let recovery = self.recovery.as_ref()?;
        Some(PersistedSession {
            sid: self.id.to_string(),
            pid: recovery.pid.clone(),
            rooms: self.rooms(),
            data: self.data(),
            connected_offset: recovery.connected_offset.clone(),
        })
    }

    /// Tells the adapter that the recoverable state changed (see [`crate::Adapter::session_changed`]).
    pub(crate) fn session_changed(&self) {
        if self.recovery.is_some()
            && let Some(adapter) = self.ns.adapter()
        {
            adapter.session_changed(self);
        }
    }

    /// The CONNECT `auth` other servers see.
    pub fn auth(&self) -> Value {
        self.auth.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the `auth` other servers see (e.g. without secrets).
    pub fn set_auth(&self, auth: Value) {
        *self.auth.lock().unwrap_or_else(|e| e.into_inner()) = auth;
    }

    /// Attaches the application's state to the socket, once.
    pub fn set_extension<T: Any + Send + Sync>(&self, value: Arc<T>) {
        let _ = self.extension.set(value);
    }

    /// The application's state, when it is a `T`.
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.extension.get()?.clone().downcast::<T>().ok()
    }

    /// Emits `event` with `args` to this client.
    pub fn emit(&self, event: &str, args: Vec<Value>) -> Result<(), SendError> {
        let packet = Packet::event(self.ns.name(), event, args);
        if self.recovery.is_some() {
            // With recovery on, even a private emit goes through the adapter, which stores it (Node does the same).
            if self.session.is_closing() {
                return Err(SendError::Closed);
            }
            if let Some(adapter) = self.ns.adapter().cloned() {
                let opts = crate::adapter::BroadcastOptions {
                    rooms: vec![self.id.to_string()],
                    ..Default::default()
                };
                let mut fut = Box::pin(async move {
                    let _ = adapter.broadcast(packet, opts).await;
                });
                if futures_util::FutureExt::now_or_never(&mut fut).is_none() {
                    tokio::spawn(fut);
                }
                return Ok(());
            }
        }
        self.send_packet(&packet, false)?;
        if let (Some(h), Some(Value::Array(data))) = (&self.ns.hooks, &packet.data) {
            h.event_sent(self, data);
        }
        Ok(())
    }

    /// Emits `event` and waits for the client's acknowledgement (all its arguments).
    pub async fn emit_with_ack(
        self: &Arc<Self>,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        let mut packet = Packet::event(self.ns.name(), event, args);
        let id = self.ns.next_ack_id();
        packet.id = Some(id);
        let (tx, rx) = oneshot::channel();
        self.acks.insert(id, AckSlot::Single(tx));
        if self.send_packet(&packet, false).is_err() {
            self.acks.remove(id);
            return Err(AckError::Disconnected);
        }
        wait_single(self, id, rx, timeout).await
    }

    /// Broadcast operators that exclude this socket (Node's `socket.to(room)` / `socket.broadcast`).
    pub fn broadcast(self: &Arc<Self>) -> BroadcastOperators {
        BroadcastOperators::new(self.ns.clone()).except(self.id.to_string())
    }

    /// Disconnects the socket from its namespace (the connection stays): the client gets a DISCONNECT packet.
    pub fn disconnect(self: &Arc<Self>) {
        let packet = Packet {
            kind: PacketKind::Disconnect,
            nsp: self.ns.name().to_owned(),
            id: None,
            data: None,
        };
        let _ = self.send_packet(&packet, false);
        super::client::remove_socket(
            &self.session,
            self,
            DisconnectReason::ServerNamespaceDisconnect,
        );
    }

    /// Closes the client's whole connection (every namespace of it).
    pub fn close(&self, reason: DisconnectReason) {
        self.session.close(reason);
    }

    /// Encodes and queues one packet for this client.
    pub(crate) fn send_packet(&self, packet: &Packet, volatile: bool) -> Result<(), SendError> {
        let frames = self.session.engine.config.parser.encode(packet);
        self.session.send(&frames, volatile)
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("ns", &self.ns.name())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    /// Every connection holds one session and one socket: their sizes are part of the memory per idle
    /// connection (a target of the product), so growing them is a decision, not an accident.
    #[test]
    fn per_connection_structs_stay_small() {
        assert!(std::mem::size_of::<super::Socket>() <= 320);
        assert!(std::mem::size_of::<crate::eio::session::Session>() <= 320);
    }
}
