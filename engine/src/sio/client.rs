//! The socket.io side of one Engine.IO session (Node's `Client`): decodes its packets, connects it to
//! namespaces and routes each packet to its socket.

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rmpv::Value;

use super::ack::{AckSender, AckSlot};
use super::namespace::ConnectError;
use super::namespace::Namespace;
use super::packet::{Packet, PacketKind};
use super::parser::{Decoder, Parser};
use super::socket::{Socket, SocketRecovery};
use crate::adapter::{PersistedSession, RestoredSession};
use crate::eio::packet::{Message, Protocol};
use crate::eio::reason::DisconnectReason;
use crate::eio::session::Session;
use crate::sid::Sid;

/// Most attachments one binary packet may announce.
const MAX_ATTACHMENTS: usize = 10;

/// The sockets of one session and its packet decoder.
pub(crate) struct Client {
    sockets: Mutex<Vec<Arc<Socket>>>,
    decoder: Mutex<Decoder>,
}

impl Client {
    pub fn new(parser: Parser) -> Self {
        Self {
            sockets: Mutex::new(Vec::new()),
            decoder: Mutex::new(Decoder::with_max_attachments(parser, MAX_ATTACHMENTS)),
        }
    }

    fn socket(&self, nsp: &str) -> Option<Arc<Socket>> {
        self.sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|s| s.ns() == nsp)
            .cloned()
    }
}

/// A session opened. Engine.IO v3 clients (socket.io-client 2.x) are connected to `/` without asking, as Node
/// does: the returned connect runs first.
pub(crate) fn on_open(session: &Arc<Session>) -> Option<BoxFuture<'static, ()>> {
    if session.protocol != Protocol::V3 {
        return None;
    }
    let packet = Packet {
        kind: PacketKind::Connect,
        nsp: "/".into(),
        id: None,
        data: None,
    };
    connect(session, packet)
}

/// Handles one message of the client; returns the application's handler to run before the next message.
pub(crate) fn on_message(
    session: &Arc<Session>,
    message: Message,
) -> Option<BoxFuture<'static, ()>> {
    let decoded = {
        let mut decoder = session
            .client
            .decoder
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match message {
            Message::Text(text) => match std::str::from_utf8(&text) {
                Ok(text) => decoder.decode_text(text),
                Err(_) => {
                    drop(decoder);
                    session.close(DisconnectReason::ForcedClose);
                    return None;
                }
            },
            Message::Binary(data) => decoder.decode_binary(data),
        }
    };
    match decoded {
        Ok(Some(packet)) => dispatch(session, packet),
        Ok(None) => None,
        Err(err) => {
            // Node: an undecodable socket.io packet closes the connection ("forced close").
            tracing::debug!(sid = %session.id, %err, "invalid socket.io packet");
            session.close(DisconnectReason::ForcedClose);
            None
        }
    }
}

fn dispatch(session: &Arc<Session>, packet: Packet) -> Option<BoxFuture<'static, ()>> {
    let socket = session.client.socket(&packet.nsp);
    match (packet.kind, socket) {
        (PacketKind::Connect, None) => connect(session, packet),
        (PacketKind::Disconnect, Some(socket)) => {
            remove_socket(
                session,
                &socket,
                DisconnectReason::ClientNamespaceDisconnect,
            );
            None
        }
        (PacketKind::Event, Some(socket)) => {
            let id = packet.id;
            let Some(Value::Array(mut data)) = packet.data else {
                return None;
            };
            if data.is_empty() {
                return None;
            }
            let event = match data.remove(0) {
                Value::String(s) => s.into_str().unwrap_or_default(),
                other => other.to_string(),
            };
            let ack = id.map(|id| AckSender {
                socket: socket.clone(),
                id,
            });
            if let Some(h) = &socket.ns.hooks {
                h.event_received(&socket, &event, &data);
            }
            let handler = socket.ns.handler.clone();
            Some(handler.event(socket, event, data, ack))
        }
        (PacketKind::Ack, Some(socket)) => {
            let (Some(id), Some(Value::Array(args))) = (packet.id, packet.data) else {
                return None;
            };
            match socket.acks.remove(id) {
                Some(AckSlot::Single(tx)) => {
                    let _ = tx.send(args);
                }
                Some(AckSlot::Broadcast(tx)) => {
                    let _ = tx.send(args.into_iter().next().unwrap_or(Value::Nil));
                }
                None => {}
            }
            None
        }
        _ => {
            // Node: "invalid state" (a packet for a namespace not joined, a second CONNECT, a CONNECT_ERROR)
            // closes the connection.
            session.close(DisconnectReason::ForcedClose);
            None
        }
    }
}

