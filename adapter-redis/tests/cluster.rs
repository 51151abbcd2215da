//! Two engine servers with the Redis adapter on one real `redis-server`, with raw socket.io clients over
//! WebSocket, in each protocol mode: broadcasts (rooms, except, a socket id), joins, leaves and disconnects on
//! the other server, fetching sockets with their handshake and data, broadcasts with acknowledgements,
//! server-side emits and the server count.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use adapter_redis::{ClusterConfig, Mode, ShardedSubscriptionMode};
use rmpv::Value;
use serde_json::json;
use support::{Client, Redis, Server, wait_for};

const QUIET: Duration = Duration::from_millis(300);

fn modes() -> [Mode; 3] {
    [
        Mode::Classic,
        Mode::Sharded(ShardedSubscriptionMode::Dynamic),
        Mode::Sharded(ShardedSubscriptionMode::Static),
    ]
}

async fn pair(redis: &Redis, mode: Mode) -> (Server, Server) {
    let config = ClusterConfig {
        mode,
        request_timeout: Duration::from_secs(2),
        ..ClusterConfig::default()
    };
    let a = Server::clustered(redis, config.clone()).await;
    let b = Server::clustered(redis, config).await;
    // Both count each other before the test starts.
    let ns = a.ns();
    let adapter = ns.adapter().unwrap().clone();
    tokio::time::timeout(Duration::from_secs(5), async {
        while adapter.server_count().await.unwrap() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("servers never counted each other");
    (a, b)
}

/// Joins `room` on the client's server, and waits until the room channel (sharded dynamic) is subscribed.
async fn join(server: &Server, client: &mut Client, room: &str) {
    client.call("join", json!(room)).await;
    server.cluster.sync_rooms("/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_reach_the_other_server() {
    let redis = Redis::start();
    for mode in modes() {
        let (a, b) = pair(&redis, mode).await;
        let mut on_a = Client::connect(&a).await;
        let mut in_room = Client::connect(&b).await;
        let mut outside = Client::connect(&b).await;
        join(&b, &mut in_room, "r").await;

        a.ns()
            .to("r")
            .emit("news", vec![Value::from("x")])
            .await
            .unwrap();
        assert_eq!(in_room.next().await, r#"2["news","x"]"#, "{mode:?}");
        outside.nothing_within(QUIET).await;
        on_a.nothing_within(Duration::ZERO).await;

        // A socket id is a room everywhere; binary travels inline and arrives as an attachment.
        a.ns()
            .to(outside.id.clone())
            .emit("direct", vec![Value::Binary(vec![1, 2, 3])])
            .await
            .unwrap();
        assert_eq!(
            outside.next().await,
            r#"51-["direct",{"_placeholder":true,"num":0}]"#,
            "{mode:?}"
        );

        // Everyone except the room; `local` stays on this server.
        a.ns()
            .broadcast()
            .except("r")
            .emit("all", vec![])
            .await
            .unwrap();
        assert_eq!(on_a.next().await, r#"2["all"]"#);
        a.ns()
            .broadcast()
            .local()
            .emit("local", vec![])
            .await
            .unwrap();
        assert_eq!(on_a.next().await, r#"2["local"]"#);
        in_room.nothing_within(QUIET).await;
        b.cluster.close().await;
        a.cluster.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_leaves_and_disconnects_apply_on_the_other_server() {
    let redis = Redis::start();
    for mode in modes() {
        let (a, b) = pair(&redis, mode).await;
        let mut client = Client::connect(&b).await;
        a.ns()
            .broadcast()
            .to(client.id.clone())
            .sockets_join(vec!["joined".into()])
            .await
            .unwrap();
        wait_for("the remote join", || b.ns().room_size("joined") == 1).await;
        b.cluster.sync_rooms("/").await;
        a.ns().to("joined").emit("hi", vec![]).await.unwrap();
        assert_eq!(client.next().await, r#"2["hi"]"#, "{mode:?}");

        a.ns()
            .broadcast()
            .sockets_leave(vec!["joined".into()])
            .await
            .unwrap();
        wait_for("the remote leave", || b.ns().room_size("joined") == 0).await;

        a.ns()
            .to(client.id.clone())
            .disconnect_sockets(false)
            .await
            .unwrap();
        assert_eq!(client.next().await, "1", "{mode:?}");
        wait_for("the socket gone", || b.ns().socket_count() == 0).await;
        b.cluster.close().await;
        a.cluster.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sockets_describes_remote_sockets_like_node() {
    let redis = Redis::start();
    for mode in modes() {
        let (a, b) = pair(&redis, mode).await;
        let mut local = Client::connect(&a).await;
        let mut remote = Client::connect(&b).await;
        remote.call("data", json!({"user": "ann"})).await;
        join(&b, &mut remote, "r").await;
        local.call("join", json!("other")).await;

        let all = a.ns().broadcast().fetch_sockets().await.unwrap();
        let mut ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        ids.sort();
        let mut want = vec![local.id.as_str(), remote.id.as_str()];
        want.sort();
        assert_eq!(ids, want, "{mode:?}");

        let in_r = a.ns().to("r").fetch_sockets().await.unwrap();
        assert_eq!(in_r.len(), 1, "{mode:?}");
        let s = &in_r[0];
        assert_eq!(s.id, remote.id);
        assert_eq!(s.rooms, vec![remote.id.clone(), "r".to_string()]);
        assert_eq!(
            s.data,
            Value::Map(vec![(Value::from("user"), Value::from("ann"))])
        );
        let keys: Vec<&str> = s
            .handshake
            .as_map()
            .unwrap()
            .iter()
            .filter_map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"
            ]
        );
        b.cluster.close().await;
        a.cluster.close().await;
    }
}

/// Answers the next event that asks for an ack with `answer`.
async fn answer(client: &mut Client, answer: &str) {
    let packet = client.next().await;
    let rest = packet.strip_prefix('2').expect("an event");
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert!(!id.is_empty(), "no ack id in {packet}");
    client.send(&format!("3{id}[\"{answer}\"]")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcast_acks_come_from_every_server() {
    let redis = Redis::start();
    for mode in modes() {
        let (a, b) = pair(&redis, mode).await;
        let mut c1 = Client::connect(&a).await;
        let mut c2 = Client::connect(&b).await;
        let mut c3 = Client::connect(&b).await;
        let ns = a.ns();
        let asking = tokio::spawn(async move {
            ns.broadcast()
                .timeout(Duration::from_secs(3))
                .emit_with_ack("ask", vec![])
                .await
        });
        answer(&mut c1, "one").await;
        answer(&mut c2, "two").await;
        answer(&mut c3, "three").await;
        let acks = asking.await.unwrap().unwrap();
        let mut got: Vec<&str> = acks.responses.iter().filter_map(Value::as_str).collect();
        got.sort();
        assert_eq!(got, ["one", "three", "two"], "{mode:?}");
        assert!(acks.complete);

        // A client that never answers: the others still arrive, marked incomplete at the timeout.
        let ns = a.ns();
        let asking = tokio::spawn(async move {
            ns.broadcast()
                .timeout(Duration::from_millis(500))
                .emit_with_ack("ask", vec![])
                .await
        });
        answer(&mut c1, "one").await;
        answer(&mut c2, "two").await;
        let _ignored = c3.next().await;
        let acks = asking.await.unwrap().unwrap();
        assert_eq!(acks.responses.len(), 2, "{mode:?}");
        assert!(!acks.complete);
        b.cluster.close().await;
        a.cluster.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_side_emits_and_server_count() {
    let redis = Redis::start();
    for mode in modes() {
        let (a, b) = pair(&redis, mode).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        b.cluster.on_server_side_emit(move |data| {
            let _ = tx.send(data.clone());
            Some(Value::from("from b"))
        });
        let ns = a.ns();
        let adapter = ns.adapter().unwrap();
        assert_eq!(adapter.server_count().await.unwrap(), 2);
        adapter
            .server_side_emit(vec![Value::from("ping"), Value::from(1)])
            .await
            .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap();
        assert_eq!(
            got,
            Some(vec![Value::from("ping"), Value::from(1)]),
            "{mode:?}"
        );
        let answers = adapter
            .server_side_emit_with_ack(vec![Value::from("ask")], Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(answers, vec![Value::from("from b")], "{mode:?}");
        b.cluster.close().await;
        a.cluster.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_recovers_broadcasts_from_the_other_server_on_its_node() {
    let redis = Redis::start();
    let engine = engine::EngineConfig {
        recovery: Some(engine::config::Recovery::default()),
        ..engine::EngineConfig::default()
    };
    let a = Server::clustered_with(&redis, ClusterConfig::default(), engine.clone()).await;
    let b = Server::clustered_with(&redis, ClusterConfig::default(), engine).await;
    let client = Client::connect(&b).await;
    let (id, pid) = (
        client.id.clone(),
        client.connected["pid"].as_str().expect("a pid").to_owned(),
    );
    client.close().await;
    wait_for("the disconnection", || b.ns().socket_count() == 0).await;

    // Sent while the client is away, from the other server: it carries b's offset when b delivers it.
    a.ns()
        .broadcast()
        .emit("missed", vec![Value::from(1)])
        .await
        .unwrap();
    let mut watcher = Client::connect(&b).await;
    a.ns()
        .to(watcher.id.clone())
        .emit("sync", vec![])
        .await
        .unwrap();
    let _sync = watcher.next().await;

    let mut back = Client::connect_with(&b, Some(json!({ "pid": pid }))).await;
    assert_eq!(back.id, id, "recovered with the same id");
    let missed = back.next().await;
    assert!(missed.starts_with(r#"2["missed",1,""#), "{missed}");
    b.cluster.close().await;
    a.cluster.close().await;
}
