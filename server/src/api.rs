//! The HTTP emit API: `POST /api/v1/emit` with `Authorization: Bearer <API_KEY>`.
//!
//! Body `{event, data, rooms?, except?}`; emits `event` with `data` to the matching sockets and
//! answers `{ok: true}`. Every error is a JSON body `{ok: false, error, message}`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;
use socketioxide::SocketIo;

use crate::adapter::ServerAdapter;
use crate::contract::validate::MAX_ROOM_CHARS;
use crate::state::AppState;

/// Event names the socket.io protocol reserves.
pub const RESERVED_EVENTS: [&str; 4] = ["connect", "connect_error", "disconnect", "disconnecting"];

#[derive(Clone)]
struct ApiState {
    app: Arc<AppState>,
    io: SocketIo<ServerAdapter>,
    key: Arc<str>,
}

/// The API router, or an empty one when `--api-key` is not set (every route then 404s).
pub fn router(app: Arc<AppState>, io: SocketIo<ServerAdapter>) -> Router {
    let Some(key) = app.config.api_key.clone() else {
        return Router::new();
    };
    let limit = usize::try_from(app.config.max_payload).unwrap_or(usize::MAX);
    Router::new()
        .route("/api/v1/emit", post(emit))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(ApiState {
            app,
            io,
            key: key.into(),
        })
}

/// An API error: status, code and message, rendered as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "bad_request",
            message: message.into(),
        }
    }

    /// A 404 for routes that do not exist.
    pub fn not_found() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: "no such route".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"ok": false, "error": self.code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmitRequest {
    event: String,
    #[serde(default)]
    data: serde_json::Value,
    #[serde(default)]
    rooms: Vec<String>,
    #[serde(default)]
    except: Vec<String>,
}

async fn emit(
    State(api): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    authorize(&headers, &api.key)?;
    let req: EmitRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?;
    validate(&req)?;
    let ops = api.io.broadcast().to(req.rooms).except(req.except);
    if let Err(err) = ops.emit(&req.event, &req.data).await {
        tracing::error!(%err, "API emit failed");
        let message = "emit failed".to_owned();
        return Err(ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message,
        });
    }
    api.app.metrics.api_emits.inc();
    Ok(axum::Json(json!({"ok": true})))
}

fn authorize(headers: &HeaderMap, key: &str) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compare in constant time with respect to the key's content.
    let ok = presented.is_some_and(|p| {
        p.len() == key.len()
            && p.bytes()
                .zip(key.bytes())
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "missing or wrong bearer key".into(),
        })
    }
}

fn validate(req: &EmitRequest) -> Result<(), ApiError> {
    if req.event.is_empty() || req.event.chars().count() > 128 {
        return Err(ApiError::bad_request("`event` must be 1..128 characters"));
    }
    if RESERVED_EVENTS.contains(&req.event.as_str()) {
        return Err(ApiError::bad_request(format!(
            "`{}` is a reserved event name",
            req.event
        )));
    }
    for room in req.rooms.iter().chain(&req.except) {
        if room.is_empty()
            || room.chars().count() > MAX_ROOM_CHARS
            || room.chars().any(char::is_control)
        {
            return Err(ApiError::bad_request(
                "rooms must be 1..128 characters without control characters",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(event: &str) -> EmitRequest {
        EmitRequest {
            event: event.into(),
            data: json!(null),
            rooms: vec![],
            except: vec![],
        }
    }

    #[test]
    fn reserved_and_empty_events_are_refused() {
        for e in RESERVED_EVENTS.iter().chain(&[""]) {
            assert!(validate(&req(e)).is_err(), "{e}");
        }
        assert!(validate(&req("news")).is_ok());
    }

    #[test]
    fn bearer_key_is_checked() {
        let mut h = HeaderMap::new();
        assert!(authorize(&h, "k1").is_err());
        h.insert(header::AUTHORIZATION, "Bearer k2".parse().unwrap());
        assert!(authorize(&h, "k1").is_err());
        h.insert(header::AUTHORIZATION, "Bearer k1".parse().unwrap());
        assert!(authorize(&h, "k1").is_ok());
    }
}
