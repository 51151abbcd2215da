//! The engine hooks the Admin UI installs (only when it is on: otherwise the engine has no hooks at all).
//!
//! Always: connections opened and closed, counted for `aggregatedEvents`. In development mode also every socket,
//! room change and event of the application's namespaces, queued for the [`super::reporter`]; the admin
//! namespace's own are never reported (its broadcasts would report themselves without end). A connected socket
//! gets `data._admin = {clientId, transport}` as in Node (see [`super::serialize`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use engine::{DisconnectReason, Hooks, Sid, Socket, Transport};
use rmpv::Value;
use tokio::sync::mpsc;

use super::reporter::Report;
use super::serialize;
use super::stats::RawEvents;

/// The Admin UI's view of the engine.
pub struct AdminHooks {
    namespace: String,
    raw: Arc<RawEvents>,
    /// Development mode only.
    verbose: Option<Verbose>,
}

struct Verbose {
    reports: mpsc::Sender<Report>,
    dropped: Arc<AtomicU64>,
    /// The sockets of each connection, to tell the UI of a transport upgrade.
    connections: Mutex<HashMap<Sid, Vec<Weak<Socket>>>>,
}

impl AdminHooks {
    /// Hooks for the admin `namespace`; with `reports`, development mode.
    pub fn new(
        namespace: String,
        raw: Arc<RawEvents>,
        reports: Option<(mpsc::Sender<Report>, Arc<AtomicU64>)>,
    ) -> Self {
        Self {
            namespace,
            raw,
            verbose: reports.map(|(reports, dropped)| Verbose {
                reports,
                dropped,
                connections: Mutex::default(),
            }),
        }
    }

    /// The development-mode state, unless `socket` is in the admin namespace.
    fn verbose_for(&self, socket: &Socket) -> Option<&Verbose> {
        self.verbose
            .as_ref()
            .filter(|_| socket.ns() != self.namespace)
    }
}

impl Verbose {
    fn report(&self, report: Report) {
        if self.reports.try_send(report).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, Vec<Weak<Socket>>>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hooks for AdminHooks {
    fn connection_opened(&self, _sid: Sid, _transport: Transport) {
        self.raw.connection();
    }

    fn connection_closed(&self, sid: Sid, _transport: Transport, reason: DisconnectReason) {
        self.raw.disconnection(reason);
        if let Some(v) = &self.verbose {
            v.connections().remove(&sid);
        }
    }

    fn transport_upgraded(&self, sid: Sid) {
        let Some(v) = &self.verbose else {
            return;
        };
        let sockets: Vec<Arc<Socket>> = v
            .connections()
            .get(&sid)
            .map(|list| list.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default();
        for socket in sockets {
            let marker = serialize::admin_marker(
                &serialize::client_id(&socket),
                Transport::WebSocket.as_str(),
            );
            socket.set_data(serialize::with_admin(socket.data(), marker));
            v.report(Report::Upgraded {
                nsp: socket.ns().to_owned(),
                id: socket.id.to_string(),
            });
        }
    }

    fn socket_connected(&self, socket: &Arc<Socket>) {
        let Some(v) = self.verbose_for(socket) else {
            return;
        };
        let marker =
            serialize::admin_marker(&serialize::client_id(socket), socket.transport().as_str());
        socket.set_data(serialize::with_admin(socket.data(), marker));
        v.connections()
            .entry(socket.client_id())
            .or_default()
            .push(Arc::downgrade(socket));
        v.report(Report::Connected(socket.clone(), SystemTime::now()));
    }

    fn socket_disconnected(&self, socket: &Arc<Socket>, reason: DisconnectReason) {
        let Some(v) = self.verbose_for(socket) else {
            return;
        };
        if let Some(list) = v.connections().get_mut(&socket.client_id()) {
            list.retain(|w| w.upgrade().is_some_and(|s| s.id != socket.id));
        }
        v.report(Report::Disconnected {
            nsp: socket.ns().to_owned(),
            id: socket.id.to_string(),
            reason: reason.as_str(),
            at: SystemTime::now(),
        });
    }

    fn room_joined(&self, socket: &Socket, room: &str) {
        self.room(socket, room, true);
    }

    fn room_left(&self, socket: &Socket, room: &str) {
        self.room(socket, room, false);
    }

    fn event_received(&self, socket: &Arc<Socket>, event: &str, args: &[Value]) {
        let Some(v) = self.verbose_for(socket) else {
            return;
        };
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::from(event));
        data.extend_from_slice(args);
        v.report(Report::Event {
            received: true,
            nsp: socket.ns().to_owned(),
            id: socket.id.to_string(),
            args: data,
            at: SystemTime::now(),
        });
    }

    fn event_sent(&self, socket: &Socket, data: &[Value]) {
        let Some(v) = self.verbose_for(socket) else {
            return;
        };
        v.report(Report::Event {
            received: false,
            nsp: socket.ns().to_owned(),
            id: socket.id.to_string(),
            args: data.to_vec(),
            at: SystemTime::now(),
        });
    }
}

impl AdminHooks {
    fn room(&self, socket: &Socket, room: &str, joined: bool) {
        let Some(v) = self.verbose_for(socket) else {
            return;
        };
        v.report(Report::Room {
            joined,
            nsp: socket.ns().to_owned(),
            room: room.to_owned(),
            id: socket.id.to_string(),
            at: SystemTime::now(),
        });
    }
}