fn connect(session: &Arc<Session>, packet: Packet) -> Option<BoxFuture<'static, ()>> {
    let engine = &session.engine;
    let Some(ns) = engine.namespaces.get(&packet.nsp).cloned() else {
        // Node answers an unknown namespace with an object, v3 clients included.
        let data = Value::Map(vec![(
            Value::from("message"),
            Value::from("Invalid namespace"),
        )]);
        send_connect_error_data(session, &packet.nsp, data);
        return None;
    };
    let auth = match packet.data {
        Some(v @ Value::Map(_)) => v,
        _ => Value::Map(Vec::new()),
    };
    let session = session.clone();
    Some(
        async move {
            let recovery = match ns.recovery() {
                Some(config) if session.protocol == Protocol::V4 => Some(config.clone()),
                _ => None,
            };
            let restored = match &recovery {
                Some(_) => restore(&ns, &auth).await,
                None => None,
            };
            let (id, socket_recovery) = match (&restored, &recovery) {
                (Some(r), _) => (
                    Sid::parse(&r.session.sid).unwrap_or_default(),
                    Some(SocketRecovery {
                        pid: r.session.pid.clone(),
                        recovered: true,
                        connected_offset: r.session.connected_offset.clone(),
                    }),
                ),
                (None, Some(_)) => {
                    let connected_offset = match ns.adapter() {
                        Some(a) => a.latest_offset().await,
                        None => None,
                    };
                    (
                        Sid::new(),
                        Some(SocketRecovery {
                            pid: Sid::new().to_string(),
                            recovered: false,
                            connected_offset,
                        }),
                    )
                }
                // socket.io v2 clients know their socket id as the Engine.IO id.
                (None, None) if session.protocol == Protocol::V3 && ns.name() == "/" => {
                    (session.id, None)
                }
                (None, None) => (Sid::new(), None),
            };
            let socket = Arc::new(Socket::new(
                id,
                ns.clone(),
                session.clone(),
                auth.clone(),
                socket_recovery,
            ));
            // The handler sees the recovered `socket.data` (its per-socket state comes back from it).
            if let Some(r) = &restored {
                socket.set_data(r.session.data.clone());
            }
            let skip = restored.is_some() && recovery.as_ref().is_some_and(|r| r.skip_middlewares);
            let verdict = if skip {
                ns.handler.recovered(socket.clone()).await
            } else {
                ns.handler.authorize(socket.clone(), auth).await
            };
            if session.is_closing() {
                return;
            }
            if let Err(err) = verdict {
                send_connect_error(&session, ns.name(), &err);
                return;
            }
            ns.insert(&socket);
            session
                .client
                .sockets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(socket.clone());
            session.namespace_connected();
            if let Some(r) = restored {
                for room in r.session.rooms.iter().filter(|r| **r != socket.id.as_str()) {
                    socket.join(room);
                }
                // Missed events go first, then the CONNECT answer (as Node does).
                for data in r.missed {
                    let packet = Packet {
                        kind: PacketKind::Event,
                        nsp: ns.name().to_owned(),
                        id: None,
                        data: Some(Value::Array(data)),
                    };
                    let _ = socket.send_packet(&packet, false);
                }
            }
            // A connected socket's session is kept current by adapters that keep it beyond a crash.
            socket.session_changed();
            let mut answer = Vec::new();
            if session.protocol == Protocol::V4 {
                answer.push((Value::from("sid"), Value::from(socket.id.as_str())));
                if let Some(pid) = socket.pid() {
                    answer.push((Value::from("pid"), Value::from(pid)));
                }
            }
            let answer = Packet {
                kind: PacketKind::Connect,
                nsp: ns.name().to_owned(),
                id: None,
                data: (!answer.is_empty()).then_some(Value::Map(answer)),
            };
            let _ = socket.send_packet(&answer, false);
            if let Some(h) = &ns.hooks {
                h.socket_connected(&socket);
            }
            ns.handler.connected(socket).await;
        }
        .boxed(),
    )
}

