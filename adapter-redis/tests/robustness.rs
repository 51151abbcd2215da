//! Fuzz-style tests: no input makes a decoder panic, and the limits hold.
//!
//! Inputs: random bytes, random bytes behind a `{` (the JSON path), every truncation and many single-byte
//! mutations of every captured payload, and well-formed MessagePack of random shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use adapter_redis::wire::{
    BroadcastMessage, MAX_DEPTH, MAX_ROOMS, RawResponse, Request, RequestType, ShardedMessage,
    Timestamp, Value, WireError, dates_to_iso_strings, json, msgpack,
};
use proptest::prelude::*;

const ALL_REQUEST_TYPES: [RequestType; 10] = [
    RequestType::Sockets,
    RequestType::AllRooms,
    RequestType::RemoteJoin,
    RequestType::RemoteLeave,
    RequestType::RemoteDisconnect,
    RequestType::RemoteFetch,
    RequestType::ServerSideEmit,
    RequestType::Broadcast,
    RequestType::BroadcastClientCount,
    RequestType::BroadcastAck,
];

/// Runs every decoder on `bytes`; whatever decodes is re-encoded and its dates converted.
fn decode_everything(bytes: &[u8]) {
    if let Ok(m) = BroadcastMessage::decode(bytes) {
        let _ = BroadcastMessage::decode(&m.encode());
        let mut v = m.to_value();
        dates_to_iso_strings(&mut v);
        let _ = json::encode(&v);
    }
    if let Ok(r) = Request::decode(bytes) {
        let _ = Request::decode(&r.encode());
    }
    if let Ok(raw) = RawResponse::decode(bytes) {
        for pending in ALL_REQUEST_TYPES {
            if let Ok(r) = raw.clone().into_response(pending) {
                let _ = RawResponse::decode(&r.encode());
            }
        }
    }
    if let Ok(m) = ShardedMessage::decode(bytes) {
        let _ = ShardedMessage::decode(&m.encode());
        let _ = m.encode_msgpack();
    }
    if let Ok(v) = msgpack::decode(bytes) {
        let _ = json::encode(&v);
    }
    let _ = json::decode(bytes);
    let _ = Timestamp::from_ext_data(bytes).map(|t| (t.to_iso_string(), t.to_ext_data()));
}

/// Every payload of the captures (hex lines and JSON lines).
fn captured_payloads() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "README.md") {
            continue; // how the captures were made, not a capture
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().map(str::trim) {
            if let Some(hex) = line.strip_prefix("hex:") {
                let hex = hex.trim();
                out.push(
                    (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                        .collect(),
                );
            } else if line.starts_with('{') {
                out.push(line.as_bytes().to_vec());
            }
        }
    }
    assert!(out.len() > 100);
    out
}

#[test]
fn truncated_and_mutated_vectors_never_panic() {
    for payload in captured_payloads() {
        for len in 0..payload.len() {
            let truncated = &payload[..len];
            decode_everything(truncated);
            if !truncated.is_empty() && truncated[0] != b'{' {
                assert!(
                    msgpack::decode(truncated).is_err(),
                    "a truncated MessagePack value decoded"
                );
            }
        }
        for i in 0..payload.len() {
            for b in [
                0x00,
                0x7b,
                0xc1,
                0xcf,
                0xdd,
                0xdf,
                0xff,
                payload[i] ^ 0x01,
                payload[i] ^ 0x80,
            ] {
                let mut mutated = payload.clone();
                mutated[i] = b;
                decode_everything(&mutated);
            }
        }
    }
}

#[test]
fn room_lists_are_bounded() {
    let rooms: Vec<String> = (0..=MAX_ROOMS).map(|i| format!("\"r{i}\"")).collect();
    let payload = format!(
        r#"{{"uid":"a","type":2,"opts":{{"rooms":[{}],"except":[]}},"rooms":[]}}"#,
        rooms.join(",")
    );
    assert!(
        matches!(Request::decode(payload.as_bytes()), Err(WireError::TooLarge { len, .. }) if len == MAX_ROOMS + 1)
    );

    let ok: Vec<String> = (0..MAX_ROOMS).map(|i| format!("\"r{i}\"")).collect();
    let payload = format!(
        r#"{{"uid":"a","type":2,"opts":{{"rooms":[{}],"except":[]}},"rooms":[]}}"#,
        ok.join(",")
    );
    assert!(Request::decode(payload.as_bytes()).is_ok());
}

#[test]
fn nesting_is_bounded() {
    let deep_json = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(json::decode(deep_json.as_bytes()).is_err());
    assert!(Request::decode(deep_json.as_bytes()).is_err());

    let mut deep_msgpack = vec![0x93, 0xa1, b'x'];
    deep_msgpack.extend(std::iter::repeat_n(0x91, 100_000));
    deep_msgpack.push(0xc0);
    assert!(
        matches!(msgpack::decode(&deep_msgpack), Err(WireError::TooDeep { max }) if max == MAX_DEPTH)
    );
    assert!(BroadcastMessage::decode(&deep_msgpack).is_err());
}

