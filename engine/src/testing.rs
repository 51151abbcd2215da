//! In-process fixtures for the engine's unit tests: an engine with one namespace, sessions without a network.

use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rmpv::Value;

use crate::config::EngineConfig;
use crate::eio::handshake::Handshake;
use crate::eio::packet::Protocol;
use crate::eio::reason::DisconnectReason;
use crate::eio::server::Engine;
use crate::eio::session::{Session, Transport};
use crate::io::Io;
use crate::sio::ack::AckSender;
use crate::sio::namespace::{ConnectError, NamespaceHandler};
use crate::sio::socket::Socket;

/// Records what the namespace saw.
#[derive(Default)]
pub(crate) struct Recorder {
    pub events: Mutex<Vec<(String, Vec<Value>)>>,
    pub disconnects: Mutex<Vec<DisconnectReason>>,
}

impl NamespaceHandler for Recorder {
    fn authorize(
        &self,
        _socket: Arc<Socket>,
        auth: Value,
    ) -> BoxFuture<'static, Result<(), ConnectError>> {
        let refuse = auth
            .as_map()
            .is_some_and(|m| m.iter().any(|(k, _)| k.as_str() == Some("refuse")));
        async move {
            if refuse {
                Err(ConnectError {
                    message: "refused".into(),
                    data: None,
                })
            } else {
                Ok(())
            }
        }
        .boxed()
    }

    fn connected(&self, _socket: Arc<Socket>) -> BoxFuture<'static, ()> {
        async {}.boxed()
    }

    fn event(
        &self,
        _socket: Arc<Socket>,
        event: String,
        args: Vec<Value>,
        ack: Option<AckSender>,
    ) -> BoxFuture<'static, ()> {
        self.events.lock().unwrap().push((event, args.clone()));
        if let Some(ack) = ack {
            let _ = ack.send(args);
        }
        async {}.boxed()
    }

    fn disconnected(
        &self,
        _socket: Arc<Socket>,
        reason: DisconnectReason,
        _rooms: Vec<String>,
    ) -> BoxFuture<'static, ()> {
        self.disconnects.lock().unwrap().push(reason);
        async {}.boxed()
    }
}

/// An engine with namespace `/` recorded by a [`Recorder`].
pub(crate) fn io(config: EngineConfig) -> (Io, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let io = Io::builder(config).namespace("/", recorder.clone()).build();
    (io, recorder)
}

/// A polling session registered in `io`'s engine, its task not started.
pub(crate) fn session(io: &Io, protocol: Protocol) -> Arc<Session> {
    let engine: Arc<Engine> = io.engine();
    Arc::new(Session::new(
        engine,
        protocol,
        true,
        Transport::Polling,
        Arc::new(Handshake::default()),
    ))
}
