//! The client contract of namespace `/`: handshake, events, acks and presence.
//!
//! [`Contract`] is the namespace's handler in the engine: [`auth`] is its connect middleware,
//! [`events`] holds one handler per contract event, all run through [`Ctx::run`], which counts
//! the event, applies the rate limit and turns the handler's result into an ack or an `error`
//! event.

mod auth;
mod events;
pub mod reply;
pub mod session;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use engine::{AckSender, ConnectError, DisconnectReason, NamespaceHandler, Socket};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rmpv::Value;
use serde::Serialize;

use crate::metrics::{EventLabel, ReasonLabel};
use crate::state::AppState;
use reply::Failure;
use session::Session;

/// Answers server-side emits from other servers: acknowledged (when asked) with
/// `{node: <node id>, event}`.
pub fn register_server_side_emit(app: &AppState) {
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

/// The handler of namespace `/`.
pub struct Contract {
    app: Arc<AppState>,
}

impl Contract {
    /// The contract of this node.
    pub fn new(app: Arc<AppState>) -> Arc<Self> {
        Arc::new(Self { app })
    }
}

impl NamespaceHandler for Contract {
    fn authorize(
        &self,
        socket: Arc<Socket>,
        auth: Value,
    ) -> BoxFuture<'static, Result<(), ConnectError>> {
        let verdict = auth::authenticate(&self.app, &socket, auth);
        async move { verdict }.boxed()
    }

    fn connected(&self, socket: Arc<Socket>) -> BoxFuture<'static, ()> {
        self.app.metrics.connections.inc();
        self.app.metrics.connected_clients.inc();
        tracing::debug!(sid = %socket.id, transport = socket.transport().as_str(), "connected");
        async {}.boxed()
    }

    fn event(
        &self,
        socket: Arc<Socket>,
        event: String,
        args: Vec<Value>,
        ack: Option<AckSender>,
    ) -> BoxFuture<'static, ()> {
        let app = self.app.clone();
        async move {
            let Some(session) = socket.extension::<Session>() else {
                return;
            };
            let ctx = Ctx {
                socket,
                app,
                session,
                ack,
            };
            let data = args.into_iter().next();
            match event.as_str() {
                "join" => ctx.run("join", data, events::join).await,
                "leave" => ctx.run("leave", data, events::leave).await,
                "message" => ctx.run("message", data, events::message).await,
                "broadcast" => ctx.run("broadcast", data, events::broadcast).await,
                "direct" => ctx.run("direct", data, events::direct).await,
                "members" => ctx.run("members", data, events::members).await,
                "rooms" => ctx.run("rooms", data, events::rooms).await,
                "whoami" => ctx.run("whoami", data, events::whoami).await,
                other => {
                    let message = format!("unknown event `{}`", truncate(other, 64));
                    ctx.run_unknown(other, Failure::bad_request(message));
                }
            }
        }
        .boxed()
    }

    fn disconnected(
        &self,
        socket: Arc<Socket>,
        reason: DisconnectReason,
        rooms: Vec<String>,
    ) -> BoxFuture<'static, ()> {
        let app = self.app.clone();
        async move {
            app.metrics.connected_clients.dec();
            app.metrics
                .disconnections
                .get_or_create(&ReasonLabel {
                    reason: reason.as_str(),
                })
                .inc();
            if reason == DisconnectReason::SlowConsumer {
                app.metrics.slow_consumer_disconnects.inc();
                tracing::warn!(sid = %socket.id, "outgoing queue over budget: disconnected slow consumer");
            }
            tracing::debug!(sid = %socket.id, %reason, "disconnected");
            let Some(session) = socket.extension::<Session>() else {
                return;
            };
            let own = socket.id.to_string();
            let rooms: Vec<String> = rooms.into_iter().filter(|r| *r != own).collect();
            if socket.pid().is_some() && reason.is_recoverable() {
                // The client may recover this socket (same id, same rooms) on any replica: its rooms'
                // members see a leave only when it has not come back in time.
                let wait = app.config.recovery_max_disconnection + Duration::from_secs(1);
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let back = socket.namespace().to(own.as_str()).fetch_sockets().await;
                    if back.is_ok_and(|s| s.iter().any(|d| d.id == own)) {
                        return;
                    }
                    for room in &rooms {
                        events::presence(&socket, &app, &session, room, "leave").await;
                    }
                });
                return;
            }
            for room in &rooms {
                events::presence(&socket, &app, &session, room, "leave").await;
            }
        }
        .boxed()
    }

    fn recovered(&self, socket: Arc<Socket>) -> BoxFuture<'static, Result<(), ConnectError>> {
        // The handshake checks are skipped (`--recovery-skip-middleware on`): the session comes back
        // from the recovered `socket.data`, the user the handshake stored.
        let c = &self.app.config;
        let verdict = match rmpv::ext::from_value::<session::User>(socket.data()) {
            Ok(user) => {
                socket.set_extension(Session::new(user, c.rate_limit, c.rate_burst));
                Ok(())
            }
            Err(_) => Err(ConnectError {
                message: "bad_request".into(),
                data: None,
            }),
        };
        async move { verdict }.boxed()
    }
}

fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
}

/// Everything an event handler works with.
pub struct Ctx {
    /// The socket that sent the event.
    pub socket: Arc<Socket>,
    /// Node state.
    pub app: Arc<AppState>,
    /// The socket's session.
    pub session: Arc<Session>,
    ack: Option<AckSender>,
}

/// What an event handler returns: the success ack body, or a failure.
pub type Outcome = Result<serde_json::Value, Failure>;

impl Ctx {
    /// Counts `event`, applies the rate limit, runs `handler` and answers.
    pub async fn run<F>(self, event: &'static str, data: Option<Value>, handler: F)
    where
        F: AsyncFnOnce(&Ctx, Option<Value>) -> Outcome,
    {
        self.app
            .metrics
            .events_received
            .get_or_create(&EventLabel { event })
            .inc();
        let outcome = if self.session.allow_event() {
            handler(&self, data).await
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
        if let Some(ack) = self.ack {
            // A full queue closes the socket as a slow consumer inside the engine.
            let _ = ack.send(vec![to_value(body)]);
        }
    }

    fn fail(self, event: &str, failure: &Failure) {
        if self.ack.is_some() {
            self.answer(&failure.ack());
        } else {
            let _ = self
                .socket
                .emit("error", vec![to_value(&failure.event(event))]);
        }
    }
}

/// A serializable body as a packet argument: structs become maps (MessagePack's compact form
/// would make them arrays), binary stays binary.
pub fn to_value<T: Serialize + ?Sized>(body: &T) -> Value {
    let Ok(bytes) = rmp_serde::to_vec_named(body) else {
        return Value::Nil;
    };
    rmpv::decode::read_value(&mut bytes.as_slice()).unwrap_or(Value::Nil)
}

fn rate_limited() -> Failure {
    Failure {
        code: reply::ErrorCode::RateLimited,
        message: "too many events; slow down".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_maps_and_keep_binary() {
        #[derive(Serialize)]
        struct Body<'a> {
            ok: bool,
            data: &'a Value,
        }
        let data = Value::Binary(vec![1, 2]);
        let v = to_value(&Body {
            ok: true,
            data: &data,
        });
        assert_eq!(
            v,
            Value::Map(vec![
                (Value::from("ok"), Value::from(true)),
                (Value::from("data"), Value::Binary(vec![1, 2])),
            ])
        );
        assert_eq!(
            to_value(&serde_json::json!({"a": [1]})),
            Value::Map(vec![(Value::from("a"), Value::Array(vec![Value::from(1)]))])
        );
    }
}
