//! The engine over real sockets: a hyper server on loopback, raw polling requests and a raw WebSocket client,
//! checking the packets Node's engine.io and socket.io put on the wire (see `docs/protocol-notes.md`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::{
    AckSender, ConnectError, DisconnectReason, EngineConfig, Io, NamespaceHandler, Socket,
};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rmpv::Value;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tower::Layer;

/// Echoes events with an ack, records disconnect reasons.
#[derive(Default)]
struct Echo {
    disconnects: Mutex<Vec<DisconnectReason>>,
    sockets: Mutex<Vec<Arc<Socket>>>,
}

impl NamespaceHandler for Echo {
    fn authorize(
        &self,
        socket: Arc<Socket>,
        auth: Value,
    ) -> BoxFuture<'static, Result<(), ConnectError>> {
        let refuse = auth
            .as_map()
            .is_some_and(|m| m.iter().any(|(k, _)| k.as_str() == Some("refuse")));
        if !refuse {
            self.sockets.lock().unwrap().push(socket);
        }
        async move {
            if refuse {
                Err(ConnectError {
                    message: "refused".into(),
                    data: Some(Value::from("why")),
                })
            } else {
                Ok(())
            }
        }
        .boxed()
    }

    fn connected(&self, _socket: Arc<Socket>) -> BoxFuture<'static, ()> {
        async {}.boxed()
    }

    fn event(
        &self,
        _s: Arc<Socket>,
        _e: String,
        args: Vec<Value>,
        ack: Option<AckSender>,
    ) -> BoxFuture<'static, ()> {
        if let Some(ack) = ack {
            let _ = ack.send(args);
        }
        async {}.boxed()
    }

    fn disconnected(
        &self,
        _s: Arc<Socket>,
        reason: DisconnectReason,
        _r: Vec<String>,
    ) -> BoxFuture<'static, ()> {
        self.disconnects.lock().unwrap().push(reason);
        async {}.boxed()
    }
}

struct Server {
    addr: SocketAddr,
    io: Io,
    echo: Arc<Echo>,
}

async fn serve(config: EngineConfig) -> Server {
    let echo = Arc::new(Echo::default());
    let io = Io::builder(config).namespace("/", echo.clone()).build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = io.layer();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let fallback = tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                let mut res = http::Response::new(Full::new(Bytes::new()));
                *res.status_mut() = http::StatusCode::NOT_FOUND;
                Ok::<_, Infallible>(res)
            });
            let svc = hyper_util::service::TowerToHyperService::new(layer.layer(fallback));
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Server { addr, io, echo }
}

fn config() -> EngineConfig {
    EngineConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        ..EngineConfig::default()
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
}

