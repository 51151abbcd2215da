//! A guard in front of the Engine.IO endpoint: refuses new handshakes while draining, sets the
//! stickiness cookie on handshakes, and hands the peer address to the engine.
//!
//! Error bodies follow Engine.IO's own `{code, message}` shape so clients report them as usual.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::listener::PeerAddr;
use crate::state::AppState;

/// Engine.IO error code for a forbidden request.
const FORBIDDEN: u8 = 4;

/// The middleware function; install with `axum::middleware::from_fn_with_state`.
pub async fn engine_io(State(app): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let sio_path = app.config.path.as_str();
    let on_engine_io = path
        .strip_prefix(sio_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !on_engine_io {
        return next.run(req).await;
    }
    let handshake = !req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.starts_with("sid="));
    if handshake && app.is_draining() {
        app.metrics.handshakes_refused.inc();
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            FORBIDDEN,
            "Server is shutting down",
        );
    }
    if let Some(ConnectInfo(PeerAddr(addr))) =
        req.extensions().get::<ConnectInfo<PeerAddr>>().copied()
    {
        req.extensions_mut().insert(engine::RemoteAddr(addr));
    }
    let mut res = next.run(req).await;
    if let Some(cookie) = stickiness_cookie(&app).filter(|_| handshake) {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    res
}

fn refuse(status: StatusCode, code: u8, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

/// `name=<node id>; Path=/; HttpOnly; SameSite=Lax`, as Node's `cookie` option sets it.
fn stickiness_cookie(app: &AppState) -> Option<HeaderValue> {
    let name = app.config.cookie.as_deref()?;
    HeaderValue::from_str(&format!(
        "{name}={}; Path=/; HttpOnly; SameSite=Lax",
        app.node_id
    ))
    .ok()
}