#[test]
fn forged_lengths_do_not_allocate() {
    // An array32 / map32 / str32 / bin32 claiming 4 G elements in a few bytes.
    for marker in [0xdd, 0xdf, 0xdb, 0xc6, 0xc9] {
        let payload = [marker, 0xff, 0xff, 0xff, 0xff, 0x00];
        assert!(matches!(
            msgpack::decode(&payload),
            Err(WireError::Truncated { .. })
        ));
    }
}

#[test]
fn wrong_types_and_unknown_types_are_errors() {
    let cases: [&[u8]; 10] = [
        br#"{"uid":"a","requestId":"b","type":42}"#,
        br#"{"uid":"a","requestId":"b","type":"1"}"#,
        br#"{"uid":"a","requestId":"b"}"#,
        br#"{"uid":1,"requestId":"b","type":1}"#,
        br#"{"uid":"a","type":2,"opts":{"rooms":"r","except":[1.5]},"rooms":[]}"#,
        br#"{"uid":"a","type":2,"opts":[],"rooms":[]}"#,
        br#"{"uid":"a","type":6,"data":"not an array"}"#,
        br#"{"uid":"a","requestId":"b","type":7,"packet":{"type":2}}"#,
        br#"{"uid":"a","requestId":"b","type":8}"#,
        br#"[1,2,3]"#,
    ];
    for case in cases {
        assert!(
            Request::decode(case).is_err(),
            "{}",
            String::from_utf8_lossy(case)
        );
    }
    assert!(matches!(
        RawResponse::decode(br#"{"requestId":"x","type":3}"#),
        Err(WireError::UnknownType {
            kind: "response",
            value: 3
        })
    ));
    assert!(matches!(
        RawResponse::decode(br#"{"requestId":"x"}"#)
            .unwrap()
            .into_response(RequestType::Broadcast),
        Err(WireError::UnexpectedResponse { .. })
    ));
    assert!(matches!(
        ShardedMessage::decode(br#"{"type":14,"data":{},"uid":"u","nsp":"/"}"#),
        Err(WireError::UnknownType { value: 14, .. })
    ));
    assert!(matches!(
        ShardedMessage::decode(br#"{"type":3,"uid":"u","nsp":"/"}"#),
        Err(WireError::MissingField("data"))
    ));
    // A broadcast array must be MessagePack and hold a packet.
    assert!(BroadcastMessage::decode(br#"{"a":1}"#).is_err());
    assert!(BroadcastMessage::decode(&[0x91, 0xa1, b'x']).is_err());
}

#[test]
fn tolerant_forms_decode() {
    // A broadcast without opts and without nsp (other emitters): empty targets, namespace "/".
    let msg = BroadcastMessage::decode(&[
        0x92, 0xa1, b'x', 0x81, 0xa4, b'd', b'a', b't', b'a', 0x91, 0xa1, b'e',
    ])
    .unwrap();
    assert_eq!(msg.packet.namespace(), "/");
    assert!(msg.opts.rooms.is_empty() && msg.opts.flags.is_none());
    // Emitter join without uid, and a single room instead of a list.
    let req = Request::decode(br#"{"type":2,"opts":{"rooms":["a"]},"rooms":"b"}"#).unwrap();
    assert_eq!(
        req,
        Request::RemoteJoin {
            uid: None,
            opts: adapter_redis::BroadcastOptions::new(vec!["a".into()], vec![]),
            rooms: vec!["b".into()]
        }
    );
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::F64),
        "[a-z]{0,8}".prop_map(Value::from),
        prop_oneof![
            Just("type"),
            Just("data"),
            Just("uid"),
            Just("nsp"),
            Just("requestId"),
            Just("opts")
        ]
        .prop_map(Value::from),
        (0u64..14).prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..13).prop_map(Value::Binary),
        prop::collection::vec(any::<u8>(), 0..13).prop_map(|d| Value::Ext(-1, d)),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((inner.clone(), inner), 0..6).prop_map(Value::Map),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_everything(&bytes);
        let mut json_like = vec![b'{'];
        json_like.extend_from_slice(&bytes);
        decode_everything(&json_like);
    }

    #[test]
    fn random_json_text_never_panics(text in r#"\{("[a-zA-Z]{1,9}":(-?[0-9]{1,3}|"[a-z]*"|\[[0-9,"a-z]*\]|\{\}|null|true),?){0,6}\}"#) {
        decode_everything(text.as_bytes());
    }

    #[test]
    fn random_shapes_never_panic(v in any_value()) {
        decode_everything(&msgpack::encode(&v));
        decode_everything(&json::encode(&v));
    }
}
