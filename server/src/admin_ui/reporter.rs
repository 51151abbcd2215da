//! Development mode: what the hooks saw, turned into the UI's events and broadcast to the admin namespace
//! through the adapter (so a UI on any replica sees every replica's sockets).
//!
//! The hooks run on the engine's hot paths: they only queue a [`Report`] (bounded; when full, reports are
//! dropped and counted rather than slowing clients down); this task serialises and broadcasts them in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::SystemTime;

use engine::{Io, Socket};
use rmpv::Value;
use tokio::sync::mpsc;

use super::serialize::{self, date, map};

/// Reports waiting for the broadcaster; beyond it they are dropped.
pub const QUEUE: usize = 16_384;
const BATCH: usize = 256;

/// One thing the UI is told about.
pub enum Report {
    /// `socket_connected(socket, date)`.
    Connected(Arc<Socket>, SystemTime),
    /// `socket_updated({id, nsp, transport})`.
    Upgraded { nsp: String, id: String },
    /// `socket_disconnected(nsp, id, reason, date)`.
    Disconnected {
        nsp: String,
        id: String,
        reason: &'static str,
        at: SystemTime,
    },
    /// `room_joined(nsp, room, id, date)` or `room_left(...)`.
    Room {
        joined: bool,
        nsp: String,
        room: String,
        id: String,
        at: SystemTime,
    },
    /// `event_received(nsp, id, [event, ...args], date)` or `event_sent(...)`.
    Event {
        received: bool,
        nsp: String,
        id: String,
        args: Vec<Value>,
        at: SystemTime,
    },
}

impl Report {
    /// The UI event's name and arguments.
    pub fn into_event(self) -> (&'static str, Vec<Value>) {
        match self {
            Report::Connected(socket, at) => (
                "socket_connected",
                vec![serialize::local(&socket), date(at)],
            ),
            Report::Upgraded { nsp, id } => (
                "socket_updated",
                vec![map(vec![
                    ("id", Value::from(id)),
                    ("nsp", Value::from(nsp)),
                    ("transport", Value::from("websocket")),
                ])],
            ),
            Report::Disconnected {
                nsp,
                id,
                reason,
                at,
            } => (
                "socket_disconnected",
                vec![
                    Value::from(nsp),
                    Value::from(id),
                    Value::from(reason),
                    date(at),
                ],
            ),
            Report::Room {
                joined,
                nsp,
                room,
                id,
                at,
            } => (
                if joined { "room_joined" } else { "room_left" },
                vec![
                    Value::from(nsp),
                    Value::from(room),
                    Value::from(id),
                    date(at),
                ],
            ),
            Report::Event {
                received,
                nsp,
                id,
                args,
                at,
            } => (
                if received {
                    "event_received"
                } else {
                    "event_sent"
                },
                vec![
                    Value::from(nsp),
                    Value::from(id),
                    Value::Array(args),
                    date(at),
                ],
            ),
        }
    }
}

/// Broadcasts every report to `namespace` until the queue closes; `dropped` counts the reports the hooks could
/// not queue, logged as they grow.
pub fn spawn(io: Io, namespace: String, mut rx: mpsc::Receiver<Report>, dropped: Arc<AtomicU64>) {
    tokio::spawn(async move {
        let Some(admin) = io.of(&namespace) else {
            return;
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut dropped_seen = 0;
        while rx.recv_many(&mut batch, BATCH).await > 0 {
            for report in batch.drain(..) {
                let (event, args) = report.into_event();
                if let Err(err) = admin.broadcast().emit(event, args).await {
                    tracing::debug!(%err, event, "admin UI: event not broadcast");
                }
            }
            let dropped_now = dropped.load(Relaxed);
            if dropped_now != dropped_seen {
                tracing::warn!(
                    dropped = dropped_now - dropped_seen,
                    "admin UI (development mode): reports dropped, the broadcaster could not keep up"
                );
                dropped_seen = dropped_now;
            }
        }
    });
}
