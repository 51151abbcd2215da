//! The Redis connection against a real `redis-server` started on a free port: fail-fast
//! publishes while Redis is away, and reconnection with every subscription restored (also
//! subscriptions asked for while it was away) within 2 s of Redis coming back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_redis::connection::Connection;
use adapter_redis::metrics::AdapterMetrics;
use bytes::Bytes;

struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    fn start(port: u16) -> Self {
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
        Self { port, child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Publishes on `publisher` until `rx` sees a message on `channel`, bounded by `within`.
async fn delivered_within(
    publisher: &Connection,
    rx: &mut tokio::sync::broadcast::Receiver<fred::types::Message>,
    channel: &str,
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        let _ = publisher
            .publish(false, channel, Bytes::from_static(b"x"))
            .await;
        let got = tokio::time::timeout(Duration::from_millis(50), async {
            loop {
                match rx.recv().await {
                    Ok(m) if &*m.channel == channel => return true,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return false,
                }
            }
        })
        .await;
        if got == Ok(true) {
            return Some(started.elapsed());
        }
    }
    None
}

async fn up(conn: &Connection) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !conn.is_connected() {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_a_redis_restart() {
    let port = free_port();
    let mut redis = Redis::start(port);
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let metrics = Arc::new(AdapterMetrics::default());
    let conn = Connection::new(&url, metrics.clone()).unwrap();
    conn.start();
    let publisher = Connection::new(&url, Arc::new(AdapterMetrics::default())).unwrap();
    publisher.start();
    up(&conn).await;
    up(&publisher).await;
    let mut rx = conn.messages();
    conn.subscribe(vec!["before".into()]).await;
    assert!(
        delivered_within(&publisher, &mut rx, "before", Duration::from_secs(5))
            .await
            .is_some()
    );

    redis.kill();
    // Publishing fails at once while Redis is away, and is counted.
    let started = Instant::now();
    let mut failed = false;
    while started.elapsed() < Duration::from_secs(5) && !failed {
        failed = conn
            .publish(false, "before", Bytes::from_static(b"y"))
            .await
            .is_err();
    }
    assert!(failed, "publish kept succeeding with Redis down");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "publish did not fail fast: {:?}",
        started.elapsed()
    );
    assert!(metrics.publish_errors.get() >= 1);
    // A subscription asked for while Redis is away is kept for later.
    conn.subscribe(vec!["during".into()]).await;

    let _redis = Redis::start(port);
    let restarted = Instant::now();
    let before = delivered_within(&publisher, &mut rx, "before", Duration::from_secs(5)).await;
    let during = delivered_within(&publisher, &mut rx, "during", Duration::from_secs(5)).await;
    let elapsed = restarted.elapsed();
    assert!(
        before.is_some() && during.is_some(),
        "subscriptions not restored: {before:?} {during:?}"
    );
    assert!(
        elapsed < Duration::from_secs(2),
        "delivery resumed only after {elapsed:?}"
    );
    assert!(metrics.reconnects.get() >= 1);
    eprintln!("delivery resumed {elapsed:?} after Redis restarted");
}
