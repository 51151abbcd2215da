//! Assembles the node: the socket.io layer, the HTTP API, the Engine.IO guard, static files and
//! CORS on the main port, the admin router on the admin port, and the graceful drain.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use socketioxide::{ParserConfig, SocketIo, TransportType};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::adapter::ServerAdapter;
use crate::api;
use crate::config::{Config, CorsOrigin, ParserKind};
use crate::listener::{GuardedListener, PeerAddr};
use crate::state::AppState;
use crate::{admin, contract, guard, shutdown, web};

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

/// The socket.io server handle and the main-port router.
pub fn build(app: Arc<AppState>) -> (Router, SocketIo<ServerAdapter>) {
    let c = &app.config;
    let builder = SocketIo::builder()
        .with_adapter::<ServerAdapter>(app.cluster.clone())
        .req_path(c.path.clone())
        .ping_interval(c.ping_interval)
        .ping_timeout(c.ping_timeout)
        .connect_timeout(c.connect_timeout)
        .max_payload(c.max_payload)
        // Idle connections dominate memory: a 1 KiB WebSocket read buffer instead of 4 KiB (larger
        // frames are read in several steps).
        .ws_read_buffer_size(1024)
        .ws_max_message_size(usize::try_from(c.max_payload).unwrap_or(usize::MAX))
        .max_buffer_size(c.max_buffer as usize)
        .with_state(app.clone());
    let builder = match (c.transports.polling, c.transports.websocket) {
        (true, false) => builder.transports([TransportType::Polling]),
        (false, true) => builder.transports([TransportType::Websocket]),
        _ => builder.transports([TransportType::Polling, TransportType::Websocket]),
    };
    let builder = match c.parser {
        ParserKind::Default => builder.with_parser(ParserConfig::common()),
        ParserKind::Msgpack => builder.with_parser(ParserConfig::msgpack()),
    };
    let (layer, io) = builder.build_layer();
    contract::register(&io, &app);

    // The socket.io layer wraps the whole inner router exactly once: each `layer` call creates
    // its own Engine.IO session table, so it must not be applied per route.
    // Static files (web.rs): the web directory is the fallback behind the API and the Engine.IO
    // endpoint; the client bundles, which live under the Engine.IO path, are matched ahead of it.
    let web = web::Web::new(c);
    let inner = api::router(app.clone(), io.clone()).fallback_service(web.site());
    let router = Router::new().fallback_service(layer.layer(inner)).layer(
        axum::middleware::from_fn_with_state(app.clone(), guard::engine_io),
    );
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
