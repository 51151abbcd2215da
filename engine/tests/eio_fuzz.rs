//! Fuzz-style property tests of the Engine.IO decoders: random bytes and damaged valid encodings must give a
//! result or an error, never a panic, and never more packets or data than the input holds.

use bytes::Bytes;
use engine::eio::packet::{Frame, Message, Packet, Protocol, decode_binary, decode_text};
use engine::eio::payload::{MAX_PAYLOAD_PACKETS, decode_payload, encode_payload};
use proptest::prelude::*;

/// Bytes of data a decoded packet carries.
fn data_len(p: &Packet) -> usize {
    match p {
        Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) => d.len(),
        Packet::Message(Message::Text(d) | Message::Binary(d)) => d.len(),
        Packet::Close | Packet::Upgrade | Packet::Noop => 0,
    }
}

/// Decodes `body` and checks the result is bounded by it.
fn check_payload(protocol: Protocol, body: Vec<u8>) -> Result<(), TestCaseError> {
    let len = body.len();
    if let Ok(packets) = decode_payload(protocol, Bytes::from(body)) {
        prop_assert!(packets.len() <= MAX_PAYLOAD_PACKETS);
        prop_assert!(packets.len() <= len);
        prop_assert!(packets.iter().map(data_len).sum::<usize>() <= len);
    }
    Ok(())
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![Just(Protocol::V3), Just(Protocol::V4)]
}

/// Valid frames: packet texts with any Unicode (emoji included) but the v4 separator, which packet texts never
/// hold (JSON escapes control characters), and binary messages.
fn frames() -> impl Strategy<Value = Vec<Frame>> {
    let text = ("[0-6]", "[^\\x{1e}]{0,24}").prop_map(|(d, s)| Frame::Text(Bytes::from(d + &s)));
    let binary =
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|b| Frame::Binary(Bytes::from(b)));
    proptest::collection::vec(prop_oneof![text, binary], 1..8)
}

/// A damage to apply to a valid encoding.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Remove(usize),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(i, x)| Damage::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
        any::<usize>().prop_map(Damage::Remove),
    ]
}

fn apply(mut bytes: Vec<u8>, d: &Damage) -> Vec<u8> {
    let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
    match *d {
        Damage::Truncate(i) => bytes.truncate(at(i, bytes.len())),
        Damage::Flip(i, x) if !bytes.is_empty() => {
            let i = at(i, bytes.len());
            bytes[i] ^= x;
        }
        Damage::Insert(i, b) => bytes.insert(at(i, bytes.len() + 1), b),
        Damage::Remove(i) if !bytes.is_empty() => {
            bytes.remove(at(i, bytes.len()));
        }
        _ => {}
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn single_packets_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), protocol in protocol()) {
        let len = bytes.len();
        if let Ok(p) = decode_text(Bytes::from(bytes.clone())) {
            prop_assert!(data_len(&p) < len);
            prop_assert!(p.encode_text().is_some_and(|t| t.len() <= len));
        }
        if let Ok(p) = decode_binary(protocol, Bytes::from(bytes)) {
            prop_assert!(data_len(&p) <= len);
        }
    }

    #[test]
    fn random_payloads_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), protocol in protocol()) {
        check_payload(protocol, bytes)?;
    }

    #[test]
    fn payloads_round_trip_and_survive_damage(
        frames in frames(),
        protocol in protocol(),
        supports_binary in any::<bool>(),
        damages in proptest::collection::vec(damage(), 1..4),
    ) {
        let (body, _) = encode_payload(protocol, &frames, supports_binary);
        let decoded = decode_payload(protocol, body.clone());
        let want: Result<Vec<Packet>, _> = frames
            .iter()
            .map(|f| match f {
                Frame::Text(t) => decode_text(t.clone()),
                Frame::Binary(b) => Ok(Packet::Message(Message::Binary(b.clone()))),
            })
            .collect();
        prop_assert_eq!(decoded, want);
        let mut bytes = body.to_vec();
        for d in &damages {
            bytes = apply(bytes, d);
        }
        check_payload(protocol, bytes)?;
    }
}
