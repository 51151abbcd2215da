//! The Engine.IO codecs against golden vectors produced by Node's engine.io-parser (see
//! `tests/vectors/eio/README.md`): our encoders must write Node's exact bytes, and our decoders must read them.

#![allow(clippy::expect_used)]

use bytes::Bytes;
use engine::eio::packet::{Frame, Message, Packet, Protocol, decode_binary, decode_text};
use engine::eio::payload::{decode_payload, encode_payload};
use serde_json::Value;

const VECTORS: &str = include_str!("vectors/eio/vectors.json");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn protocol(v: &Value) -> Protocol {
    match v["protocol"].as_u64() {
        Some(3) => Protocol::V3,
        Some(4) => Protocol::V4,
        other => panic!("bad protocol {other:?}"),
    }
}

fn frame(v: &Value) -> Frame {
    if let Some(t) = v["text"].as_str() {
        Frame::Text(Bytes::copy_from_slice(t.as_bytes()))
    } else {
        Frame::Binary(Bytes::from(hex(v["binary_hex"]
            .as_str()
            .expect("binary_hex"))))
    }
}

/// The packet a frame decodes to.
fn packet(f: &Frame) -> Packet {
    match f {
        Frame::Text(t) => decode_text(t.clone()).expect("valid packet text"),
        Frame::Binary(b) => Packet::Message(Message::Binary(b.clone())),
    }
}

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors.json is JSON")
}

#[test]
fn payloads_match_node() {
    let v = vectors();
    let cases = v["payloads"].as_array().expect("payloads");
    assert!(cases.len() >= 10);
    for case in cases {
        let protocol = protocol(case);
        let frames: Vec<Frame> = case["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .map(frame)
            .collect();
        let supports_binary = case["supports_binary"].as_bool().expect("supports_binary");
        let body = hex(case["body_hex"].as_str().expect("body_hex"));
        let (ours, content_type) = encode_payload(protocol, &frames, supports_binary);
        assert_eq!(&ours[..], &body[..], "encoding {case}");
        assert_eq!(
            content_type,
            case["content_type"].as_str().expect("content_type"),
            "{case}"
        );
        let want: Vec<Packet> = frames.iter().map(packet).collect();
        assert_eq!(
            decode_payload(protocol, Bytes::from(body)),
            Ok(want),
            "decoding {case}"
        );
    }
}

#[test]
fn websocket_packets_match_node() {
    let v = vectors();
    for case in v["packets"].as_array().expect("packets") {
        let protocol = protocol(case);
        let frame = frame(&case["frame"]);
        let want = packet(&frame);
        if let Some(text) = case["ws"]["text"].as_str() {
            assert_eq!(
                want.encode_text().as_deref(),
                Some(text.as_bytes()),
                "{case}"
            );
            assert_eq!(
                decode_text(Bytes::copy_from_slice(text.as_bytes())),
                Ok(want),
                "{case}"
            );
        } else {
            let ws = hex(case["ws"]["binary_hex"].as_str().expect("binary_hex"));
            assert_eq!(want.encode_text(), None);
            if protocol == Protocol::V3 {
                // The v3 WebSocket form of a binary message: type byte 4, then the data.
                let Frame::Binary(data) = &frame else {
                    panic!("binary case")
                };
                assert_eq!(ws, [&[4u8][..], data].concat(), "{case}");
            }
            assert_eq!(decode_binary(protocol, Bytes::from(ws)), Ok(want), "{case}");
        }
    }
}
