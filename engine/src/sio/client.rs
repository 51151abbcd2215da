//! The socket.io side of one Engine.IO session (Node's `Client`): decodes its packets, connects it to
//! namespaces and routes each packet to its socket.

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rmpv::Value;

use super::ack::{AckSender, AckSlot};
use super::namespace::ConnectError;
use super::packet::{Packet, PacketKind};
use super::parser::{Decoder, Parser};
use super::socket::Socket;
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
            session.close(DisconnectReason::ForcedServerClose);
            None
        }
    }
}

fn connect(session: &Arc<Session>, packet: Packet) -> Option<BoxFuture<'static, ()>> {
    let engine = &session.engine;
    let Some(ns) = engine.namespaces.get(&packet.nsp).cloned() else {
        let err = ConnectError {
            message: "Invalid namespace".into(),
            data: None,
        };
        send_connect_error(session, &packet.nsp, &err);
        return None;
    };
    let auth = match packet.data {
        Some(v @ Value::Map(_)) => v,
        _ => Value::Map(Vec::new()),
    };
    let id = match session.protocol {
        // socket.io v2 clients know their socket id as the Engine.IO id.
        Protocol::V3 if ns.name() == "/" => session.id,
        _ => Sid::new(),
    };
    let socket = Arc::new(Socket::new(id, ns.clone(), session.clone(), auth.clone()));
    let session = session.clone();
    Some(
        async move {
            let verdict = ns.handler.authorize(socket.clone(), auth).await;
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
            let data = match session.protocol {
                Protocol::V3 => None,
                Protocol::V4 => Some(Value::Map(vec![(
                    Value::from("sid"),
                    Value::from(socket.id.as_str()),
                )])),
            };
            let answer = Packet {
                kind: PacketKind::Connect,
                nsp: ns.name().to_owned(),
                id: None,
                data,
            };
            let _ = socket.send_packet(&answer, false);
            ns.handler.connected(socket).await;
        }
        .boxed(),
    )
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
    ns.remove(&socket);
    socket.acks.clear();
    let handler = ns.handler.clone();
    tokio::spawn(handler.disconnected(socket, reason, rooms));
}
