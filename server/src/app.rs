//! Assembles the node: the socket.io layer, the HTTP API, the Engine.IO guard and CORS on the
//! main port, the admin router on the admin port, and the graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use engine::{EngineConfig, Io};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::api::{self, ApiError};
use crate::config::{Config, CorsOrigin, ParserKind, Switch};
use crate::contract::Contract;
use crate::listener::{GuardedListener, PeerAddr};
use crate::state::AppState;
use crate::{admin, contract, guard, shutdown};

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
    let io = Io::builder(engine_config(c))
        .adapter(Arc::new(app.cluster.clone()))
        .namespace("/", Contract::new(app.clone()))
        .build();
    contract::register_server_side_emit(&app);
    app.metrics.register_engine(io.clone());

    // The engine wraps the whole inner router once: requests under `--path` are Engine.IO's, the
    // others go to the API (and its 404 fallback).
    let inner = api::router(app.clone(), io.clone()).fallback(|| async { ApiError::not_found() });
    let router = Router::new()
        .fallback_service(io.layer().layer(inner))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::engine_io,
        ));
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
    let main_addr = SocketAddr::new(c.host, c.port);
    let admin_addr = SocketAddr::new(c.host, c.admin_port);
    let main = TcpListener::bind(main_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: main_addr,
            source,
        })?;
    let admin = TcpListener::bind(admin_addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: admin_addr,
            source,
        })?;
    tracing::info!(node_id = %app.node_id, %main_addr, %admin_addr, path = %c.path, "listening");

    let (stop_main, main_stopped) = watch::channel(false);
    let (stop_admin, admin_stopped) = watch::channel(false);
    let main = GuardedListener::new(main, c.ping_interval + c.ping_timeout);
    let main_task = tokio::spawn(serve(main, router, main_stopped));
    let admin = GuardedListener::new(admin, c.ping_interval + c.ping_timeout);
    let admin_task = tokio::spawn(serve(admin, admin::router(app.clone()), admin_stopped));

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
    tracing::info!("stopped");
    Ok(())
}

async fn serve(listener: GuardedListener, router: Router, mut stop: watch::Receiver<bool>) {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    // Handlers (the handshake) see the peer address as `ConnectInfo<PeerAddr>`.
    let service = router.into_make_service_with_connect_info::<PeerAddr>();
    if let Err(err) = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%err, "listener failed");
    }
}
