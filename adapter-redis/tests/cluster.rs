//! Two engine servers with the Redis adapter on one real `redis-server`, with raw socket.io clients over
//! WebSocket, in each protocol mode: broadcasts (rooms, except, a socket id), joins, leaves and disconnects on
//! the other server, fetching sockets with their handshake and data, broadcasts with acknowledgements,
//! server-side emits and the server count; and connection state recovery on the node the client was on
//! (classic) and on the other server (streams).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use adapter_redis::{ClusterConfig, Mode, ShardedSubscriptionMode};
use rmpv::Value;
use serde_json::json;
use support::{Client, Redis, Server, wait_for};

const QUIET: Duration = Duration::from_millis(300);

fn modes() -> [Mode; 4] {
    [
        Mode::Classic,
        Mode::Sharded(ShardedSubscriptionMode::Dynamic),
        Mode::Sharded(ShardedSubscriptionMode::Static),
        Mode::Streams,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_mode_recovers_the_connected_sockets_of_a_server_that_is_gone() {
    let redis = Redis::start();
    let engine = engine::EngineConfig {
        recovery: Some(engine::config::Recovery::default()),
        ..engine::EngineConfig::default()
    };
    let config = ClusterConfig {
        mode: Mode::Streams,
        ..ClusterConfig::default()
    };
    let a = Server::clustered_with(&redis, config.clone(), engine.clone()).await;
    let b = Server::clustered_with(&redis, config, engine).await;
    wait_for("both servers ready", || {
        a.cluster.is_ready() && b.cluster.is_ready()
    })
    .await;

    // Connected to a: rooms, data, and one event (its offset).
    let mut client = Client::connect(&a).await;
    join(&a, &mut client, "r").await;
    client.call("data", json!({ "user": "ada" })).await;
    b.ns().to("r").emit("seen", vec![]).await.unwrap();
    let seen = client.next().await;
    let seen: serde_json::Value = serde_json::from_str(&seen[1..]).unwrap();
    let offset = seen[1].as_str().expect("an offset").to_owned();
    let (id, pid) = (
        client.id.clone(),
        client.connected["pid"].as_str().expect("a pid").to_owned(),
    );

    // a is gone from Redis without its sockets disconnecting (what a crash looks like from the cluster); what it
    // had queued is written first.
    a.cluster.close().await;
    b.ns()
        .to("r")
        .emit("missed", vec![Value::from(1)])
        .await
        .unwrap();
    b.ns()
        .to(id.clone())
        .emit("missed", vec![Value::from(2)])
        .await
        .unwrap();

    let mut back = Client::connect_with(&b, Some(json!({ "pid": pid, "offset": offset }))).await;
    assert_eq!(back.id, id, "recovered on b with the same id");
    for n in [1, 2] {
        let missed = back.next().await;
        assert!(
            missed.starts_with(&format!(r#"2["missed",{n},""#)),
            "{missed}"
        );
    }
    let socket = b.ns().socket(&id).unwrap();
    assert!(socket.in_room("r"), "its rooms came back");
    assert_eq!(
        socket.data(),
        Value::Map(vec![(Value::from("user"), Value::from("ada"))]),
        "its data came back"
    );
    back.close().await;
    client.close().await;
    b.cluster.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_mode_recovers_a_session_on_the_other_server_once() {
    let redis = Redis::start();
    let engine = engine::EngineConfig {
        recovery: Some(engine::config::Recovery::default()),
        ..engine::EngineConfig::default()
    };
    let config = ClusterConfig {
        mode: Mode::Streams,
        ..ClusterConfig::default()
    };
    let a = Server::clustered_with(&redis, config.clone(), engine.clone()).await;
    let b = Server::clustered_with(&redis, config, engine).await;
    wait_for("both servers ready", || {
        a.cluster.is_ready() && b.cluster.is_ready()
    })
    .await;

    // The client has seen one event (its offset) before it loses its connection to a.
    let mut client = Client::connect(&a).await;
    join(&a, &mut client, "r").await;
    b.ns().to("r").emit("seen", vec![]).await.unwrap();
    let seen = client.next().await;
    let offset: serde_json::Value = serde_json::from_str(&seen[1..]).unwrap();
    let offset = offset[1].as_str().expect("an offset").to_owned();
    let (id, pid) = (
        client.id.clone(),
        client.connected["pid"].as_str().expect("a pid").to_owned(),
    );
    client.close().await;
    wait_for("the disconnection", || a.ns().socket_count() == 0).await;

    // Missed: to its room from either server, to it directly, and not what went to another room. A member of
    // the room on a sees each broadcast to the room once it is in the stream (a delivers its own broadcasts after
    // appending them), which orders the two servers' appends.
    let mut watcher = Client::connect(&a).await;
    join(&a, &mut watcher, "r").await;
    b.ns()
        .to("r")
        .emit("missed", vec![Value::from(1)])
        .await
        .unwrap();
    assert!(watcher.next().await.starts_with(r#"2["missed",1,"#));
    a.ns().to("other").emit("not-for-it", vec![]).await.unwrap();
    a.ns()
        .to(id.clone())
        .emit("missed", vec![Value::from(2)])
        .await
        .unwrap();
    a.ns()
        .to("r")
        .emit("missed", vec![Value::from(3)])
        .await
        .unwrap();
    assert!(watcher.next().await.starts_with(r#"2["missed",3,"#));

    let auth = json!({ "pid": pid, "offset": offset });
    let mut back = Client::connect_with(&b, Some(auth.clone())).await;
    assert_eq!(
        back.id, id,
        "recovered on the other server with the same id"
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        let frame = back.next().await;
        let v: serde_json::Value = serde_json::from_str(&frame[1..]).unwrap();
        got.push((v[0].as_str().unwrap().to_owned(), v[1].clone()));
    }
    assert_eq!(
        got,
        [
            ("missed".to_owned(), json!(1)),
            ("missed".to_owned(), json!(2)),
            ("missed".to_owned(), json!(3))
        ]
    );
    assert!(
        b.ns().socket(&id).unwrap().in_room("r"),
        "its rooms came back"
    );
    back.nothing_within(QUIET).await;
    back.close().await;
    wait_for("the second disconnection", || b.ns().socket_count() == 0).await;

    // Disconnected again, from b: the session b persisted recovers on a.
    // (b persists it in the background once the disconnection is handled: retried until it is there.)
    let mut again = Client::connect_with(&a, Some(auth.clone())).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while again.id != id && tokio::time::Instant::now() < deadline {
        again.close().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        again = Client::connect_with(&a, Some(auth.clone())).await;
    }
    assert_eq!(again.id, id, "the session b persisted recovers on a");
    let _ = (again.next().await, again.next().await, again.next().await);
    // Taken: presenting it once more gets a new session.
    let twice = Client::connect_with(&b, Some(auth)).await;
    assert_ne!(twice.id, id, "a session recovers once");
    again.close().await;
    for s in [&a, &b] {
        s.cluster.close().await;
    }
}
