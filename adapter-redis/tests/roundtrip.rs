//! Property tests: every message encodes and decodes back to itself.
//!
//! JSON cannot carry everything a [`Value`] can (binary, timestamps, integral floats, which JavaScript does not
//! tell from integers), so the parts of JSON-encoded messages draw from JSON-safe values, and MessagePack-encoded
//! ones from every value.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use adapter_redis::wire::{
    BroadcastFlags, BroadcastMessage, BroadcastOptions, Handshake, Packet, RawResponse,
    RemoteSocketData, Request, Response, ShardedBody, ShardedMessage, Timestamp, Value, json,
    msgpack,
};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_-]{0,24}",
        any::<String>(),
        // Around the fixstr/str8 and str8/str16 boundaries.
        "[a-z]{30,34}",
        "[a-z]{254,258}",
    ]
}

fn room() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9_#-]{1,24}", any::<String>()]
}

fn rooms() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(room(), 0..5)
}

fn non_integral_f64() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite, non-integral", |f| {
        f.is_finite() && f.fract() != 0.0
    })
}

fn integer() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-40i64..300).prop_map(Value::from)
    ]
}

/// Values that survive JSON: no binary, no timestamps, no integral floats, string keys.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        integer(),
        non_integral_f64().prop_map(Value::F64),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((text().prop_map(Value::from), inner), 0..6).prop_map(Value::Map),
        ]
    })
    .boxed()
}

/// Any value notepack.io can carry (NaN aside, which is not equal to itself).
fn msgpack_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        integer(),
        any::<f64>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Value::F64),
        any::<f32>()
            .prop_filter("not NaN", |f| !f.is_nan())
            .prop_map(Value::F32),
        text().prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::Binary),
        any::<i64>().prop_map(|ms| Timestamp::from_unix_millis(ms).to_value()),
        (any::<i8>(), prop::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(t, d)| Value::Ext(t, d)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((inner.clone(), inner), 0..6).prop_map(Value::Map),
            // Around the fixarray/array16 boundary.
            prop::collection::vec(Just(Value::Nil), 15..18).prop_map(Value::Array),
        ]
    })
    .boxed()
}

fn flags() -> impl Strategy<Value = BroadcastFlags> {
    let flag_value = prop_oneof![
        any::<bool>().prop_map(Value::from),
        (0u64..100_000).prop_map(Value::from)
    ];
    prop::collection::vec(
        (
            prop_oneof![
                Just("volatile"),
                Just("compress"),
                Just("timeout"),
                Just("expectSingleResponse"),
                Just("x")
            ],
            flag_value,
        ),
        0..4,
    )
    .prop_map(|entries| {
        let mut flags = BroadcastFlags::new();
        for (k, v) in entries {
            flags.set(k, v);
        }
        flags
    })
}

fn opts() -> impl Strategy<Value = BroadcastOptions> {
    (rooms(), rooms(), prop::option::of(flags())).prop_map(|(rooms, except, flags)| {
        BroadcastOptions {
            rooms,
            except,
            flags,
        }
    })
}

fn opts_with_flags() -> impl Strategy<Value = BroadcastOptions> {
    (rooms(), rooms(), flags()).prop_map(|(r, e, f)| BroadcastOptions::with_flags(r, e, f))
}

fn packet(data: impl Strategy<Value = Value>, with_nsp: bool) -> impl Strategy<Value = Packet> {
    (0u8..7, prop::collection::vec(data, 0..5), "/[a-z]{0,8}").prop_map(
        move |(packet_type, data, nsp)| Packet {
            packet_type,
            data,
            nsp: with_nsp.then_some(nsp),
        },
    )
}

fn socket(value: BoxedStrategy<Value>) -> impl Strategy<Value = RemoteSocketData> {
    let map = prop::collection::vec((text().prop_map(Value::from), value.clone()), 0..4)
        .prop_map(Value::Map)
        .boxed();
    (
        text(),
        map.clone(),
        map.clone(),
        map,
        any::<bool>(),
        any::<bool>(),
        any::<u64>(),
        text(),
        rooms(),
        prop::option::of(value),
    )
        .prop_map(
            |(id, headers, query, auth, xdomain, secure, issued, time, rooms, data)| {
                RemoteSocketData {
                    id,
                    handshake: Handshake {
                        headers,
                        time,
                        address: "::1".into(),
                        xdomain,
                        secure,
                        issued,
                        url: "/socket.io/?EIO=4".into(),
                        query,
                        auth,
                    },
                    rooms,
                    data,
                }
            },
        )
}