async fn request(c: &Client, method: &str, url: String, body: &str) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(5), c.request(req))
        .await
        .unwrap()
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn sid_of(open: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(open.trim_start_matches('0')).unwrap();
    json["sid"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn polling_handshake_connect_event_and_ack() {
    let s = serve(config()).await;
    let c = client();
    let base = format!("http://{}/socket.io/?EIO=4&transport=polling", s.addr);
    let (status, open) = request(&c, "GET", base.clone(), "").await;
    assert_eq!(status, 200);
    assert!(open.starts_with("0{\"sid\":\""), "{open}");
    assert!(open.ends_with(r#"","upgrades":["websocket"],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#), "{open}");
    let sid = sid_of(&open);
    assert_eq!(sid.len(), 20);
    let url = format!("{base}&sid={sid}");
    assert_eq!(
        request(&c, "POST", url.clone(), "40").await,
        (200, "ok".into())
    );
    let (_, connect) = request(&c, "GET", url.clone(), "").await;
    assert!(connect.starts_with("40{\"sid\":\""), "{connect}");
    assert_ne!(sid_of(&connect[1..]), sid);
    request(&c, "POST", url.clone(), "421[\"echo\",\"x\"]\u{1e}40/nope,").await;
    let (_, answers) = request(&c, "GET", url.clone(), "").await;
    assert_eq!(
        answers,
        "431[\"x\"]\u{1e}44/nope,{\"message\":\"Invalid namespace\"}"
    );
    // Errors with Node's codes.
    let (status, body) = request(&c, "GET", format!("{base}&sid=AAAAAAAAAAAAAAAAAAAA"), "").await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
    let (status, body) = request(&c, "POST", base.clone(), "").await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":2,"message":"Bad handshake method"}"#)
    );
    let (status, body) = request(
        &c,
        "GET",
        format!("http://{}/socket.io/?EIO=4&transport=x", s.addr),
        "",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":0,"message":"Transport unknown"}"#)
    );
    let (status, body) = request(
        &c,
        "GET",
        format!("http://{}/socket.io/?EIO=3&transport=polling", s.addr),
        "",
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#
        )
    );
    // A client close answers the pending poll with a noop.
    let pending = tokio::spawn({
        let c = c.clone();
        let url = url.clone();
        async move { request(&c, "GET", url, "").await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    request(&c, "POST", url.clone(), "1").await;
    assert_eq!(pending.await.unwrap(), (200, "6".into()));
}

#[tokio::test]
async fn polling_refused_connect_carries_message_and_data_and_keeps_the_session() {
    let s = serve(config()).await;
    let c = client();
    let base = format!("http://{}/socket.io/?EIO=4&transport=polling", s.addr);
    let (_, open) = request(&c, "GET", base.clone(), "").await;
    let url = format!("{base}&sid={}", sid_of(&open));
    request(&c, "POST", url.clone(), r#"40{"refuse":true}"#).await;
    assert_eq!(
        request(&c, "GET", url.clone(), "").await,
        (200, r#"44{"message":"refused","data":"why"}"#.into())
    );
    // The Engine.IO session stays: the client may try again on it.
    request(&c, "POST", url.clone(), "40").await;
    let (_, connect) = request(&c, "GET", url, "").await;
    assert!(connect.starts_with("40{\"sid\":\""), "{connect}");
}

#[tokio::test]
async fn v3_polling_is_connected_to_the_main_namespace_in_the_first_poll() {
    let s = serve(EngineConfig {
        allow_eio3: true,
        ..config()
    })
    .await;
    let c = client();
    let base = format!("http://{}/socket.io/?EIO=3&transport=polling&b64=1", s.addr);
    let (status, body) = request(&c, "GET", base.clone(), "").await;
    assert_eq!(status, 200);
    // v3 length-prefixed payload: the open packet alone, as Node sends it.
    let (len, open) = body.split_once(':').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), open.len());
    assert!(open.starts_with("0{"), "{body}");
    let sid = sid_of(open);
    let (_, first) = request(&c, "GET", format!("{base}&sid={sid}"), "").await;
    assert_eq!(first, "2:40");
}

async fn ws(
    addr: SocketAddr,
    query: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket{query}");
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_text<
    S: StreamExt<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
>(
    ws: &mut S,
) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .ok()??
        {
            Ok(WsMessage::Text(t)) => return Some(t.to_string()),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn websocket_first_ping_after_the_interval_and_no_close_packet_on_timeout() {
    let s = serve(config()).await;
    let mut ws = ws(s.addr, "").await;
    let opened = Instant::now();
    let open = next_text(&mut ws).await.unwrap();
    assert!(open.contains(r#""upgrades":[]"#), "{open}");
    ws.send(WsMessage::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("40{\"sid\""));
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("2"));
    let first_ping = opened.elapsed();
    assert!(
        first_ping >= Duration::from_millis(280),
        "first ping after {first_ping:?}"
    );
    // No pong: the connection closes after pingTimeout without an Engine.IO close packet.
    assert_eq!(next_text(&mut ws).await, None);
    let closed = opened.elapsed();
    assert!(
        closed >= Duration::from_millis(480) && closed < Duration::from_millis(1500),
        "{closed:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        *s.echo.disconnects.lock().unwrap(),
        vec![DisconnectReason::PingTimeout]
    );
}

#[tokio::test]
async fn websocket_binary_event_round_trip_and_refused_connect() {
    let s = serve(config()).await;
    let mut ws = ws(s.addr, "").await;
    next_text(&mut ws).await.unwrap();
    ws.send(WsMessage::text(r#"40{"refuse":true}"#))
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some(r#"44{"message":"refused","data":"why"}"#)
    );
    ws.send(WsMessage::text("40")).await.unwrap();
    next_text(&mut ws).await.unwrap();
    ws.send(WsMessage::text(
        r#"451-7["echo",{"_placeholder":true,"num":0}]"#,
    ))
    .await
    .unwrap();
    ws.send(WsMessage::binary(vec![5u8, 6])).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some(r#"461-7[{"_placeholder":true,"num":0}]"#)
    );
    let bin = tokio::time::timeout(Duration::from_secs(3), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(bin, WsMessage::binary(vec![5u8, 6]));
}

#[tokio::test]
async fn upgrade_from_polling_to_websocket() {
    let s = serve(config()).await;
    let c = client();
    let base = format!("http://{}/socket.io/?EIO=4&transport=polling", s.addr);
    let (_, open) = request(&c, "GET", base.clone(), "").await;
    let sid = sid_of(&open);
    let url = format!("{base}&sid={sid}");
    let pending = tokio::spawn({
        let c = c.clone();
        let url = url.clone();
        async move { request(&c, "GET", url, "").await }
    });
    let mut ws = ws(s.addr, &format!("&sid={sid}")).await;
    ws.send(WsMessage::text("2probe")).await.unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("3probe"));
    assert_eq!(pending.await.unwrap(), (200, "6".into()));
    ws.send(WsMessage::text("5")).await.unwrap();
    ws.send(WsMessage::text("40")).await.unwrap();
    assert!(next_text(&mut ws).await.unwrap().starts_with("40{\"sid\""));
    let (status, body) = request(&c, "GET", url, "").await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":3,"message":"Bad request"}"#)
    );
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_a_slow_consumer() {
    let s = serve(EngineConfig {
        max_buffer_bytes: 256 * 1024,
        ping_interval: Duration::from_secs(30),
        ..config()
    })
    .await;
    let mut ws = ws(s.addr, "").await;
    next_text(&mut ws).await.unwrap();
    ws.send(WsMessage::text("40")).await.unwrap();
    next_text(&mut ws).await.unwrap();
    // The client reads nothing more; the server keeps broadcasting 64 KiB events.
    let ns = s.io.of("/").unwrap();
    let payload = Value::Binary(vec![7; 64 * 1024]);
    let started = Instant::now();
    while s.echo.disconnects.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "never disconnected"
        );
        ns.broadcast()
            .emit("big", vec![payload.clone()])
            .await
            .unwrap();
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        *s.echo.disconnects.lock().unwrap(),
        vec![DisconnectReason::SlowConsumer]
    );
    assert_eq!(ns.slow_consumers(), 1);
    assert_eq!(ns.socket_count(), 0);
    drop(ws);
}

/// Waits (at most 3 s) until the handler has recorded a disconnect, and returns what it recorded.
async fn disconnects(s: &Server) -> Vec<DisconnectReason> {
    let started = Instant::now();
    loop {
        let seen = s.echo.disconnects.lock().unwrap().clone();
        if !seen.is_empty() || started.elapsed() > Duration::from_secs(3) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_disconnect_packet_right_before_the_close_is_a_client_namespace_disconnect() {
    let s = serve(config()).await;
    let mut ws = ws(s.addr, "").await;
    next_text(&mut ws).await.unwrap();
    ws.send(WsMessage::text("40")).await.unwrap();
    next_text(&mut ws).await.unwrap();
    // Both frames in one write: the server reads the DISCONNECT and the close frame together, and Node counts
    // the packet that came first.
    ws.feed(WsMessage::text("41")).await.unwrap();
    ws.feed(WsMessage::Close(None)).await.unwrap();
    ws.flush().await.unwrap();
    assert_eq!(
        disconnects(&s).await,
        vec![DisconnectReason::ClientNamespaceDisconnect]
    );
}

#[tokio::test]
async fn closing_the_server_ends_every_socket_as_server_shutting_down() {
    let s = serve(config()).await;
    let mut ws = ws(s.addr, "").await;
    next_text(&mut ws).await.unwrap();
    ws.send(WsMessage::text("40")).await.unwrap();
    next_text(&mut ws).await.unwrap();
    s.io.close().await;
    assert_eq!(
        disconnects(&s).await,
        vec![DisconnectReason::ServerShuttingDown]
    );
}

fn packet_json(text: &str, prefix: &str) -> serde_json::Value {
    let Some(json) = text.strip_prefix(prefix) else {
        panic!("expected {prefix}..., got {text}");
    };
    serde_json::from_str(json).unwrap()
}

#[tokio::test]
async fn connection_state_recovery_replays_missed_events_before_the_connect_answer() {
    let s = serve(EngineConfig {
        recovery: Some(engine::config::Recovery::default()),
        ..config()
    })
    .await;
    let ns = s.io.of("/").unwrap();
    let mut a = ws(s.addr, "").await;
    next_text(&mut a).await.unwrap();
    a.send(WsMessage::text("40")).await.unwrap();
    let connect = packet_json(&next_text(&mut a).await.unwrap(), "40");
    let (sid, pid) = (
        connect["sid"].as_str().unwrap().to_owned(),
        connect["pid"].as_str().unwrap().to_owned(),
    );
    ns.broadcast()
        .emit("first", vec![Value::from(1)])
        .await
        .unwrap();
    let first = packet_json(&next_text(&mut a).await.unwrap(), "42");
    assert_eq!(first[0], "first");
    let offset = first[2].as_str().unwrap().to_owned();
    // The transport drops; meanwhile events are sent to everyone and to the socket itself.
    drop(a);
    let started = Instant::now();
    while s.echo.disconnects.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ns.broadcast().emit("second", vec![]).await.unwrap();
    ns.to(sid.as_str()).emit("direct", vec![]).await.unwrap();
    // Another connection comes back with the pid and offset.
    let mut b = ws(s.addr, "").await;
    next_text(&mut b).await.unwrap();
    b.send(WsMessage::text(format!(
        r#"40{{"pid":"{pid}","offset":"{offset}"}}"#
    )))
    .await
    .unwrap();
    let second = packet_json(&next_text(&mut b).await.unwrap(), "42");
    assert_eq!(second[0], "second");
    let direct = packet_json(&next_text(&mut b).await.unwrap(), "42");
    assert_eq!(direct[0], "direct");
    let again = packet_json(&next_text(&mut b).await.unwrap(), "40");
    assert_eq!(
        (again["sid"].as_str(), again["pid"].as_str()),
        (Some(sid.as_str()), Some(pid.as_str()))
    );
    // A session recovers once: while it is connected again, the same pid and offset give a new session.
    let mut c = ws(s.addr, "").await;
    next_text(&mut c).await.unwrap();
    c.send(WsMessage::text(format!(
        r#"40{{"pid":"{pid}","offset":"{offset}"}}"#
    )))
    .await
    .unwrap();
    let fresh = packet_json(&next_text(&mut c).await.unwrap(), "40");
    assert_ne!(fresh["sid"].as_str(), Some(sid.as_str()));
    drop(b);
}

#[tokio::test]
async fn a_client_that_received_no_event_still_recovers() {
    let s = serve(EngineConfig {
        recovery: Some(engine::config::Recovery::default()),
        ..config()
    })
    .await;
    let ns = s.io.of("/").unwrap();
    let mut a = ws(s.addr, "").await;
    next_text(&mut a).await.unwrap();
    a.send(WsMessage::text("40")).await.unwrap();
    let connect = packet_json(&next_text(&mut a).await.unwrap(), "40");
    let pid = connect["pid"].as_str().unwrap().to_owned();
    drop(a);
    let started = Instant::now();
    while s.echo.disconnects.lock().unwrap().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ns.broadcast().emit("missed", vec![]).await.unwrap();
    let mut b = ws(s.addr, "").await;
    next_text(&mut b).await.unwrap();
    // socket.io-client sends no offset when it never received one.
    b.send(WsMessage::text(format!(r#"40{{"pid":"{pid}"}}"#)))
        .await
        .unwrap();
    let missed = packet_json(&next_text(&mut b).await.unwrap(), "42");
    assert_eq!(missed[0], "missed");
    assert!(
        next_text(&mut b)
            .await
            .unwrap()
            .starts_with("40{\"sid\":\"".to_owned().as_str())
    );
}

#[tokio::test]
async fn volatile_events_reach_idle_websocket_clients() {
    let s = serve(config()).await;
    let mut ws = ws(s.addr, "").await;
    next_text(&mut ws).await.unwrap();
    ws.send(WsMessage::text("40")).await.unwrap();
    next_text(&mut ws).await.unwrap();
    ws.send(WsMessage::text(r#"421["echo","x"]"#))
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some(r#"431["x"]"#));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ns = s.io.of("/").unwrap();
    ns.broadcast()
        .volatile()
        .emit("tick", vec![Value::from(1)])
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some(r#"42["tick",1]"#));
    // Node's compress flag is accepted and changes nothing (no permessage-deflate).
    ns.broadcast()
        .compress(true)
        .emit("tick", vec![Value::from(2)])
        .await
        .unwrap();
    assert_eq!(next_text(&mut ws).await.as_deref(), Some(r#"42["tick",2]"#));
}
