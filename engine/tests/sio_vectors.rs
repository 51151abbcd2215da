//! The socket.io parsers against Node: `tests/vectors/sio/vectors.json` holds what `socket.io-parser` and
//! `socket.io-msgpack-parser` encode for many packets, and which inputs their decoders accept (with what they
//! decode) or refuse (see the README there). Encoding must give Node's exact bytes; decoding Node's bytes must
//! give the packet Node decodes; every input must be accepted or refused as Node does, except the deliberate
//! deviations the generator marks (`deviation`: Node accepts, the engine refuses, for the reason given).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use engine::sio::packet::{Packet, PacketKind};
use engine::sio::parser::{Decoder, Parser, json, msgpack};
use engine::value::{Timestamp, Value, json as value_json};

fn vectors() -> Value {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/sio/vectors.json"
    ))
    .unwrap();
    // The file holds lone surrogates (`"\ud83d"`), which only the engine's own JSON reader keeps.
    value_json::decode(&text).unwrap()
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    get(v, key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing {key}"))
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) => items,
        _ => panic!("not an array: {v}"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A tagged description (`{"$bin": hex}`, `{"$date": ms}`, `{"$int": digits}`, `{"$num": "Infinity"}`) as a
/// value.
fn from_desc(v: &Value) -> Value {
    match v {
        Value::Map(entries) if entries.len() == 1 => {
            let (k, inner) = &entries[0];
            match k.as_str() {
                Some("$bin") => Value::Binary(unhex(inner.as_str().unwrap())),
                Some("$date") => Timestamp::from_unix_millis(inner.as_i64().unwrap()).to_value(),
                Some("$num") => Value::F64(match inner.as_str().unwrap() {
                    "Infinity" => f64::INFINITY,
                    "-Infinity" => f64::NEG_INFINITY,
                    _ => f64::NAN,
                }),
                Some("$int") => {
                    let s = inner.as_str().unwrap();
                    s.parse::<i64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::from(s.parse::<u64>().unwrap()))
                }
                _ => Value::Map(vec![(k.clone(), from_desc(inner))]),
            }
        }
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), from_desc(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(from_desc).collect()),
        other => other.clone(),
    }
}

/// A JavaScript object's view of duplicate keys: the first position, the last value.
fn last_key_wins(v: &mut Value) {
    match v {
        Value::Map(entries) => {
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
            for (k, mut val) in std::mem::take(entries) {
                last_key_wins(&mut val);
                match out.iter_mut().find(|(seen, _)| *seen == k) {
                    Some(slot) => slot.1 = val,
                    None => out.push((k, val)),
                }
            }
            *entries = out;
        }
        Value::Array(items) => items.iter_mut().for_each(last_key_wins),
        _ => {}
    }
}

fn packet_of(desc: &Value) -> Packet {
    let kind = match str_of(desc, "kind") {
        "connect" => PacketKind::Connect,
        "disconnect" => PacketKind::Disconnect,
        "event" => PacketKind::Event,
        "ack" => PacketKind::Ack,
        "connect_error" => PacketKind::ConnectError,
        other => panic!("kind {other}"),
    };
    Packet {
        kind,
        nsp: str_of(desc, "nsp").to_owned(),
        id: get(desc, "id").map(|id| id.as_u64().unwrap()),
        data: get(desc, "data").map(from_desc),
    }
}

