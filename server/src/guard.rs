//! A guard in front of the Engine.IO endpoint: refuses Engine.IO v3 unless `--allow-eio3`,
//! refuses new handshakes while draining, and sets the stickiness cookie on handshakes.
//!
//! Error bodies follow Engine.IO's own `{code, message}` shape so clients report them as usual.

use std::sync::Arc;

use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Engine.IO error code for an unsupported protocol version.
const UNSUPPORTED_PROTOCOL: u8 = 5;
/// Engine.IO error code for a forbidden request.
const FORBIDDEN: u8 = 4;

/// The middleware function; install with `axum::middleware::from_fn_with_state`.
pub async fn engine_io(State(app): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let sio_path = app.config.path.as_str();
    let on_engine_io = path
        .strip_prefix(sio_path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    if !on_engine_io {
        return next.run(req).await;
    }
    let query = req.uri().query().unwrap_or("");
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    if param("EIO") == Some("3") && !app.config.allow_eio3 {
        return refuse(
            StatusCode::BAD_REQUEST,
            UNSUPPORTED_PROTOCOL,
            "Unsupported protocol version",
        );
    }
    let handshake = param("sid").is_none();
    if handshake && app.is_draining() {
        app.metrics.handshakes_refused.inc();
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            FORBIDDEN,
            "Server is shutting down",
        );
    }
    let mut res = next.run(detached(req)).await;
    if handshake && !app.config.transports.websocket {
        res = without_upgrades(res).await;
    }
    if let Some(cookie) = stickiness_cookie(&app).filter(|_| handshake) {
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    res
}

/// The request with its URI and header values copied out of hyper's read buffer.
///
/// hyper parses the request head into slices of the connection's read buffer (16 KiB under
/// `axum::serve`); Engine.IO keeps the request parts for the life of the socket, which would keep
/// that whole buffer alive for every connection.
fn detached(req: Request) -> Request {
    let (mut parts, body) = req.into_parts();
    if let Ok(uri) = axum::http::Uri::try_from(parts.uri.to_string()) {
        // axum's router keeps its own clone of the URI in the extensions.
        if parts.extensions.get::<OriginalUri>().is_some() {
            parts.extensions.insert(OriginalUri(uri.clone()));
        }
        parts.uri = uri;
    }
    for value in parts.headers.values_mut() {
        if let Ok(copy) = HeaderValue::from_bytes(value.as_bytes()) {
            let sensitive = value.is_sensitive();
            *value = copy;
            value.set_sensitive(sensitive);
        }
    }
    Request::from_parts(parts, body)
}

/// Engine.IO advertises the WebSocket upgrade even when only polling is allowed; remove it from
/// the open packet so clients do not try an upgrade that would be refused.
async fn without_upgrades(res: Response) -> Response {
    use http_body_util::BodyExt;
    let (parts, body) = res.into_parts();
    let Ok(collected) = body.collect().await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    let bytes = collected.to_bytes();
    let text =
        String::from_utf8_lossy(&bytes).replace(r#""upgrades":["websocket"]"#, r#""upgrades":[]"#);
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(text))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Uri;
    use bytes::Bytes;

    /// Whether `part` points into `buf`'s allocation.
    fn inside(buf: &Bytes, part: &[u8]) -> bool {
        let range = buf.as_ptr_range();
        range.contains(&part.as_ptr())
    }

    #[test]
    fn detached_request_shares_nothing_with_the_read_buffer() {
        // hyper builds the head from slices of one buffer, as here.
        let buf = Bytes::copy_from_slice(b"/socket.io/?EIO=4&transport=websocket|token-value");
        let uri = Uri::from_maybe_shared(buf.slice(0..37)).unwrap();
        let value = HeaderValue::from_maybe_shared(buf.slice(38..)).unwrap();
        let mut req = Request::builder()
            .uri(uri.clone())
            .header("x-token", value)
            .body(Body::empty())
            .unwrap();
        req.extensions_mut().insert(OriginalUri(uri));

        let req = detached(req);
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(req.headers()["x-token"], "token-value");
        assert!(!inside(&buf, req.uri().path().as_bytes()));
        assert!(!inside(&buf, req.uri().query().unwrap().as_bytes()));
        assert!(!inside(&buf, req.headers()["x-token"].as_bytes()));
        let original = req.extensions().get::<OriginalUri>().unwrap();
        assert_eq!(original.0, "/socket.io/?EIO=4&transport=websocket");
        assert!(!inside(&buf, original.0.path().as_bytes()));
    }
}
