//! The answer to a connection over a limit: `503` with an Engine.IO-shaped error body to its
//! first request, then close.
//!
//! The request is read before answering so that the client sees the status instead of a reset
//! (closing a socket with unread data sends RST). A refused connection gets [`ANSWER_WITHIN`] to
//! send its request; one that sends nothing is closed after that.

use std::convert::Infallible;
use std::time::Duration;

use http::{Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::Refusal;

/// How long a refused connection is kept at most.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// Engine.IO error code the drain refusal uses too (clients treat any non-200 handshake alike).
const FORBIDDEN: u8 = 4;

/// Answers `stream`'s first request with `503` and closes it.
pub async fn answer(stream: TcpStream, refusal: Refusal) {
    let body = serde_json::json!({"code": FORBIDDEN, "message": refusal.message()}).to_string();
    let service = hyper::service::service_fn(move |_req: hyper::Request<Incoming>| {
        let body = body.clone();
        async move {
            let res = Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::RETRY_AFTER, "1")
                .body(Full::new(Bytes::from(body)))
                .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())));
            Ok::<_, Infallible>(res)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    // Whatever happens (timeout, a client that left), the socket is closed here.
    let _ = tokio::time::timeout(ANSWER_WITHIN, conn).await;
}
