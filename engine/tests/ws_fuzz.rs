//! Fuzz-style property tests of the WebSocket frame reader: any input gives messages or an error, never a
//! panic or more data than it holds, and the result does not depend on how the input is split.

use engine::ws::frame::{FrameReader, WsError, WsMessage};
use proptest::prelude::*;

const MAX: usize = 1024;

/// Everything a reader produced from some input: the messages, then the error that stopped it, if any.
type Outcome = (Vec<WsMessage>, Option<WsError>);

fn feed_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> (Outcome, FrameReader) {
    let mut reader = FrameReader::new(MAX);
    let mut out = Vec::new();
    for chunk in chunks {
        if let Err(e) = reader.feed(chunk, &mut out) {
            return ((out, Some(e)), reader);
        }
    }
    ((out, None), reader)
}

fn payload_len(m: &WsMessage) -> usize {
    match m {
        WsMessage::Text(b) | WsMessage::Binary(b) | WsMessage::Ping(b) | WsMessage::Pong(b) => {
            b.len()
        }
        WsMessage::Close(_) => 2,
    }
}

/// Splits `input` at the given cut points.
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut parts = Vec::new();
    let mut start = 0;
    for c in cuts {
        parts.push(&input[start..c]);
        start = c;
    }
    parts.push(&input[start..]);
    parts
}

/// Checks that at once, byte by byte and in random chunks give the same outcome, bounded by the input.
fn check(input: &[u8], cuts: &[usize]) -> Result<Outcome, TestCaseError> {
    let (at_once, _) = feed_chunks([input]);
    let (bytewise, _) = feed_chunks(input.chunks(1));
    let (chunked, _) = feed_chunks(split(input, cuts));
    prop_assert_eq!(&at_once, &bytewise);
    prop_assert_eq!(&at_once, &chunked);
    prop_assert!(at_once.0.iter().map(payload_len).sum::<usize>() <= input.len());
    Ok(at_once)
}

/// A message the generator frames: data (split into fragments) or a control frame.
#[derive(Debug, Clone)]
enum Msg {
    Text(String, Vec<usize>),
    Binary(Vec<u8>, Vec<usize>),
    Ping(Vec<u8>),
    Close(u16),
}

fn msg() -> impl Strategy<Value = Msg> {
    let cuts = || proptest::collection::vec(any::<usize>(), 0..3);
    prop_oneof![
        ("\\PC{0,40}", cuts()).prop_map(|(s, c)| Msg::Text(s, c)),
        (proptest::collection::vec(any::<u8>(), 0..300), cuts())
            .prop_map(|(b, c)| Msg::Binary(b, c)),
        proptest::collection::vec(any::<u8>(), 0..=125).prop_map(Msg::Ping),
        prop_oneof![Just(1000u16), Just(1001), Just(3000), Just(4999)].prop_map(Msg::Close),
    ]
}

/// A masked client frame.
fn frame(out: &mut Vec<u8>, b0: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(b0);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// Frames `payload` as a data message, fragmented at `cuts`, with a ping between fragments.
fn fragmented(out: &mut Vec<u8>, opcode: u8, payload: &[u8], cuts: &[usize], mask: [u8; 4]) {
    let parts = split(payload, cuts);
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        let op = if i == 0 { opcode } else { 0 };
        let fin = if i == last { 0x80 } else { 0 };
        frame(out, fin | op, part, mask);
        if i != last {
            frame(out, 0x89, b"mid", mask);
        }
    }
}

fn encode(msgs: &[Msg], mask: [u8; 4]) -> (Vec<u8>, Vec<WsMessage>) {
    let mut bytes = Vec::new();
    let mut want = Vec::new();
    for m in msgs {
        match m {
            Msg::Text(s, cuts) => {
                fragmented(&mut bytes, 1, s.as_bytes(), cuts, mask);
                for _ in 0..split(s.as_bytes(), cuts).len() - 1 {
                    want.push(WsMessage::Ping(b"mid"[..].into()));
                }
                want.push(WsMessage::Text(s.clone().into()));
            }
            Msg::Binary(b, cuts) => {
                fragmented(&mut bytes, 2, b, cuts, mask);
                for _ in 0..split(b, cuts).len() - 1 {
                    want.push(WsMessage::Ping(b"mid"[..].into()));
                }
                want.push(WsMessage::Binary(b.clone().into()));
            }
            Msg::Ping(p) => {
                frame(&mut bytes, 0x89, p, mask);
                want.push(WsMessage::Ping(p.clone().into()));
            }
            Msg::Close(code) => {
                frame(&mut bytes, 0x88, &code.to_be_bytes(), mask);
                want.push(WsMessage::Close(Some(*code)));
            }
        }
    }
    (bytes, want)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..512),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        check(&input, &cuts)?;
    }

    #[test]
    fn valid_streams_read_back_however_split(
        msgs in proptest::collection::vec(msg(), 1..6),
        mask in any::<[u8; 4]>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let (bytes, want) = encode(&msgs, mask);
        let outcome = check(&bytes, &cuts)?;
        prop_assert_eq!(outcome, (want, None));
        let (_, reader) = feed_chunks(split(&bytes, &cuts));
        prop_assert!(reader.is_idle());
    }

    #[test]
    fn damaged_streams_never_panic(
        msgs in proptest::collection::vec(msg(), 1..5),
        mask in any::<[u8; 4]>(),
        at in any::<usize>(),
        flip in 1..=255u8,
        truncate in any::<usize>(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let (mut bytes, _) = encode(&msgs, mask);
        let i = at % bytes.len();
        bytes[i] ^= flip;
        bytes.truncate(truncate % (bytes.len() + 1));
        check(&bytes, &cuts)?;
    }
}
