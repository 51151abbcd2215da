//! A cluster request made while Redis has not yet confirmed the server's subscriptions fails at once
//! with `Unavailable`, instead of being published and waiting the whole request timeout for answers
//! that cannot reach it (a replica restarted behind a proxy takes clients in that window), and the
//! server is not ready then. Against a real `redis-server`; the server under test reaches it through
//! a loopback relay that holds back its subscriber connection's traffic from the first SUBSCRIBE on,
//! which keeps the server in that window for as long as the test needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_redis::connection::Connection;
use adapter_redis::metrics::AdapterMetrics;
use adapter_redis::{ClusterConfig, ClusterError, RedisAdapter, RedisCluster};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis() -> (Redis, u16) {
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
    (Redis(child), port)
}

/// A TCP relay on a free loopback port to Redis at `port`. A connection that sends a command
/// containing `SUBSCRIBE` (only the subscriber connection does) has everything it sends from then on
/// held back until `release` is set to true; the other direction always flows.
async fn holding_relay(port: u16) -> (u16, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay_port = listener.local_addr().unwrap().port();
    let (release, released) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(upstream) = TcpStream::connect(("127.0.0.1", port)).await else {
                continue;
            };
            let (mut from_client, mut to_client) = client.into_split();
            let (mut from_redis, mut to_redis) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut from_redis, &mut to_client).await;
            });
            let mut released = released.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut holding = false;
                loop {
                    let n = match from_client.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    holding |= buf[..n]
                        .windows(9)
                        .any(|w| w.eq_ignore_ascii_case(b"SUBSCRIBE"));
                    if holding && released.wait_for(|r| *r).await.is_err() {
                        return;
                    }
                    if to_redis.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (relay_port, release)
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_at_once_until_subscriptions_are_confirmed() {
    let (_redis, port) = start_redis();

    // Two other servers, as far as PUBSUB NUMSUB can tell: subscribed to the request channel.
    let url = format!("redis://127.0.0.1:{port}");
    let mut peers = Vec::new();
    for _ in 0..2 {
        let peer = Connection::new(&url, Arc::new(AdapterMetrics::default())).unwrap();
        peer.start();
        peer.connected().await;
        assert!(peer.subscribe(vec!["socket.io-request#/#".into()]).await);
        peers.push(peer);
    }
    assert_eq!(
        peers[0]
            .subscriber_count(false, "socket.io-request#/#")
            .await
            .unwrap(),
        2
    );

    let (relay_port, release) = holding_relay(port).await;
    let config = ClusterConfig {
        request_timeout: Duration::from_secs(5),
        ..ClusterConfig::default()
    };
    let cluster =
        RedisCluster::connect(&format!("redis://127.0.0.1:{relay_port}"), config).unwrap();
    let (_svc, io) = SocketIo::builder()
        .with_adapter::<RedisAdapter<Emitter>>(cluster.clone())
        .build_svc();
    io.ns("/", async || {});
    wait_for("the server's connections", || {
        cluster.metrics().connected.get() == 1 && cluster.namespace("/").is_some()
    })
    .await;
    assert!(
        !cluster.is_ready(),
        "ready before Redis ran its subscriptions"
    );

    let ops = cluster.namespace("/").unwrap();
    let started = Instant::now();
    let fetched = ops.fetch_sockets(Vec::new()).await;
    let took = started.elapsed();
    assert!(
        matches!(fetched.error, Some(ClusterError::Unavailable(_))),
        "expected Unavailable, got {:?}",
        fetched.error
    );
    assert!(
        took < Duration::from_secs(1),
        "the request waited {took:?} instead of failing at once"
    );

    // Once Redis has run the subscriptions, requests are sent again: with the peers gone this server
    // is the only one, and the answer is complete at once.
    for peer in &peers {
        peer.quit().await;
    }
    release.send(true).unwrap();
    wait_for("the subscriptions after the release", || cluster.is_ready()).await;
    let fetched = tokio::time::timeout(Duration::from_secs(5), ops.fetch_sockets(Vec::new()))
        .await
        .expect("fetch_sockets did not return");
    assert!(fetched.error.is_none(), "{:?}", fetched.error);
}
