//! The Engine.IO server: the session registry and the routing of each request to a handshake, a poll, a POST
//! or a WebSocket (new, or the upgrade of a polling session).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, header};

use super::driver;
use super::error::RequestError;
use super::handshake::{Handshake, Query};
use super::packet::{Frame, Protocol};
use super::reason::DisconnectReason;
use super::session::{Session, Transport};
use super::stats::EngineStats;
use super::websocket::{self, WsIo};
use crate::config::EngineConfig;
use crate::sid::Sid;
use crate::sio::namespace::Namespaces;

/// Shards of the session registry: handshakes and lookups of different sessions rarely contend.
const SHARDS: usize = 16;

/// The engine: configuration, sessions, namespaces and counters.
pub struct Engine {
    pub(crate) config: EngineConfig,
    sessions: [Mutex<HashMap<Sid, Arc<Session>>>; SHARDS],
    /// Counters.
    pub stats: EngineStats,
    pub(crate) namespaces: Namespaces,
    pub(crate) hooks: crate::hooks::MaybeHooks,
    emptied: tokio::sync::Notify,
}

impl Engine {
    pub(crate) fn new(
        config: EngineConfig,
        namespaces: Namespaces,
        hooks: crate::hooks::MaybeHooks,
    ) -> Self {
        Self {
            config,
            sessions: std::array::from_fn(|_| Mutex::new(HashMap::new())),
            stats: EngineStats::default(),
            namespaces,
            hooks,
            emptied: tokio::sync::Notify::new(),
        }
    }

    fn shard(&self, sid: &Sid) -> std::sync::MutexGuard<'_, HashMap<Sid, Arc<Session>>> {
        let i = sid.as_str().as_bytes()[0] as usize % SHARDS;
        self.sessions[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, sid: &str) -> Option<Arc<Session>> {
        let sid = Sid::parse(sid)?;
        self.shard(&sid).get(&sid).cloned()
    }

    fn insert(&self, session: Arc<Session>) {
        self.stats.connections.fetch_add(1, Relaxed);
        let transport = session.transport();
        if transport == Transport::Polling {
            self.stats.polling_sessions.fetch_add(1, Relaxed);
        }
        if let Some(h) = &self.hooks {
            h.connection_opened(session.id, transport);
        }
        self.shard(&session.id).insert(session.id, session);
    }

    /// Removes a closed session.
    pub(crate) fn remove(&self, session: &Session, reason: DisconnectReason) {
        if self.shard(&session.id).remove(&session.id).is_some() {
            self.stats.disconnections.fetch_add(1, Relaxed);
            let transport = session.transport();
            if transport == Transport::Polling {
                self.stats.polling_sessions.fetch_sub(1, Relaxed);
            }
            if let Some(h) = &self.hooks {
                h.connection_closed(session.id, transport, reason);
            }
            if self.stats.open_sessions() == 0 {
                self.emptied.notify_waiters();
            }
        }
    }