fn request() -> impl Strategy<Value = Request> {
    let id = "[a-zA-Z0-9_-]{6}";
    prop_oneof![
        (id, id, rooms()).prop_map(|(uid, request_id, rooms)| Request::Sockets {
            uid,
            request_id,
            rooms
        }),
        (id, id).prop_map(|(uid, request_id)| Request::AllRooms { uid, request_id }),
        (prop::option::of(id), opts(), rooms())
            .prop_map(|(uid, opts, rooms)| Request::RemoteJoin { uid, opts, rooms }),
        (prop::option::of(id), opts(), rooms())
            .prop_map(|(uid, opts, rooms)| Request::RemoteLeave { uid, opts, rooms }),
        (prop::option::of(id), opts(), any::<bool>())
            .prop_map(|(uid, opts, close)| Request::RemoteDisconnect { uid, opts, close }),
        (id, id, room(), room()).prop_map(|(uid, request_id, sid, room)| {
            Request::LegacyRemoteJoin {
                uid,
                request_id,
                sid,
                room,
            }
        }),
        (id, id, room(), room()).prop_map(|(uid, request_id, sid, room)| {
            Request::LegacyRemoteLeave {
                uid,
                request_id,
                sid,
                room,
            }
        }),
        (id, id, room(), any::<bool>()).prop_map(|(uid, request_id, sid, close)| {
            Request::LegacyRemoteDisconnect {
                uid,
                request_id,
                sid,
                close,
            }
        }),
        (id, id, opts()).prop_map(|(uid, request_id, opts)| Request::RemoteFetch {
            uid,
            request_id,
            opts
        }),
        (
            id,
            prop::option::of(id),
            prop::collection::vec(json_value(), 0..4)
        )
            .prop_map(|(uid, request_id, data)| Request::ServerSideEmit {
                uid,
                request_id,
                data
            }),
        (id, id, packet(msgpack_value(), true), opts()).prop_map(
            |(uid, request_id, packet, opts)| Request::Broadcast {
                uid,
                request_id,
                packet,
                opts
            }
        ),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    let id = "[a-zA-Z0-9_-]{6}";
    prop_oneof![
        (id, rooms()).prop_map(|(request_id, sockets)| Response::Sockets {
            request_id,
            sockets
        }),
        (id, rooms()).prop_map(|(request_id, rooms)| Response::AllRooms { request_id, rooms }),
        id.prop_map(|request_id| Response::Done { request_id }),
        (id, prop::collection::vec(socket(json_value()), 0..3)).prop_map(
            |(request_id, sockets)| Response::RemoteFetch {
                request_id,
                sockets
            }
        ),
        (id, prop::option::of(json_value()))
            .prop_map(|(request_id, data)| Response::ServerSideEmit { request_id, data }),
        (id, any::<u64>()).prop_map(
            |(request_id, client_count)| Response::BroadcastClientCount {
                request_id,
                client_count
            }
        ),
        (id, prop::option::of(msgpack_value()))
            .prop_map(|(request_id, packet)| Response::BroadcastAck { request_id, packet }),
    ]
}

/// Sharded bodies whose values are JSON-safe, or that hold binary (and so go as MessagePack).
fn sharded_body() -> impl Strategy<Value = ShardedBody> {
    let id = "[0-9a-f]{16}";
    // A value with binary in it: the message goes as MessagePack and any value survives.
    let binary = (msgpack_value(), prop::collection::vec(any::<u8>(), 0..4))
        .prop_map(|(v, b)| Value::Array(vec![v, Value::Binary(b)]));
    let any_value = prop_oneof![json_value(), binary].boxed();
    prop_oneof![
        Just(ShardedBody::InitialHeartbeat),
        Just(ShardedBody::Heartbeat),
        Just(ShardedBody::AdapterClose),
        (
            packet(json_value(), false),
            prop::option::of(id),
            opts_with_flags()
        )
            .prop_map(|(packet, request_id, opts)| ShardedBody::Broadcast {
                packet,
                request_id,
                opts
            }),
        (
            packet(msgpack_value(), false),
            prop::collection::vec(any::<u8>(), 0..4),
            prop::option::of(id),
            opts_with_flags()
        )
            .prop_map(|(mut packet, bin, request_id, opts)| {
                packet.data.push(Value::Binary(bin));
                ShardedBody::Broadcast {
                    packet,
                    request_id,
                    opts,
                }
            }),
        (opts_with_flags(), rooms())
            .prop_map(|(opts, rooms)| ShardedBody::SocketsJoin { opts, rooms }),
        (opts_with_flags(), rooms())
            .prop_map(|(opts, rooms)| ShardedBody::SocketsLeave { opts, rooms }),
        (opts_with_flags(), any::<bool>())
            .prop_map(|(opts, close)| ShardedBody::DisconnectSockets { opts, close }),
        (opts_with_flags(), id)
            .prop_map(|(opts, request_id)| ShardedBody::FetchSockets { opts, request_id }),
        (id, prop::collection::vec(socket(any_value.clone()), 0..3)).prop_map(
            |(request_id, sockets)| ShardedBody::FetchSocketsResponse {
                request_id,
                sockets
            }
        ),
        (
            prop::option::of(id),
            prop::collection::vec(any_value.clone(), 0..4)
        )
            .prop_map(|(request_id, packet)| ShardedBody::ServerSideEmit { request_id, packet }),
        (id, prop::option::of(any_value.clone())).prop_map(|(request_id, packet)| {
            ShardedBody::ServerSideEmitResponse { request_id, packet }
        }),
        (id, any::<u64>()).prop_map(|(request_id, client_count)| {
            ShardedBody::BroadcastClientCount {
                request_id,
                client_count,
            }
        }),
        (id, prop::option::of(any_value))
            .prop_map(|(request_id, packet)| ShardedBody::BroadcastAck { request_id, packet }),
    ]
}

proptest! {
    #[test]
    fn msgpack_values_round_trip(v in msgpack_value()) {
        prop_assert_eq!(msgpack::decode(&msgpack::encode(&v)).unwrap(), v);
    }

    #[test]
    fn json_values_round_trip(v in json_value()) {
        let wrapped = Value::Map(vec![(Value::from("v"), v)]);
        prop_assert_eq!(json::decode(&json::encode(&wrapped)).unwrap(), wrapped);
    }

    #[test]
    fn json_text_matches_serde_json(v in json_value()) {
        // Our JSON.stringify output is valid JSON that serde_json reads to the same tree.
        let ours: serde_json::Value = serde_json::from_slice(&json::encode(&v)).unwrap();
        let theirs: serde_json::Value = serde_json::from_slice(&json::encode(&json::decode(&json::encode(&v)).unwrap())).unwrap();
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn timestamps_round_trip(ms in -8_640_000_000_000_000i64..=8_640_000_000_000_000) {
        let t = Timestamp::from_unix_millis(ms);
        prop_assert_eq!(Timestamp::from_ext_data(&t.to_ext_data()).unwrap(), t);
        prop_assert_eq!(t.js_time_value(), Some(ms));
        prop_assert!(t.to_iso_string().unwrap().ends_with('Z'));
    }

    #[test]
    fn broadcasts_round_trip(uid in prop_oneof![Just("emitter".to_owned()), "[a-zA-Z0-9_-]{6}"],
                             packet in packet(msgpack_value(), true), opts in opts()) {
        let msg = BroadcastMessage { uid, packet, opts };
        prop_assert_eq!(BroadcastMessage::decode(&msg.encode()).unwrap(), msg);
    }

    #[test]
    fn requests_round_trip(req in request()) {
        let bytes = req.encode();
        prop_assert_eq!(bytes[0] == b'{', req.encoding() == adapter_redis::Encoding::Json);
        prop_assert_eq!(Request::decode(&bytes).unwrap(), req);
    }

    #[test]
    fn responses_round_trip(resp in response()) {
        let pending = match &resp {
            Response::Sockets { .. } => adapter_redis::RequestType::Sockets,
            Response::AllRooms { .. } => adapter_redis::RequestType::AllRooms,
            Response::Done { .. } => adapter_redis::RequestType::RemoteLeave,
            Response::RemoteFetch { .. } => adapter_redis::RequestType::RemoteFetch,
            // Typed responses do not need the pending type.
            _ => adapter_redis::RequestType::Sockets,
        };
        let raw = RawResponse::decode(&resp.encode()).unwrap();
        prop_assert_eq!(raw.request_id(), resp.request_id());
        prop_assert_eq!(raw.into_response(pending).unwrap(), resp);
    }

    #[test]
    fn sharded_messages_round_trip(uid in "[0-9a-f]{16}", nsp in prop::option::of("/[a-z]{0,6}"), body in sharded_body()) {
        let msg = ShardedMessage { uid, nsp, body };
        prop_assert_eq!(ShardedMessage::decode(&msg.encode()).unwrap(), msg.clone());
        prop_assert_eq!(ShardedMessage::decode(&msg.encode_msgpack()).unwrap(), msg);
    }
}