#[test]
fn encoding_gives_nodes_bytes_and_decoding_nodes_bytes_gives_nodes_packet() {
    let v = vectors();
    let cases = items(get(&v, "encode").unwrap());
    assert!(cases.len() >= 60);
    for case in cases {
        let name = str_of(case, "name");
        let packet = packet_of(get(case, "packet").unwrap());
        let decoded = packet_of(get(case, "decoded").unwrap());
        match str_of(case, "parser") {
            "default" => {
                let encoded = json::encode(&packet);
                let node_text = str_of(case, "text");
                let node_attachments: Vec<Bytes> = items(get(case, "attachments").unwrap())
                    .iter()
                    .map(|h| Bytes::from(unhex(h.as_str().unwrap())))
                    .collect();
                assert_eq!(encoded.text, node_text, "{name}: text");
                assert_eq!(encoded.attachments, node_attachments, "{name}: attachments");

                let mut decoder = json::Decoder::new(100);
                let mut out = decoder.decode_text(node_text).unwrap();
                for a in node_attachments {
                    assert!(out.is_none(), "{name}: packet before its attachments");
                    out = decoder.decode_binary(a).unwrap();
                }
                assert_eq!(out.as_ref(), Some(&decoded), "{name}: decode");

                // The Engine.IO frames: `4` + text, then the attachments.
                let frames = Parser::Default.encode(&packet);
                assert_eq!(frames.len(), 1 + encoded.attachments.len());
            }
            "msgpack" => {
                let node_bytes = unhex(str_of(case, "hex"));
                assert_eq!(
                    hex(&msgpack::encode(&packet)),
                    hex(&node_bytes),
                    "{name}: msgpack bytes"
                );
                assert_eq!(
                    msgpack::decode(&node_bytes).unwrap(),
                    decoded,
                    "{name}: decode"
                );
            }
            other => panic!("parser {other}"),
        }
    }
}

#[test]
fn accepts_and_refuses_what_node_does() {
    let v = vectors();
    let mut deviations_seen = 0;
    for case in items(get(&v, "decode").unwrap()) {
        let deviation = get(case, "deviation").and_then(Value::as_str);
        let node_refused = get(case, "refused") == Some(&Value::Boolean(true));
        let node_decoded: Vec<Packet> = get(case, "decoded")
            .map(|d| items(d).iter().map(packet_of).collect())
            .unwrap_or_default();
        let (label, result) = match str_of(case, "parser") {
            "default" => {
                let messages = items(get(case, "messages").unwrap());
                let label = match &messages[0] {
                    Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                    other => format!("{other}"),
                };
                let mut decoder = Decoder::new(Parser::Default);
                let mut decoded = Vec::new();
                let mut result = Ok(());
                for m in messages {
                    let step = match m {
                        Value::String(s) => {
                            // Inputs are JavaScript strings; lone surrogates do not occur in them.
                            decoder.decode_text(s.as_str().expect("UTF-8 input"))
                        }
                        other => decoder.decode_binary(Bytes::from(unhex(str_of(other, "bin")))),
                    };
                    match step {
                        Ok(Some(p)) => decoded.push(p),
                        Ok(None) => {}
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                (label, result.map(|()| decoded))
            }
            _ => {
                let h = str_of(case, "hex");
                let result = Decoder::new(Parser::Msgpack)
                    .decode_binary(Bytes::from(unhex(h)))
                    .map(|p| p.into_iter().collect::<Vec<_>>());
                (h.to_owned(), result)
            }
        };
        if let Some(reason) = deviation {
            assert!(
                result.is_err(),
                "{label:?} ({reason}): expected our refusal, got {result:?}"
            );
            deviations_seen += 1;
            continue;
        }
        match result {
            Ok(mut decoded) => {
                assert!(
                    !node_refused,
                    "{label:?}: Node refuses, we accepted {decoded:?}"
                );
                // The engine keeps duplicate keys (every JavaScript reader takes the last, as Node did).
                for p in &mut decoded {
                    if let Some(d) = p.data.as_mut() {
                        last_key_wins(d);
                    }
                }
                assert_eq!(decoded, node_decoded, "{label:?}: decoded packets");
            }
            Err(e) => assert!(node_refused, "{label:?}: Node accepts, we refused: {e}"),
        }
    }
    assert!(deviations_seen >= 6);
}

#[test]
fn msgpack_parser_refuses_text() {
    let mut d = Decoder::new(Parser::Msgpack);
    assert!(d.decode_text("2[\"a\"]").is_err());
    assert_eq!(
        Parser::Msgpack
            .encode(&Packet::event("/", "a", vec![]))
            .len(),
        1
    );
}
