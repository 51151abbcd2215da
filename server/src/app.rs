//! Assembles the node: the socket.io layer, the HTTP API, the Engine.IO guard, static files and
//! CORS on the main port, the admin router on the admin port, and the graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use engine::{EngineConfig, Io};
use tokio::sync::watch;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::admin_ui::AdminUi;
use crate::api;
use crate::config::{Config, CorsOrigin, ParserKind, Switch};
use crate::contract::Contract;
use crate::listener::{self, Limits, Listener, Timeouts, fd_limit};
use crate::metrics::ListenerLabel;
use crate::state::AppState;
use crate::{admin, contract, guard, memory_trim, shutdown, web};

/// Errors that stop the node from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Redis URL is invalid.
    #[error("--redis-url: {0}")]
    Redis(#[from] adapter_redis::connection::ConnectionError),
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// The engine's settings from the configuration.
pub fn engine_config(c: &Config) -> EngineConfig {
    EngineConfig {
        path: c.path.clone(),
        ping_interval: c.ping_interval,
        ping_timeout: c.ping_timeout,
        connect_timeout: c.connect_timeout,
        max_payload: c.max_payload,
        transports: engine::Transports {
            polling: c.transports.polling,
            websocket: c.transports.websocket,
        },
        allow_eio3: c.allow_eio3,
        parser: match c.parser {
            ParserKind::Default => engine::sio::parser::Parser::Default,
            ParserKind::Msgpack => engine::sio::parser::Parser::Msgpack,
        },
        max_buffer_packets: c.max_buffer as usize,
        max_buffer_bytes: usize::try_from(c.max_buffer_bytes).unwrap_or(usize::MAX),
        recovery: (c.recovery == Switch::On).then(|| engine::config::Recovery {
            max_disconnection: c.recovery_max_disconnection,
            skip_middlewares: c.recovery_skip_middleware == Switch::On,
            ..engine::config::Recovery::default()
        }),
        ..EngineConfig::default()
    }
}

/// The socket.io server and the main-port router.
pub fn build(app: Arc<AppState>) -> (Router, Io) {
    let c = &app.config;
    let admin_ui = AdminUi::new(&app);
    let builder = Io::builder(engine_config(c))
        .adapter(Arc::new(app.cluster.clone()))
        .namespace("/", Contract::new(app.clone()));
    let io = admin_ui.register(builder).build();
    admin_ui.start(&io);
    contract::register_server_side_emit(&app);
    app.metrics.register_engine(io.clone());

    // The engine wraps the whole inner router once: requests under `--path` are Engine.IO's, the
    // others go to the API, then to the Admin UI's files (admin_ui/), then to the static files of
    // `--web-dir` (web.rs). The client bundles, which live under the Engine.IO path, are matched ahead of it.
    let web = web::Web::new(c);
    let inner = admin_ui
        .routes(api::router(app.clone(), io.clone()))
        .fallback_service(web.site());
    let router = Router::new()
        .fallback_service(io.layer().layer(inner))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::engine_io,
        ));
    let router = web.client_bundle(router);
    let router = match &c.cors_origin {
        None => router,
        Some(CorsOrigin::Any) => router.layer(CorsLayer::permissive()),
        Some(CorsOrigin::List(origins)) => router.layer(
            CorsLayer::very_permissive()
                .allow_origin(AllowOrigin::list(origins.clone()))
                .allow_credentials(true),
        ),
    };
    (router, io)
}

/// Serves until SIGTERM/SIGINT, then drains within `--drain-timeout`.
pub async fn run(config: Config) -> Result<(), StartError> {
    let app = Arc::new(AppState::new(config)?);
    let c = &app.config;
    let (router, io) = build(app.clone());
    let (main_limits, admin_limits) = limits(c);
    let main_addr = SocketAddr::new(c.host, c.port);
    let admin_addr = SocketAddr::new(c.host, c.admin_port);
    let bind = |addr, name, limits| {
        Listener::bind(addr, name, limits, &app.metrics)
            .map_err(|source| StartError::Bind { addr, source })
    };
    let main = bind(main_addr, "main", main_limits)?;
    let trim = memory_trim::spawn(
        app.metrics
            .open_connections
            .get_or_create(&ListenerLabel { listener: "main" })
            .clone(),
    );
    let admin = bind(admin_addr, "admin", admin_limits)?;
    tracing::info!(node_id = %app.node_id, %main_addr, %admin_addr, path = %c.path,
        max_connections = main_limits.max_connections, "listening");

    let (stop_main, main_stopped) = watch::channel(false);
    let (stop_admin, admin_stopped) = watch::channel(false);
    let main_task = tokio::spawn(listener::serve(main, router, main_stopped));
    let admin_task = tokio::spawn(listener::serve(
        admin,
        admin::router(app.clone()),
        admin_stopped,
    ));

    shutdown::signal().await;
    app.start_draining();
    tracing::info!(timeout = ?c.drain_timeout, "draining");
    let drain = async {
        // Closing the transports (not a namespace disconnect) makes clients reconnect by themselves.
        io.close().await;
        let _ = stop_main.send(true);
        let _ = main_task.await;
    };
    if tokio::time::timeout(c.drain_timeout, drain).await.is_err() {
        tracing::warn!("drain timeout reached; exiting with connections still open");
    }
    app.cluster.close().await;
    let _ = stop_admin.send(true);
    let _ = admin_task.await;
    trim.abort();
    tracing::info!("stopped");
    Ok(())
}

/// The limits of the main and the admin listener. Raises the soft file descriptor limit to the
/// hard one and keeps descriptors out of the main port's budget for everything else.
fn limits(c: &Config) -> (Limits, Limits) {
    let nofile = fd_limit::raise_nofile_limit();
    let (max_connections, clamped) = fd_limit::max_connections(c.max_connections, nofile);
    if clamped {
        tracing::warn!(
            configured = c.max_connections,
            max_connections,
            nofile,
            "--max-connections lowered to the file descriptor limit minus the reserve"
        );
    }
    let timeouts = Timeouts {
        header: c.header_timeout,
        body: c.body_timeout,
        keep_alive: c.keep_alive_timeout,
    };
    let main = Limits {
        timeouts,
        write_timeout: c.ping_interval + c.ping_timeout,
        max_connections,
        max_pending_per_peer: Some(c.max_pending_per_peer),
    };
    let admin = Limits {
        max_connections: fd_limit::ADMIN_MAX_CONNECTIONS,
        max_pending_per_peer: None,
        ..main
    };
    (main, admin)
}
