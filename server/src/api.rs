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
use std::time::Duration;

use engine::{AdapterError, Io};
use serde::Deserialize;
use serde_json::json;

use crate::contract::to_value;
use crate::contract::validate::room_name;
use crate::state::AppState;

/// Longest `timeout` an `ack` emit may ask for, in milliseconds: every waiting call holds its
/// HTTP request and the acknowledgement bookkeeping until then.
pub const MAX_ACK_TIMEOUT_MS: u64 = 60_000;

/// Event names the socket.io protocol reserves.
pub const RESERVED_EVENTS: [&str; 4] = ["connect", "connect_error", "disconnect", "disconnecting"];

#[derive(Clone)]
struct ApiState {
    app: Arc<AppState>,
    io: Io,
    key: Arc<str>,
}

/// The API router, or an empty one when `--api-key` is not set (every route then 404s).
pub fn router(app: Arc<AppState>, io: Io) -> Router {
    let Some(key) = app.config.api_key.clone() else {
        return Router::new();
    };
    let limit = usize::try_from(app.config.max_payload).unwrap_or(usize::MAX);
    Router::new()
        .route("/api/v1/emit", post(emit))
        .route("/api/v1/server-emit", post(server_emit))
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
    /// Wait for every matching client (on every node) to acknowledge.
    #[serde(default)]
    ack: bool,
    /// How long to wait for acknowledgements, in milliseconds (default `--request-timeout`, at
    /// most [`MAX_ACK_TIMEOUT_MS`]).
    timeout: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerEmitRequest {
    event: String,
    #[serde(default)]
    data: serde_json::Value,
    /// Wait for one acknowledgement per other server.
    #[serde(default)]
    ack: bool,
    /// How long to wait for acknowledgements, in milliseconds (default `--request-timeout`, at
    /// most [`MAX_ACK_TIMEOUT_MS`]).
    timeout: Option<u64>,
}

/// The acknowledgement timeout: `requested` milliseconds (at most [`MAX_ACK_TIMEOUT_MS`]) or the
/// default.
fn ack_timeout(requested: Option<u64>, default: Duration) -> Result<Duration, ApiError> {
    match requested {
        None => Ok(default),
        Some(ms) if ms <= MAX_ACK_TIMEOUT_MS => Ok(Duration::from_millis(ms)),
        Some(_) => Err(ApiError::bad_request(format!(
            "`timeout` must be at most {MAX_ACK_TIMEOUT_MS} ms"
        ))),
    }
}

/// Parses and checks a JSON body, or answers 400.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

async fn emit(
    State(api): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&api, &headers)?;
    let req: EmitRequest = parse(&body)?;
    validate_event(&req.event)?;
    validate_rooms(req.rooms.iter().chain(&req.except))?;
    let timeout = ack_timeout(req.timeout, api.app.config.request_timeout)?;
    let Some(ns) = api.io.of("/") else {
        return Err(internal("namespace `/` is not registered"));
    };
    let ops = ns.broadcast().to_rooms(req.rooms).except_rooms(req.except);
    api.app.metrics.api_emits.inc();
    let args = vec![to_value(&req.data)];
    if !req.ack {
        ops.emit(&req.event, args).await.map_err(unavailable)?;
        return Ok(axum::Json(json!({"ok": true})).into_response());
    }
    let answers = ops
        .timeout(timeout)
        .emit_with_ack(&req.event, args)
        .await
        .map_err(unavailable)?;
    let acks: Vec<serde_json::Value> = answers
        .responses
        .into_iter()
        .map(|a| rmpv::ext::from_value(a).unwrap_or(serde_json::Value::Null))
        .collect();
    if answers.complete {
        Ok(axum::Json(json!({"ok": true, "acks": acks})).into_response())
    } else {
        let message = format!(
            "acknowledgement(s) missing after {} ms",
            timeout.as_millis()
        );
        let body = json!({"ok": false, "error": "timeout", "message": message, "acks": acks});
        Ok((StatusCode::GATEWAY_TIMEOUT, axum::Json(body)).into_response())
    }
}

