//! The official socket.io Admin UI (`@socket.io/admin-ui` 0.5) against this server and its cluster: the
//! server side of Node's `instrument()`, and the UI's files.
//!
//! Everything the UI is told is broadcast to the admin namespace through the adapter, so a UI connected to any
//! replica (Rust, or Node running `instrument()`) sees every replica; what it asks (join, leave, disconnect,
//! emit) is applied cluster-wide. When `--admin-ui` is off nothing is registered: no namespace, no hooks, no
//! task, so it costs nothing.
//!
//! One job per file: [`config`] the flags, [`sessions`] and [`auth`] the login, [`namespace`] the admin
//! namespace, [`actions`] what the UI asks, [`hooks`] what the engine reports, [`reporter`] development-mode
//! events, [`stats`] `server_stats`, [`serialize`] sockets in Node's shape, [`static_files`] the UI.

mod actions;
mod auth;
pub mod config;
mod hooks;
mod namespace;
mod reporter;
mod serialize;
mod sessions;
mod static_files;
mod stats;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::Router;
use engine::{Io, IoBuilder};
use tokio::sync::mpsc;

use crate::config::Switch;
use crate::state::AppState;
use config::{AdminUiConfig, Mode};
use reporter::Report;

/// The Admin UI of this node, when `--admin-ui on`.
pub struct AdminUi(Option<Enabled>);

struct Enabled {
    config: AdminUiConfig,
    identity: stats::Identity,
    handler: Arc<namespace::AdminNamespace>,
    hooks: Arc<hooks::AdminHooks>,
    raw: Arc<stats::RawEvents>,
    io: Arc<OnceLock<Io>>,
    reports: Mutex<Option<mpsc::Receiver<Report>>>,
    dropped: Arc<AtomicU64>,
}

impl AdminUi {
    /// The Admin UI as configured (nothing when off).
    pub fn new(app: &AppState) -> Self {
        let c = &app.config.admin_ui;
        if !c.is_on() {
            return Self(None);
        }
        let credentials = match (c.auth, &c.password_hash) {
            (Switch::On, Some(hash)) => Some((c.username.clone(), hash.clone())),
            _ => {
                tracing::warn!(
                    port = app.config.port,
                    namespace = %c.namespace,
                    "ADMIN UI AUTHENTICATION IS OFF (--admin-ui-auth off): anyone who reaches this port can list \
                     every client and, unless --admin-ui-readonly, disconnect them and send them events"
                );
                None
            }
        };
        let store = sessions::SessionStore::new(app.config.redis_url.as_deref());
        let io = Arc::new(OnceLock::new());
        let handler = namespace::AdminNamespace::new(
            auth::Auth::new(credentials, store),
            c.mode,
            c.readonly,
            io.clone(),
        );
        let raw = Arc::new(stats::RawEvents::default());
        let dropped = Arc::new(AtomicU64::new(0));
        let (reports, rx) = match c.mode {
            Mode::Development => {
                let (tx, rx) = mpsc::channel(reporter::QUEUE);
                (Some((tx, dropped.clone())), Some(rx))
            }
            Mode::Production => (None, None),
        };
        let hooks = Arc::new(hooks::AdminHooks::new(
            c.namespace.clone(),
            raw.clone(),
            reports,
        ));
        let identity = stats::Identity {
            server_id: c.server_id.clone().unwrap_or_else(|| app.node_id.clone()),
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            pid: std::process::id(),
            started: Instant::now(),
        };
        tracing::info!(
            namespace = %c.namespace,
            mode = ?c.mode,
            readonly = c.readonly,
            server_id = %identity.server_id,
            "admin UI on"
        );
        Self(Some(Enabled {
            config: c.clone(),
            identity,
            handler,
            hooks,
            raw,
            io,
            reports: Mutex::new(rx),
            dropped,
        }))
    }

    /// Registers the admin namespace and the hooks on the server being built.
    pub fn register(&self, builder: IoBuilder) -> IoBuilder {
        let Some(e) = &self.0 else {
            return builder;
        };
        builder
            .namespace(e.config.namespace.clone(), e.handler.clone())
            .hooks(e.hooks.clone())
    }

    /// Starts `server_stats` and (development mode) the event reporter on the built server.
    pub fn start(&self, io: &Io) {
        let Some(e) = &self.0 else {
            return;
        };
        let _ = e.io.set(io.clone());
        let ns = e.config.namespace.clone();
        stats::spawn(io.clone(), ns.clone(), e.identity.clone(), e.raw.clone());
        let rx = e.reports.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(rx) = rx {
            reporter::spawn(io.clone(), ns, rx, e.dropped.clone());
        }
    }

    /// `router` with the UI's files under `/admin-ui/` (when on and built).
    pub fn routes(&self, router: Router) -> Router {
        match &self.0 {
            Some(e) => static_files::routes(router, &e.config.dir),
            None => router,
        }
    }
}