/// The session a reconnecting client asks to recover (`auth.pid`, `auth.offset`), if it can be.
async fn restore(ns: &Arc<Namespace>, auth: &Value) -> Option<RestoredSession> {
    let field = |name: &str| {
        auth.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(name))
            .map(|(_, v)| v.clone())
    };
    let pid = field("pid")?.as_str()?.to_owned();
    let offset = match field("offset") {
        None | Some(Value::Nil) => None,
        Some(Value::String(s)) => Some(s.into_str()?),
        // Not an offset: no recovery.
        Some(_) => return None,
    };
    let adapter = ns.adapter()?.clone();
    match adapter.restore_session(pid, offset).await {
        Ok(restored) => restored,
        Err(err) => {
            tracing::debug!(%err, "cannot restore a session");
            None
        }
    }
}

fn send_connect_error(session: &Arc<Session>, nsp: &str, err: &ConnectError) {
    let data = match session.protocol {
        // socket.io v2 clients expect the bare message (or data).
        Protocol::V3 => err
            .data
            .clone()
            .unwrap_or_else(|| Value::from(err.message.as_str())),
        Protocol::V4 => {
            let mut fields = vec![(Value::from("message"), Value::from(err.message.as_str()))];
            if let Some(data) = &err.data {
                fields.push((Value::from("data"), data.clone()));
            }
            Value::Map(fields)
        }
    };
    send_connect_error_data(session, nsp, data);
}

fn send_connect_error_data(session: &Arc<Session>, nsp: &str, data: Value) {
    let packet = Packet {
        kind: PacketKind::ConnectError,
        nsp: nsp.to_owned(),
        id: None,
        data: Some(data),
    };
    let frames = session.engine.config.parser.encode(&packet);
    let _ = session.send(&frames, false);
}

/// Removes `socket` from its session and namespace, and runs the application's disconnect handler.
pub(crate) fn remove_socket(
    session: &Arc<Session>,
    socket: &Arc<Socket>,
    reason: DisconnectReason,
) {
    let removed = {
        let mut sockets = session
            .client
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let before = sockets.len();
        sockets.retain(|s| !Arc::ptr_eq(s, socket));
        sockets.len() != before
    };
    if removed {
        finish_socket(socket.clone(), reason);
    }
}

/// The session is closing: every socket of it disconnects with `reason`.
pub(crate) fn on_close(session: &Arc<Session>, reason: DisconnectReason) {
    let sockets = std::mem::take(
        &mut *session
            .client
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    for socket in sockets {
        finish_socket(socket, reason);
    }
}

fn finish_socket(socket: Arc<Socket>, reason: DisconnectReason) {
    let ns = socket.ns.clone();
    let own = socket.id.to_string();
    let mut rooms: Vec<String> = vec![own];
    rooms.extend(socket.leave_all().iter().map(|r| r.to_string()));
    if let (Some(recovery), Some(adapter)) = (&socket.recovery, ns.adapter())
        && reason.is_recoverable()
    {
        let persisted = PersistedSession {
            sid: socket.id.to_string(),
            pid: recovery.pid.clone(),
            rooms: rooms.clone(),
            data: socket.data(),
            connected_offset: recovery.connected_offset.clone(),
        };
        let adapter = adapter.clone();
        // Started here, in order with the socket's other session writes (an adapter may queue it at once); a
        // persist that has to wait finishes in the background.
        let mut persist = Box::pin(async move { adapter.persist_session(persisted).await });
        if (&mut persist).now_or_never().is_none() {
            tokio::spawn(persist);
        }
    } else if socket.recovery.is_some()
        && let Some(adapter) = ns.adapter()
    {
        adapter.session_ended(&socket);
    }
    ns.remove(&socket);
    socket.acks.clear();
    if let Some(h) = &ns.hooks {
        h.socket_disconnected(&socket, reason);
    }
    let handler = ns.handler.clone();
    tokio::spawn(handler.disconnected(socket, reason, rooms));
}
