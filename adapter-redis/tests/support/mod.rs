//! What the adapter's integration tests share: a private `redis-server`, an engine server on loopback with the
//! Redis adapter, and a raw socket.io client over WebSocket.

#![allow(dead_code, missing_docs)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adapter_redis::{ClusterConfig, RedisCluster};
use bytes::Bytes;
use engine::{
    AckSender, ConnectError, DisconnectReason, EngineConfig, Io, NamespaceHandler, Socket,
};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rmpv::Value;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tower::Layer;

/// A `redis-server` on a free port, killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// Polls `check` until it holds (state that has no event to await: Redis subscriptions, counters).
pub async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The application: `join` joins the room named by the first argument, `data` sets `socket.data`; every
/// event with an ack is answered with its first argument.
#[derive(Default)]
pub struct App {
    pub sockets: Mutex<Vec<Arc<Socket>>>,
}

impl NamespaceHandler for App {
    fn authorize(
        &self,
        socket: Arc<Socket>,
        _auth: Value,
    ) -> BoxFuture<'static, Result<(), ConnectError>> {
        self.sockets.lock().unwrap().push(socket);
        async { Ok(()) }.boxed()
    }

    fn connected(&self, _socket: Arc<Socket>) -> BoxFuture<'static, ()> {
        async {}.boxed()
    }

    fn event(
        &self,
        s: Arc<Socket>,
        event: String,
        args: Vec<Value>,
        ack: Option<AckSender>,
    ) -> BoxFuture<'static, ()> {
        match (event.as_str(), args.first()) {
            ("join", Some(Value::String(room))) => s.join(room.as_str().unwrap_or_default()),
            ("data", Some(v)) => s.set_data(v.clone()),
            _ => {}
        }
        if let Some(ack) = ack {
            let _ = ack.send(args.into_iter().take(1).collect());
        }
        async {}.boxed()
    }

    fn disconnected(
        &self,
        _s: Arc<Socket>,
        _r: DisconnectReason,
        _rooms: Vec<String>,
    ) -> BoxFuture<'static, ()> {
        async {}.boxed()
    }
}

/// An engine server with the Redis adapter, on a loopback port.
pub struct Server {
    pub addr: SocketAddr,
    pub io: Io,
    pub cluster: RedisCluster,
    pub app: Arc<App>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn start(cluster: RedisCluster) -> Self {
        Self::start_with(cluster, EngineConfig::default()).await
    }

    pub async fn start_with(cluster: RedisCluster, config: EngineConfig) -> Self {
        let app = Arc::new(App::default());
        let io = Io::builder(config)
            .adapter(Arc::new(cluster.clone()))
            .namespace("/", app.clone())
            .build();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let layer = io.layer();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let fallback =
                    tower::service_fn(|_req: http::Request<hyper::body::Incoming>| async {
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
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
        Self {
            addr,
            io,
            cluster,
            app,
            task,
        }
    }

    /// A cluster member on `redis`, once its subscriptions are confirmed.
    pub async fn clustered(redis: &Redis, config: ClusterConfig) -> Self {
        Self::clustered_with(redis, config, EngineConfig::default()).await
    }

    pub async fn clustered_with(
        redis: &Redis,
        config: ClusterConfig,
        engine: EngineConfig,
    ) -> Self {
        let server =
            Self::start_with(RedisCluster::connect(&redis.url(), config).unwrap(), engine).await;
        wait_for("subscriptions confirmed", || server.cluster.is_ready()).await;
        server
    }

    pub fn ns(&self) -> Arc<engine::Namespace> {
        self.io.of("/").unwrap()
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw socket.io v5 client over WebSocket, connected to namespace `/`.
pub struct Client {
    ws: Ws,
    pub id: String,
    /// The CONNECT answer (`{sid, pid?}`).
    pub connected: serde_json::Value,
    /// Packets that arrived before the CONNECT answer.
    early: std::collections::VecDeque<String>,
}

impl Client {
    pub async fn connect(server: &Server) -> Self {
        Self::connect_with(server, None).await
    }

    /// Connects with `auth` in the CONNECT packet.
    pub async fn connect_with(server: &Server, auth: Option<serde_json::Value>) -> Self {
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let open = next_text(&mut ws).await;
        assert!(open.starts_with('0'), "{open}");
        let connect = match auth {
            Some(auth) => format!("40{auth}"),
            None => "40".to_owned(),
        };
        ws.send(Message::text(connect)).await.unwrap();
        // A recovered socket gets its missed events before the CONNECT answer, as from Node.
        let mut early = std::collections::VecDeque::new();
        let mut answer = next_text(&mut ws).await;
        while !answer.starts_with("40") {
            early.push_back(answer.trim_start_matches('4').to_owned());
            answer = next_text(&mut ws).await;
        }
        let connected: serde_json::Value =
            serde_json::from_str(answer.trim_start_matches("40")).unwrap();
        let id = connected["sid"].as_str().unwrap().to_owned();
        Self {
            ws,
            id,
            connected,
            early,
        }
    }

    /// Closes the connection (the server sees a transport close).
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    pub async fn send(&mut self, packet: &str) {
        self.ws
            .send(Message::text(format!("4{packet}")))
            .await
            .unwrap();
    }

    /// Emits `event` with a JSON argument and waits for the server's ack (so the handler has run).
    pub async fn call(&mut self, event: &str, arg: serde_json::Value) {
        self.send(&format!("29{}", serde_json::json!([event, arg])))
            .await;
        let ack = self.next().await;
        assert!(ack.starts_with("39"), "{ack}");
    }

    /// The next socket.io packet (without the Engine.IO `4`), answering pings on the way.
    pub async fn next(&mut self) -> String {
        if let Some(packet) = self.early.pop_front() {
            return packet;
        }
        loop {
            let text = next_text(&mut self.ws).await;
            if text == "2" {
                self.ws.send(Message::text("3")).await.unwrap();
                continue;
            }
            return text.strip_prefix('4').unwrap_or(&text).to_owned();
        }
    }

    /// Asserts that no packet arrives within `window`.
    pub async fn nothing_within(&mut self, window: Duration) {
        if let Ok(text) = tokio::time::timeout(window, self.next()).await {
            panic!("unexpected packet {text}");
        }
    }
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("no message within 5 s")
            .expect("connection closed")
            .unwrap();
        if let Message::Text(t) = msg {
            return t.to_string();
        }
    }
}
