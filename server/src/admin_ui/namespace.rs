//! The admin namespace (`/admin` by default): logs the UI in, tells it the session, the features and (in
//! development mode) every socket of the cluster, and applies its actions unless the UI is read-only.

use std::sync::{Arc, OnceLock};

use engine::{AckSender, ConnectError, DisconnectReason, Io, NamespaceHandler, Socket};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rmpv::Value;

use super::auth::{Auth, Granted};
use super::serialize::{self, map};
use super::{actions, config::Mode};

/// The admin namespace's handler.
pub struct AdminNamespace {
    auth: Arc<Auth>,
    mode: Mode,
    readonly: bool,
    /// Set once the server is built (the handler is registered before).
    io: Arc<OnceLock<Io>>,
}

/// A session id to tell the UI once it is connected.
struct NewSession(String);

impl AdminNamespace {
    /// The handler; `io` is filled in when the server is built.
    pub fn new(auth: Auth, mode: Mode, readonly: bool, io: Arc<OnceLock<Io>>) -> Arc<Self> {
        Arc::new(Self {
            auth: Arc::new(auth),
            mode,
            readonly,
            io,
        })
    }

    /// Node's `supportedFeatures`: the four actions and their cluster-wide forms unless read-only, aggregated
    /// events always, every event in development mode.
    pub fn features(&self) -> Vec<&'static str> {
        let mut features = Vec::new();
        if !self.readonly {
            features.extend([
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
            ]);
        }
        features.push("AGGREGATED_EVENTS");
        if self.mode == Mode::Development {
            features.push("ALL_EVENTS");
        }
        features
    }
}

impl NamespaceHandler for AdminNamespace {
    fn authorize(
        &self,
        socket: Arc<Socket>,
        auth: Value,
    ) -> BoxFuture<'static, Result<(), ConnectError>> {
        // Other servers see `handshake.auth` through `fetchSockets`: it holds the password. `data` is an object
        // as in Node (Node's instrument, listing this namespace's sockets, fails on anything else).
        socket.set_auth(Value::Map(Vec::new()));
        socket.set_data(Value::Map(Vec::new()));
        let checker = self.auth.clone();
        async move { finish(&socket, checker.check(&auth).await) }.boxed()
    }

    fn connected(&self, socket: Arc<Socket>) -> BoxFuture<'static, ()> {
        let features: Vec<Value> = self.features().into_iter().map(Value::from).collect();
        let development = self.mode == Mode::Development;
        let io = self.io.get().cloned();
        async move {
            // After the CONNECT answer: the UI registers its listeners on `connect`.
            if let Some(session) = socket.extension::<NewSession>() {
                let _ = socket.emit("session", vec![Value::from(session.0.as_str())]);
            }
            let _ = socket.emit(
                "config",
                vec![map(vec![("supportedFeatures", Value::Array(features))])],
            );
            if let (true, Some(io)) = (development, io) {
                let sockets = all_sockets(&io, socket.ns()).await;
                let _ = socket.emit("all_sockets", vec![Value::Array(sockets)]);
            }
        }
        .boxed()
    }

    fn event(
        &self,
        _socket: Arc<Socket>,
        event: String,
        args: Vec<Value>,
        _ack: Option<AckSender>,
    ) -> BoxFuture<'static, ()> {
        let io = self.io.get().cloned();
        if self.readonly {
            return async {}.boxed();
        }
        async move {
            let Some(io) = io else {
                return;
            };
            match actions::apply(&io, &event, args).await {
                Ok(()) => tracing::info!(action = event, "admin UI action applied"),
                Err(err) => tracing::info!(%err, "admin UI action not applied"),
            }
        }
        .boxed()
    }

    fn disconnected(
        &self,
        _socket: Arc<Socket>,
        _reason: DisconnectReason,
        _rooms: Vec<String>,
    ) -> BoxFuture<'static, ()> {
        async {}.boxed()
    }
}

fn finish(
    socket: &Arc<Socket>,
    verdict: Result<Granted, &'static str>,
) -> Result<(), ConnectError> {
    match verdict {
        Ok(Granted::Known) => Ok(()),
        Ok(Granted::NewSession(id)) => {
            socket.set_extension(Arc::new(NewSession(id)));
            Ok(())
        }
        Err(message) => Err(ConnectError {
            message: message.into(),
            data: None,
        }),
    }
}

/// Every socket of every application namespace on every server (Node's `fetchSockets` per namespace); this
/// server's own when the cluster cannot answer (logged), rather than nothing.
async fn all_sockets(io: &Io, admin: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for ns in io.namespaces() {
        if ns.name() == admin {
            continue;
        }
        match ns.broadcast().fetch_sockets().await {
            Ok(sockets) => out.extend(sockets.into_iter().map(|d| match ns.socket(&d.id) {
                Some(local) => serialize::local(&local),
                None => serialize::remote(ns.name(), d),
            })),
            Err(err) => {
                tracing::warn!(%err, nsp = ns.name(), "admin UI: listing this server's sockets only");
                out.extend(
                    ns.broadcast()
                        .local()
                        .local_sockets()
                        .iter()
                        .map(|s| serialize::local(s)),
                );
            }
        }
    }
    out
}
