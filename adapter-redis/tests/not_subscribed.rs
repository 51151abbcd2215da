//! A cluster request made while Redis has not yet confirmed the server's subscriptions fails at once
//! with `Unavailable`, instead of being published and waiting the whole request timeout for answers
//! that cannot reach it (a replica restarted behind a proxy takes clients in that window). Against
//! a real `redis-server`: an ACL user without the SUBSCRIBE commands holds the server in that window
//! for as long as the test needs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_redis::connection::Connection;
use adapter_redis::metrics::AdapterMetrics;
use adapter_redis::{ClusterConfig, ClusterError, RedisAdapter, RedisCluster};
use socketioxide::SocketIo;
use socketioxide::adapter::Emitter;

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

fn redis_cli(port: u16, args: &[&str]) {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli on PATH");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim() == "OK",
        "redis-cli {args:?}: {text}"
    );
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
    // Everything but the subscribe commands (nopass: any password is accepted).
    redis_cli(
        port,
        &[
            "ACL",
            "SETUSER",
            "nosub",
            "on",
            "nopass",
            "~*",
            "&*",
            "+@all",
            "-subscribe",
            "-psubscribe",
            "-ssubscribe",
        ],
    );

    // Two other servers, as far as PUBSUB NUMSUB can tell: subscribed to the request channel.
    let url = format!("redis://127.0.0.1:{port}");
    let mut peers = Vec::new();
    for _ in 0..2 {
        let peer = Connection::new(&url, Arc::new(AdapterMetrics::default())).unwrap();
        peer.start();
        peer.subscribe(vec!["socket.io-request#/#".into()]).await;
        peers.push(peer);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while peers[0]
        .subscriber_count(false, "socket.io-request#/#")
        .await
        .unwrap_or(0)
        < 2
    {
        assert!(Instant::now() < deadline, "peers never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let config = ClusterConfig {
        request_timeout: Duration::from_secs(5),
        ..ClusterConfig::default()
    };
    let cluster =
        RedisCluster::connect(&format!("redis://nosub:x@127.0.0.1:{port}"), config).unwrap();
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
        "ready although Redis refused every subscription"
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

    // Once Redis accepts the subscriptions (the adapter retries them), requests are sent again: with
    // the peers gone this server is the only one, and the answer is complete at once.
    for peer in &peers {
        peer.quit().await;
    }
    redis_cli(port, &["ACL", "SETUSER", "nosub", "+@all"]);
    wait_for("the subscriptions after the ACL change", || {
        cluster.is_ready()
    })
    .await;
    let fetched = tokio::time::timeout(Duration::from_secs(5), ops.fetch_sockets(Vec::new()))
        .await
        .expect("fetch_sockets did not return");
    assert!(fetched.error.is_none(), "{:?}", fetched.error);
}
