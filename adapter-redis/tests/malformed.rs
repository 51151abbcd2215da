//! Garbage on every channel a server listens to, against a real `redis-server`: each malformed
//! message is counted by kind, nothing panics, and the server keeps answering well-formed
//! requests afterwards (no stall).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use adapter_redis::connection::Connection;
use adapter_redis::metrics::{AdapterMetrics, MalformedLabel};
use adapter_redis::wire::{Request, Response};
use adapter_redis::{ClusterConfig, RedisCluster};
use bytes::Bytes;
use support::{Redis, Server, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_counted_and_does_not_stall() {
    let redis = Redis::start();
    let url = redis.url();
    let cluster = RedisCluster::connect(&url, ClusterConfig::default()).unwrap();
    let _server = Server::start(cluster.clone()).await;

    // A peer: publishes garbage and a valid request, listens for the answer.
    let peer = Connection::new(&url, Arc::new(AdapterMetrics::default())).unwrap();
    peer.start();
    let mut answers = peer.messages();
    peer.subscribe(vec!["socket.io-response#/#".into()]).await;
    wait_for("both connected and subscribed", || {
        peer.is_connected() && cluster.metrics().connected.get() == 1
    })
    .await;
    // The server's subscriptions are set up asynchronously: wait until it counts as a server.
    let deadline = Instant::now() + Duration::from_secs(5);
    while peer
        .subscriber_count(false, "socket.io-request#/#")
        .await
        .unwrap_or(0)
        < 1
    {
        assert!(Instant::now() < deadline, "server never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let huge_array = {
        // msgpack array32 header claiming 4 billion elements, then nothing.
        vec![0xdd, 0xff, 0xff, 0xff, 0xff]
    };
    let garbage: [(&str, Vec<u8>); 6] = [
        ("socket.io#/#", vec![0x93, 0xa6]), // truncated msgpack
        ("socket.io#/#room#", b"not msgpack at all".to_vec()), // wrong encoding
        ("socket.io#/#", huge_array.clone()), // huge array
        (
            "socket.io-request#/#",
            br#"{"uid":"zz","type":42}"#.to_vec(),
        ), // unknown type
        (
            "socket.io-request#/#",
            br#"{"uid":"zz","type":"x"}"#.to_vec(),
        ), // wrong type
        ("socket.io-request#/#", huge_array), // huge array
    ];
    for (channel, payload) in garbage {
        peer.publish(false, channel, Bytes::from(payload))
            .await
            .unwrap();
    }
    let malformed = |kind| {
        cluster
            .metrics()
            .malformed
            .get_or_create(&MalformedLabel { kind })
            .get()
    };
    wait_for("3 malformed broadcasts and 3 malformed requests", || {
        malformed("broadcast") == 3 && malformed("request") == 3
    })
    .await;

    // Still answering: ALL_ROOMS gets a response.
    let request = Request::AllRooms {
        uid: "zz".into(),
        request_id: "r1".into(),
    };
    peer.publish(false, "socket.io-request#/#", Bytes::from(request.encode()))
        .await
        .unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let msg = answers.recv().await.unwrap();
            if let Some(bytes) = msg.value.as_bytes()
                && let Ok(Response::AllRooms { request_id, .. }) =
                    Response::decode(bytes, adapter_redis::wire::RequestType::AllRooms)
            {
                return request_id;
            }
        }
    })
    .await
    .expect("no ALL_ROOMS answer after the garbage");
    assert_eq!(answer, "r1");
}
