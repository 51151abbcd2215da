//! The client contract of namespace `/`: handshake, events, acks and presence.
//!
//! [`register`] installs the namespace; [`events`] holds one handler per contract event, all
//! run through [`Ctx::run`], which counts the event, applies the rate limit and turns the
//! handler's result into an ack or an `error` event.

mod auth;
pub mod delivery;
mod events;
mod handshake;
pub mod reply;
pub mod session;
pub mod validate;

use std::sync::Arc;

use rmpv::Value;
use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, Extension, SocketRef, State, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts};
use socketioxide::socket::{DisconnectReason, Socket};

use crate::adapter::ServerAdapter;
use crate::metrics::{EventLabel, ReasonLabel};
use crate::state::AppState;
use reply::Failure;
use session::Session;

/// Installs the contract on namespace `/` of `io`, and the answer to server-side emits from other
/// servers: acknowledged (when asked) with `{node: <node id>, event}`.
pub fn register(io: &SocketIo<ServerAdapter>, app: &AppState) {
    io.ns("/", on_connect.with(auth::authenticate));
    let node_id = app.node_id.clone();
    app.cluster.on_server_side_emit(move |data| {
        let event = data
            .first()
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        tracing::info!(event, "server-side emit from another server");
        let fields = vec![
            (Value::from("node"), Value::from(node_id.as_str())),
            (Value::from("event"), Value::from(event)),
        ];
        Some(Value::Map(fields))
    });
}

/// Registers the socket's event handlers and its own-id room (called by the handshake
/// middleware, before the client is told it is connected).
fn install(s: &SocketRef<ServerAdapter>) {
    // Every socket is in the room named after its id, as in Node, so `to(id)` reaches it.
    s.join(s.id.to_string());
    s.on("join", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("join", d, events::join).await
    });
    s.on("leave", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("leave", d, events::leave).await
    });
    s.on("message", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("message", d, events::message).await
    });
    s.on("broadcast", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("broadcast", d, events::broadcast).await
    });
    s.on("direct", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("direct", d, events::direct).await
    });
    s.on("members", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("members", d, events::members).await
    });
    s.on("rooms", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("rooms", d, events::rooms).await
    });
    s.on("whoami", async |ctx: Ctx, TryData(d): TryData<Value>| {
        ctx.run("whoami", d, events::whoami).await
    });
    s.on_fallback(async |ctx: Ctx, Event(event): Event| {
        let message = format!("unknown event `{}`", truncate(&event, 64));
        ctx.run_unknown(&event, Failure::bad_request(message));
    });
    s.on_disconnect(on_disconnect);
}

async fn on_connect(s: SocketRef<ServerAdapter>, State(app): State<Arc<AppState>>) {
    if let Some(ops) = app.cluster.namespace(s.ns()) {
        ops.room_joined(s.id.to_string()).await;
    }
    app.metrics.connections.inc();
    app.metrics.connected_clients.inc();
    tracing::debug!(sid = %s.id, "connected");
}

async fn on_disconnect(
    s: SocketRef<ServerAdapter>,
    reason: DisconnectReason,
    io: SocketIo<ServerAdapter>,
    State(app): State<Arc<AppState>>,
    Extension(session): Extension<Arc<Session>>,
) {
    app.metrics.connected_clients.dec();
    app.metrics
        .disconnections
        .get_or_create(&ReasonLabel {
            reason: reason_label(reason),
        })
        .inc();
    tracing::debug!(sid = %s.id, %reason, "disconnected");
    let own = s.id.to_string();
    for room in s.rooms().into_iter().filter(|r| *r != own) {
        events::presence(&io, &s, &app, &session, &room, "leave").await;
    }
    app.cluster.remove_socket_info(s.id);
}

