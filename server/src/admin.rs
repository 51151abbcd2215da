//! The admin listener: `/health`, `/ready` and `/metrics`, kept off the public port.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

/// The admin router.
pub fn router(app: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(app)
}

async fn health() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

async fn ready(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    if app.is_draining() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "draining"})),
        )
    } else if !app.cluster.is_ready() {
        let body = json!({"status": "connecting to redis"});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
    } else {
        (StatusCode::OK, axum::Json(json!({"status": "ready"})))
    }
}

async fn metrics(State(app): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
}