    /// Every open session.
    pub(crate) fn sessions(&self) -> Vec<Arc<Session>> {
        self.sessions
            .iter()
            .flat_map(|s| {
                s.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Closes every session with `reason` and waits until all are gone.
    pub(crate) async fn close_all(&self, reason: DisconnectReason) {
        let emptied = self.emptied.notified();
        tokio::pin!(emptied);
        emptied.as_mut().enable();
        for s in self.sessions() {
            s.close(reason);
        }
        if self.stats.open_sessions() > 0 {
            emptied.await;
        }
    }

    /// Answers one Engine.IO request.
    pub(crate) async fn handle<ReqBody, B>(
        self: Arc<Self>,
        mut req: Request<ReqBody>,
    ) -> Response<B>
    where
        ReqBody: hyper::body::Body<Data = Bytes> + Send + 'static,
        ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        B: From<Bytes>,
    {
        let upgrade = websocket::is_upgrade(req.headers());
        let refuse = |err: RequestError| {
            if upgrade {
                err.upgrade_response()
            } else {
                err.response()
            }
        };
        let query = match Query::parse(req.uri().query(), self.config.transports) {
            Ok(q) => q,
            Err(err) => return refuse(err),
        };
        let Some(sid) = &query.sid else {
            return self.handshake(query, upgrade, req);
        };
        let Some(session) = self.get(sid) else {
            return refuse(RequestError::UnknownSid);
        };
        if session.protocol != query.protocol {
            return refuse(RequestError::BadRequest);
        }
        if upgrade && query.transport == Transport::WebSocket {
            return self.upgrade(session, &mut req);
        }
        if session.transport() != query.transport || query.transport != Transport::Polling {
            // Node: a request for another transport than the session's, without an upgrade.
            return refuse(RequestError::BadRequest);
        }
        match *req.method() {
            Method::GET => super::polling::get(session).await,
            Method::POST => {
                let content_type = req
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                super::polling::post(session, content_type.as_deref(), req.into_body()).await
            }
            _ => {
                let mut res = Response::new(B::from(Bytes::new()));
                *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                res
            }
        }
    }

    fn handshake<ReqBody, B: From<Bytes>>(
        self: Arc<Self>,
        query: Query,
        upgrade: bool,
        mut req: Request<ReqBody>,
    ) -> Response<B>
    where
        ReqBody: Send + 'static,
    {
        let refuse = |err: RequestError| {
            if upgrade {
                err.upgrade_response()
            } else {
                err.response()
            }
        };
        if req.method() != Method::GET {
            return refuse(RequestError::BadHandshakeMethod);
        }
        if query.protocol == Protocol::V3 && !self.config.allow_eio3 {
            return refuse(RequestError::UnsupportedProtocolVersion);
        }
        if query.transport == Transport::WebSocket && !upgrade {
            return refuse(RequestError::BadRequest);
        }
        let accept = if query.transport == Transport::WebSocket {
            match websocket::accept::<B>(req.headers()) {
                Some(res) => Some(res),
                None => return RequestError::BadRequest.response(),
            }
        } else {
            None
        };
        let on_upgrade = accept.as_ref().map(|_| hyper::upgrade::on(&mut req));
        let (parts, _) = req.into_parts();
        let handshake = Arc::new(Handshake::from_parts(&parts));
        drop(parts);
        let session = Arc::new(Session::new(
            self.clone(),
            query.protocol,
            !query.b64,
            query.transport,
            handshake,
        ));
        let upgrades = if query.transport == Transport::Polling && self.config.transports.websocket
        {
            "[\"websocket\"]"
        } else {
            "[]"
        };
        let open = format!(
            "0{{\"sid\":\"{}\",\"upgrades\":{},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            session.id,
            upgrades,
            self.config.ping_interval.as_millis(),
            self.config.ping_timeout.as_millis(),
            self.config.max_payload
        );
        {
            let mut state = session.lock();
            state.queued_packets += 1;
            state.queued_bytes += open.len();
            state.outbox.push_back(Frame::Text(Bytes::from(open)));
        }
        self.insert(session.clone());
        // v3: the automatic connect to `/` is the session task's first job (its `40` follows the open
        // packet, in the first poll, as in Node).
        let first = crate::sio::client::on_open(&session);
        match (accept, on_upgrade) {
            (Some(res), Some(on_upgrade)) => {
                let max = usize::try_from(self.config.max_payload).unwrap_or(usize::MAX);
                driver::spawn_upgrading(session, on_upgrade, max, first);
                res
            }
            _ => {
                driver::spawn(session.clone(), None, first);
                // The handshake GET is the session's first poll: it carries the open packet.
                let mut res: Response<B> = Response::new(B::from(Bytes::new()));
                let fut = super::polling::get::<B>(session);
                // The open packet is queued, so the poll answers without waiting.
                match futures_util::FutureExt::now_or_never(fut) {
                    Some(r) => res = r,
                    None => *res.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR,
                }
                res
            }
        }
    }

    fn upgrade<ReqBody, B: From<Bytes>>(
        &self,
        session: Arc<Session>,
        req: &mut Request<ReqBody>,
    ) -> Response<B> {
        let refused = {
            let mut state = session.lock();
            let refused =
                state.transport != Transport::Polling || state.upgrading || state.closing.is_some();
            state.upgrading |= !refused;
            refused
        };
        if refused {
            // Node accepts the WebSocket of an already upgraded (or upgrading) session and closes it at once,
            // without a packet.
            let Some(res) = websocket::accept::<B>(req.headers()) else {
                return RequestError::BadRequest.upgrade_response();
            };
            let on_upgrade = hyper::upgrade::on(req);
            tokio::spawn(async move {
                if let Ok(io) = on_upgrade.await {
                    let mut ws = WsIo::new(io, 0);
                    let close =
                        crate::ws::frame::control_frame(crate::ws::frame::Opcode::Close, &[]);
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(1),
                        ws.write_all(&close),
                    )
                    .await;
                }
            });
            return res;
        }
        let Some(res) = websocket::accept::<B>(req.headers()) else {
            session.lock().upgrading = false;
            return RequestError::BadRequest.response();
        };
        let on_upgrade = hyper::upgrade::on(req);
        let max = usize::try_from(self.config.max_payload).unwrap_or(usize::MAX);
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(io) => websocket::probe(session, WsIo::new(io, max)).await,
                Err(_) => session.lock().upgrading = false,
            }
        });
        res
    }
}
