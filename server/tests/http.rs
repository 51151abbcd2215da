//! The main-port router in process: the emit API's status codes and bodies, and the
//! Engine.IO guard (EIO3 refusal, drain refusal, stickiness cookie).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use clap::Parser;
use http_body_util::BodyExt;
use server::app;
use server::config::Cli;
use server::state::AppState;
use tower::ServiceExt;

fn state(args: &[&str]) -> Arc<AppState> {
    let cli = Cli::parse_from(std::iter::once("server").chain(args.iter().copied()));
    Arc::new(AppState::new(cli.config).unwrap())
}

async fn call(
    app: &Arc<AppState>,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let (router, _io) = app::build(app.clone());
    let res = router.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

fn emit(key: Option<&str>, body: &str) -> Request<Body> {
    let mut b = Request::post("/api/v1/emit").header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        b = b.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn emit_api_statuses() {
    let app = state(&["--api-key", "k1"]);
    let (s, _, b) = call(
        &app,
        emit(
            Some("k1"),
            r#"{"event":"news","data":{"a":1},"rooms":["r"]}"#,
        ),
    )
    .await;
    assert_eq!((s, &b["ok"]), (StatusCode::OK, &serde_json::json!(true)));

    let (s, _, b) = call(&app, emit(Some("nope"), r#"{"event":"news"}"#)).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (s, _, _) = call(&app, emit(None, r#"{"event":"news"}"#)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    for bad in [
        r#"{"event":"disconnect"}"#,
        r#"{"event":3}"#,
        "not json",
        r#"{"data":1}"#,
        r#"{"event":"a","rooms":"r"}"#,
    ] {
        let (s, _, b) = call(&app, emit(Some("k1"), bad)).await;
        assert_eq!(
            (s, b["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{bad}"
        );
        assert!(b["message"].is_string());
    }
    assert_eq!(
        app.metrics
            .render()
            .lines()
            .find(|l| l.starts_with("sio_api_emits_total")),
        Some("sio_api_emits_total 1")
    );
}

#[tokio::test]
async fn emit_api_absent_without_key() {
    let app = state(&[]);
    let (s, _, b) = call(&app, emit(Some("k1"), r#"{"event":"news"}"#)).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn guard_refuses_eio3_unless_allowed() {
    let req = || {
        Request::get("/socket.io/?EIO=3&transport=polling")
            .body(Body::empty())
            .unwrap()
    };
    let (s, _, b) = call(&state(&[]), req()).await;
    assert_eq!((s, b["code"].as_u64()), (StatusCode::BAD_REQUEST, Some(5)));
    let (s, _, _) = call(&state(&["--allow-eio3"]), req()).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn guard_sets_cookie_and_refuses_handshakes_while_draining() {
    let app = state(&["--cookie", "io", "--node-id", "node-7", "--path", "/wsk"]);
    let req = || {
        Request::get("/wsk/?EIO=4&transport=polling")
            .body(Body::empty())
            .unwrap()
    };
    let (s, headers, _) = call(&app, req()).await;
    assert_eq!(s, StatusCode::OK);
    let cookie = headers
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        cookie.starts_with("io=node-7; Path=/; HttpOnly"),
        "{cookie}"
    );
    app.start_draining();
    let (s, _, b) = call(&app, req()).await;
    assert_eq!(
        (s, b["code"].as_u64()),
        (StatusCode::SERVICE_UNAVAILABLE, Some(4))
    );
}
