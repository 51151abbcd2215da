//! Fuzz-style property tests of the socket.io decoders: random bytes and mutations of valid encodings never
//! panic, and every valid packet survives an encode/decode round trip through both parsers.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use engine::sio::packet::{Packet, PacketKind};
use engine::sio::parser::{Decoder, Parser, is_reserved_event, json, msgpack};
use engine::value::Value;
use proptest::prelude::*;

/// Values both parsers carry unchanged (no dates or integral floats, which become strings and integers).
fn value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite, non-integral", |f| f.is_finite()
                && f.fract() != 0.0)
            .prop_map(Value::F64),
        any::<String>().prop_map(Value::from),
        "[a-z_]{0,40}".prop_map(Value::from),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Binary),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            // Distinct keys: JavaScript objects have no duplicates.
            prop::collection::btree_map("[a-zA-Z0-9_$]{0,10}", inner, 0..5).prop_map(|m| {
                Value::Map(m.into_iter().map(|(k, v)| (Value::from(k), v)).collect())
            }),
        ]
    })
    .boxed()
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z]{1,6}", value(), 0..4)
        .prop_map(|m| Value::Map(m.into_iter().map(|(k, v)| (Value::from(k), v)).collect()))
}

fn without_binary(v: &Value) -> bool {
    match v {
        Value::Binary(_) => false,
        Value::Array(items) => items.iter().all(without_binary),
        Value::Map(entries) => entries.iter().all(|(_, v)| without_binary(v)),
        _ => true,
    }
}

fn packet() -> impl Strategy<Value = Packet> {
    let nsp = prop_oneof![Just("/".to_owned()), "/[a-z0-9]{1,8}"];
    let id = prop::option::of(any::<u64>());
    let kind_data = prop_oneof![
        prop::option::of(object()).prop_map(|d| (PacketKind::Connect, d)),
        Just((PacketKind::Disconnect, None)),
        (
            "[a-z]{1,10}".prop_filter("not reserved", |n| !is_reserved_event(n.as_bytes())),
            prop::collection::vec(value(), 0..4),
        )
            .prop_map(|(name, args)| {
                let mut items = vec![Value::from(name)];
                items.extend(args);
                (PacketKind::Event, Some(Value::Array(items)))
            }),
        prop::collection::vec(value(), 0..4)
            .prop_map(|args| (PacketKind::Ack, Some(Value::Array(args)))),
        prop_oneof![any::<String>().prop_map(Value::from), object()]
            .prop_map(|d| (PacketKind::ConnectError, Some(d))),
    ];
    (nsp, id, kind_data)
        // Binary only where it becomes attachments (the default parser writes it as JSON elsewhere).
        .prop_filter("binary only in events and acks", |(_, _, (kind, data))| {
            matches!(kind, PacketKind::Event | PacketKind::Ack)
                || data.as_ref().is_none_or(without_binary)
        })
        .prop_map(|(nsp, id, (kind, data))| Packet {
            kind,
            nsp,
            id: if kind == PacketKind::Disconnect {
                None
            } else {
                id
            },
            data,
        })
}

/// Feeds frames to a decoder of `parser`, stopping at the first error; returns the decoded packets.
fn feed(parser: Parser, frames: &[engine::eio::packet::Frame]) -> Result<Vec<Packet>, String> {
    let mut decoder = Decoder::new(parser);
    let mut out = Vec::new();
    for frame in frames {
        let step = match frame {
            engine::eio::packet::Frame::Text(t) => {
                let text = std::str::from_utf8(t).map_err(|e| e.to_string())?;
                let text = text.strip_prefix('4').ok_or("no message type")?;
                decoder.decode_text(text)
            }
            engine::eio::packet::Frame::Binary(b) => decoder.decode_binary(b.clone()),
        };
        if let Some(p) = step.map_err(|e| e.to_string())? {
            out.push(p);
        }
    }
    Ok(out)
}

/// One change to a byte string: flip, insert, delete or truncate.
fn mutate(mut bytes: Vec<u8>, op: u8, at: usize, byte: u8) -> Vec<u8> {
    let at = if bytes.is_empty() {
        0
    } else {
        at % bytes.len()
    };
    match op % 4 {
        0 if !bytes.is_empty() => bytes[at] ^= byte | 1,
        1 => bytes.insert(at, byte),
        2 if !bytes.is_empty() => {
            bytes.remove(at);
        }
        _ => bytes.truncate(at),
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn packets_round_trip_through_both_parsers(p in packet()) {
        for parser in [Parser::Default, Parser::Msgpack] {
            let frames = parser.encode(&p);
            prop_assert_eq!(feed(parser, &frames), Ok(vec![p.clone()]), "{:?}", parser);
        }
    }

    #[test]
    fn random_text_never_panics(text in any::<String>(), ascii in "[0-9/,\\-\\[\\]{}\"a-z: _]{0,40}") {
        for t in [text.as_str(), ascii.as_str()] {
            let mut d = json::Decoder::new(10);
            let _ = d.decode_text(t);
            let _ = d.decode_binary(Bytes::from_static(b"x"));
            let _ = Decoder::new(Parser::Msgpack).decode_text(t);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = msgpack::decode(&bytes);
        let mut d = json::Decoder::new(10);
        let _ = d.decode_binary(Bytes::from(bytes.clone()));
        if let Ok(t) = std::str::from_utf8(&bytes) {
            let _ = d.decode_text(t);
        }
    }

    #[test]
    fn mutated_encodings_never_panic(
        p in packet(),
        mutations in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut text = json::encode(&p).text.into_bytes();
        let mut binary = msgpack::encode(&p).to_vec();
        for (op, at, byte) in mutations {
            text = mutate(text, op, at, byte);
            binary = mutate(binary, op, at, byte);
        }
        let _ = msgpack::decode(&binary);
        let mut d = json::Decoder::new(10);
        if let Ok(t) = std::str::from_utf8(&text)
            && let Ok(None) = d.decode_text(t)
        {
            for _ in 0..11 {
                let _ = d.decode_binary(Bytes::from_static(b"ab"));
            }
        }
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = format!("2[\"a\",{}]", "[".repeat(100_000));
    assert!(json::Decoder::new(10).decode_text(&deep).is_err());
    let mut bytes = vec![
        0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa4, b'd', b'a', b't', b'a',
    ];
    bytes.extend(std::iter::repeat_n(0x91, 100_000));
    bytes.push(0xc0);
    assert!(msgpack::decode(&bytes).is_err());
}