fn reason_label(reason: DisconnectReason) -> &'static str {
    match reason {
        DisconnectReason::TransportClose => "transport_close",
        DisconnectReason::MultipleHttpPollingError => "multiple_polling",
        DisconnectReason::PacketParsingError => "packet_parsing_error",
        DisconnectReason::TransportError => "transport_error",
        DisconnectReason::HeartbeatTimeout => "heartbeat_timeout",
        DisconnectReason::ClientNSDisconnect => "client_disconnect",
        DisconnectReason::ServerNSDisconnect => "server_disconnect",
        DisconnectReason::ClosingServer => "closing_server",
    }
}

fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
}

/// Everything an event handler works with, extracted once per event.
pub struct Ctx {
    /// The socket that sent the event.
    pub socket: SocketRef<ServerAdapter>,
    /// The server handle, for broadcasts.
    pub io: SocketIo<ServerAdapter>,
    /// Node state.
    pub app: Arc<AppState>,
    /// The socket's session.
    pub session: Arc<Session>,
    ack: AckSender<ServerAdapter>,
    wants_ack: bool,
}

/// The socket lacks its session or the server its state: a bug, never client input.
#[derive(Debug, thiserror::Error)]
#[error("socket context missing (session or state)")]
pub struct MissingContext;

impl FromMessageParts<ServerAdapter> for Ctx {
    type Error = MissingContext;

    fn from_message_parts(
        s: &Arc<Socket<ServerAdapter>>,
        v: &mut socketioxide::handler::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, MissingContext> {
        let State(app) =
            State::<Arc<AppState>>::from_message_parts(s, v, ack_id).map_err(|_| MissingContext)?;
        let Extension(session) = Extension::<Arc<Session>>::from_message_parts(s, v, ack_id)
            .map_err(|_| MissingContext)?;
        let io = SocketIo::from_message_parts(s, v, ack_id).map_err(|_| MissingContext)?;
        let Ok(ack) = AckSender::from_message_parts(s, v, ack_id);
        Ok(Self {
            socket: SocketRef::from(s.clone()),
            io,
            app,
            session,
            ack,
            wants_ack: ack_id.is_some(),
        })
    }
}

/// What an event handler returns: the success ack body, or a failure.
pub type Outcome = Result<serde_json::Value, Failure>;

impl Ctx {
    /// Counts `event`, applies the rate limit, runs `handler` and answers.
    pub async fn run<F>(
        self,
        event: &'static str,
        data: Result<Value, socketioxide::ParserError>,
        handler: F,
    ) where
        F: AsyncFnOnce(&Ctx, Option<Value>) -> Outcome,
    {
        self.app
            .metrics
            .events_received
            .get_or_create(&EventLabel { event })
            .inc();
        let outcome = if self.session.allow_event() {
            handler(&self, data.ok()).await
        } else {
            self.app.metrics.rate_limited.inc();
            Err(rate_limited())
        };
        match outcome {
            Ok(body) => self.answer(&body),
            Err(failure) => self.fail(event, &failure),
        }
    }

    /// Answers an event that has no handler.
    pub fn run_unknown(self, event: &str, failure: Failure) {
        self.app
            .metrics
            .events_received
            .get_or_create(&EventLabel { event: "unknown" })
            .inc();
        let failure = if self.session.allow_event() {
            failure
        } else {
            self.app.metrics.rate_limited.inc();
            rate_limited()
        };
        self.fail(truncate(event, 64), &failure);
    }

    fn answer<T: Serialize + ?Sized>(self, body: &T) {
        if self.wants_ack {
            let result = self.ack.send(body);
            delivery::sent(result, &self.socket, &self.app);
        }
    }

    fn fail(self, event: &str, failure: &Failure) {
        if self.wants_ack {
            self.answer(&failure.ack());
        } else {
            let result = self.socket.emit("error", &failure.event(event));
            delivery::sent(result, &self.socket, &self.app);
        }
    }
}

fn rate_limited() -> Failure {
    Failure {
        code: reply::ErrorCode::RateLimited,
        message: "too many events; slow down".into(),
    }
}