async fn server_emit(
    State(api): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&api, &headers)?;
    let req: ServerEmitRequest = parse(&body)?;
    validate_event(&req.event)?;
    let Some(adapter) = api.io.of("/").and_then(|ns| ns.adapter().cloned()) else {
        return Err(internal("namespace `/` is not registered"));
    };
    let data = vec![rmpv::Value::from(req.event.as_str()), to_value(&req.data)];
    let timeout = ack_timeout(req.timeout, api.app.config.request_timeout)?;
    if !req.ack {
        adapter.server_side_emit(data).await.map_err(unavailable)?;
        return Ok(axum::Json(json!({"ok": true})).into_response());
    }
    let acks = adapter
        .server_side_emit_with_ack(data, timeout)
        .await
        .map_err(unavailable)?;
    let acks: Vec<serde_json::Value> = acks
        .into_iter()
        .map(|a| rmpv::ext::from_value(a).unwrap_or(serde_json::Value::Null))
        .collect();
    Ok(axum::Json(json!({"ok": true, "acks": acks})).into_response())
}

/// A cluster error: 504 when servers did not answer in time, 503 when the cluster is away.
fn unavailable(err: AdapterError) -> ApiError {
    match err {
        AdapterError::Timeout => ApiError {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: "timeout",
            message: err.to_string(),
        },
        _ => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "unavailable",
            message: err.to_string(),
        },
    }
}

fn internal(err: impl std::fmt::Display) -> ApiError {
    tracing::error!(%err, "API emit failed");
    ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        code: "internal",
        message: "emit failed".into(),
    }
}

/// Checks the bearer key (counting failures); the scheme is case-insensitive (RFC 9110 11.1).
fn authorize(api: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    if key_matches(headers, &api.key) {
        return Ok(());
    }
    api.app.metrics.api_auth_failures.inc();
    Err(ApiError {
        status: StatusCode::UNAUTHORIZED,
        code: "unauthorized",
        message: "missing or wrong bearer key".into(),
    })
}

fn key_matches(headers: &HeaderMap, key: &str) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credentials)| credentials.trim_start_matches(' '));
    // Compare in constant time with respect to the key's content.
    presented.is_some_and(|p| {
        p.len() == key.len()
            && p.bytes()
                .zip(key.bytes())
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0
    })
}

fn validate_event(event: &str) -> Result<(), ApiError> {
    if event.is_empty() || event.chars().count() > 128 {
        return Err(ApiError::bad_request("`event` must be 1..128 characters"));
    }
    if RESERVED_EVENTS.contains(&event) {
        return Err(ApiError::bad_request(format!(
            "`{event}` is a reserved event name"
        )));
    }
    Ok(())
}

fn validate_rooms<'a>(mut rooms: impl Iterator<Item = &'a String>) -> Result<(), ApiError> {
    match rooms.find_map(|r| room_name(r).err()) {
        Some(rule) => Err(ApiError::bad_request(format!("every room {rule}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_empty_events_are_refused() {
        for e in RESERVED_EVENTS.iter().chain(&[""]) {
            assert!(validate_event(e).is_err(), "{e}");
        }
        assert!(validate_event("news").is_ok());
        assert!(validate_rooms(["ok".to_string(), String::new()].iter()).is_err());
    }

    #[test]
    fn bearer_key_is_checked_with_any_case_of_the_scheme() {
        let mut h = HeaderMap::new();
        assert!(!key_matches(&h, "k1"));
        for (value, ok) in [
            ("Bearer k2", false),
            ("Bearer k1", true),
            ("bearer k1", true),
            ("BEARER  k1", true),
            ("Bearerk1", false),
            ("Basic k1", false),
            ("k1", false),
            ("Bearer ", false),
            ("Bearer k1 ", false),
        ] {
            h.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(key_matches(&h, "k1"), ok, "{value:?}");
        }
    }

    #[test]
    fn ack_timeouts_are_capped() {
        let d = Duration::from_secs(5);
        assert_eq!(ack_timeout(None, d).unwrap(), d);
        assert_eq!(
            ack_timeout(Some(MAX_ACK_TIMEOUT_MS), d).unwrap(),
            Duration::from_millis(MAX_ACK_TIMEOUT_MS)
        );
        assert!(ack_timeout(Some(MAX_ACK_TIMEOUT_MS + 1), d).is_err());
        assert!(ack_timeout(Some(u64::MAX), d).is_err());
    }
}
