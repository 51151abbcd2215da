//! HTTP long-polling payloads: several Engine.IO packets in one request or response body (pure, no I/O).
//!
//! v4 joins packet texts with the record separator `\x1e`, a binary message written as `b` + base64.
//! v3 has two encodings, both length-prefixed:
//! - string: `<length>:<packet>` repeated, the length counting UTF-16 code units (JavaScript's
//!   `String.length`), a binary message written as `b4` + base64;
//! - binary (chosen by the server when a packet is binary and the client did not ask for `b64=1`):
//!   `<kind><length digits><0xFF><packet>` repeated, where kind is `0x00` for a string packet (UTF-8 bytes)
//!   or `0x01` for a binary packet (a raw type byte, then the data), and each decimal digit of the byte length
//!   is one byte of value 0 to 9.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use bytes::{BufMut, Bytes, BytesMut};

use super::packet::{DecodeError, Frame, Message, Packet, Protocol, decode_text, decode_v3_binary};

/// The most packets one payload may hold; a payload with more is refused as malformed.
///
/// Node has no such limit, only the body size (`maxHttpBufferSize`, 1 MB by default), which would let a client
/// send half a million one-byte packets and make the server hold a 20 MB `Vec<Packet>` for one request. A
/// client writes one POST per flush of its queue, so a real payload holds what it emitted during one round
/// trip: thousands at most. 16,384 packets of about 40 bytes each cap the decoded list at about 640 KB.
pub const MAX_PAYLOAD_PACKETS: usize = 16_384;

/// The most decimal digits a v3 length may have: 10 digits cover any body a server would accept (up to
/// 9,999,999,999 bytes), and refusing longer ones keeps the parse free of overflow.
const MAX_LENGTH_DIGITS: usize = 10;

/// v4's packet separator (ASCII record separator), which cannot occur in JSON text or base64.
const SEPARATOR: u8 = 0x1e;

/// The content type of text bodies; Node states the charset explicitly for pages not served as UTF-8.
const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";
/// The content type of v3 binary payloads.
const OCTET_STREAM: &str = "application/octet-stream";

/// Base64 as Node's `Buffer.from(s, "base64")` reads what clients send: padding optional, non-zero trailing
/// bits tolerated (browsers' `btoa` never produces them, but a lenient decoder costs nothing here).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes a polling request body into its packets.
///
/// Any malformed item fails the whole payload: Node stops at the first parse error and closes the session
/// with `parse error`, so a partial list would only be discarded. v3 bodies starting with byte `0x00` or `0x01`
/// are the binary encoding (a string payload starts with a length digit).
pub fn decode_payload(protocol: Protocol, body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        // Node v4 reads an empty body as one empty (invalid) packet; v3 refuses it outright.
        return Err(DecodeError::Empty);
    }
    match protocol {
        Protocol::V4 => decode_v4(body),
        Protocol::V3 if matches!(body[0], 0 | 1) => decode_v3_binary_payload(body),
        Protocol::V3 => decode_v3_string(body),
    }
}

/// Adds a decoded packet, enforcing [`MAX_PAYLOAD_PACKETS`].
fn push(packets: &mut Vec<Packet>, packet: Packet) -> Result<(), DecodeError> {
    if packets.len() >= MAX_PAYLOAD_PACKETS {
        return Err(DecodeError::MalformedPayload);
    }
    packets.push(packet);
    Ok(())
}

/// Decodes base64 into a binary message.
fn base64_message(text: &[u8]) -> Result<Packet, DecodeError> {
    // The decoded bytes are at most 3/4 of the input: allocation stays within what the body can fill.
    let data = LENIENT_BASE64
        .decode(text)
        .map_err(|_| DecodeError::InvalidBase64)?;
    Ok(Packet::Message(Message::Binary(Bytes::from(data))))
}

fn decode_v4(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    let mut start = 0;
    loop {
        let end = body[start..]
            .iter()
            .position(|&b| b == SEPARATOR)
            .map_or(body.len(), |i| start + i);
        let item = body.slice(start..end);
        let packet = match item.first() {
            Some(b'b') => base64_message(&item[1..])?,
            _ => decode_text(item)?,
        };
        push(&mut packets, packet)?;
        if end == body.len() {
            return Ok(packets);
        }
        start = end + 1;
    }
}

/// Parses a run of ASCII decimal digits (1 to [`MAX_LENGTH_DIGITS`]) as a length.
fn parse_decimal(digits: impl Iterator<Item = u8>) -> Result<usize, DecodeError> {
    let mut n: usize = 0;
    let mut count = 0;
    for d in digits {
        count += 1;
        if count > MAX_LENGTH_DIGITS || d > 9 {
            return Err(DecodeError::MalformedPayload);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d)))
            .ok_or(DecodeError::MalformedPayload)?;
    }
    if count == 0 {
        return Err(DecodeError::MalformedPayload);
    }
    Ok(n)
}

/// Decodes one v3 packet given as a string (in either payload encoding): `b<type><base64>` is binary.
fn decode_v3_text(item: Bytes) -> Result<Packet, DecodeError> {
    if item.first() != Some(&b'b') {
        return decode_text(item);
    }
    let Some(&kind) = item.get(1) else {
        return Err(DecodeError::UnknownType);
    };
    if !(b'0'..=b'6').contains(&kind) {
        return Err(DecodeError::UnknownType);
    }
    let data = LENIENT_BASE64
        .decode(&item[2..])
        .map_err(|_| DecodeError::InvalidBase64)?;
    let mut raw = Vec::with_capacity(1 + data.len());
    raw.push(kind - b'0');
    raw.extend_from_slice(&data);
    decode_v3_binary(Bytes::from(raw))
}

/// The v3 string encoding: `<UTF-16 length>:<packet>` repeated.
fn decode_v3_string(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    let text = std::str::from_utf8(&body).map_err(|_| DecodeError::InvalidUtf8)?;
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let colon = text[pos..].find(':').ok_or(DecodeError::MalformedPayload)? + pos;
        let units = parse_decimal(text[pos..colon].bytes().map(|b| b.wrapping_sub(b'0')))?;
        // Walk `units` UTF-16 code units; a length ending inside a surrogate pair or past the end is malformed.
        let start = colon + 1;
        let mut end = start;
        let mut counted = 0;
        let mut chars = text[start..].chars();
        while counted < units {
            let c = chars.next().ok_or(DecodeError::MalformedPayload)?;
            counted += c.len_utf16();
            end += c.len_utf8();
        }
        if counted != units {
            return Err(DecodeError::MalformedPayload);
        }
        // Node skips empty packets (`0:` is how it encodes an empty payload).
        if end > start {
            push(&mut packets, decode_v3_text(body.slice(start..end))?)?;
        }
        pos = end;
    }
    Ok(packets)
}

/// The v3 binary encoding: `<0|1><digits><0xFF><packet>` repeated.
fn decode_v3_binary_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let is_string = match body[pos] {
            0 => true,
            1 => false,
            _ => return Err(DecodeError::MalformedPayload),
        };
        let digits_start = pos + 1;
        let marker = body[digits_start..]
            .iter()
            .take(MAX_LENGTH_DIGITS + 1)
            .position(|&b| b == 0xff)
            .ok_or(DecodeError::MalformedPayload)?
            + digits_start;
        let len = parse_decimal(body[digits_start..marker].iter().copied())?;
        let start = marker + 1;
        let end = start
            .checked_add(len)
            .filter(|&end| end <= body.len())
            .ok_or(DecodeError::MalformedPayload)?;
        let item = body.slice(start..end);
        let packet = if is_string {
            decode_v3_text(item)?
        } else {
            decode_v3_binary(item)?
        };
        push(&mut packets, packet)?;
        pos = end;
    }
    Ok(packets)
}

/// Encodes frames as a polling response body; returns the body and its content type.
///
/// `supports_binary` is false when a v3 client asked for `b64=1` (it cannot read binary bodies); v4 always
/// uses base64 for binary in payloads. Empty `frames` give the empty payload of each encoding (`0:` in v3,
/// an empty body in v4), though the engine always sends at least a noop.
pub fn encode_payload(
    protocol: Protocol,
    frames: &[Frame],
    supports_binary: bool,
) -> (Bytes, &'static str) {
    match protocol {
        Protocol::V4 => (encode_v4(frames), TEXT_PLAIN),
        Protocol::V3 if supports_binary && frames.iter().any(|f| matches!(f, Frame::Binary(_))) => {
            (encode_v3_binary(frames), OCTET_STREAM)
        }
        Protocol::V3 => (encode_v3_string(frames), TEXT_PLAIN),
    }
}

/// Base64 text length of `n` bytes (padded).
fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends standard padded base64 to `out` without an intermediate `String`.
fn put_base64(out: &mut BytesMut, data: &[u8]) {
    let start = out.len();
    out.resize(start + base64_len(data.len()), 0);
    // The buffer was sized by `base64_len`, which is exactly what the encoder writes.
    let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

fn encode_v4(frames: &[Frame]) -> Bytes {
    let size: usize = frames
        .iter()
        .map(|f| match f {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => 1 + base64_len(b.len()),
        })
        .sum::<usize>()
        + frames.len().saturating_sub(1);
    let mut out = BytesMut::with_capacity(size);
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            out.put_u8(SEPARATOR);
        }
        match frame {
            Frame::Text(t) => out.extend_from_slice(t),
            Frame::Binary(b) => {
                out.put_u8(b'b');
                put_base64(&mut out, b);
            }
        }
    }
    out.freeze()
}

/// The UTF-16 length of UTF-8 text (JavaScript's `String.length`): a 4-byte sequence is a surrogate pair,
/// every other sequence one unit. Counting lead bytes avoids decoding; invalid text (never produced by the
/// engine) is counted the same way.
fn utf16_len(text: &[u8]) -> usize {
    text.iter()
        .map(|&b| match b {
            0x80..=0xbf => 0, // continuation byte
            0xf0..=0xff => 2, // four-byte sequence: a surrogate pair
            _ => 1,
        })
        .sum()
}

fn encode_v3_string(frames: &[Frame]) -> Bytes {
    if frames.is_empty() {
        return Bytes::from_static(b"0:");
    }
    let mut out = BytesMut::new();
    for frame in frames {
        match frame {
            Frame::Text(t) => {
                out.extend_from_slice(utf16_len(t).to_string().as_bytes());
                out.put_u8(b':');
                out.extend_from_slice(t);
            }
            Frame::Binary(b) => {
                out.extend_from_slice((2 + base64_len(b.len())).to_string().as_bytes());
                out.extend_from_slice(b":b4");
                put_base64(&mut out, b);
            }
        }
    }
    out.freeze()
}

/// Appends a v3 binary-payload header: kind byte, decimal digits as byte values 0-9, `0xFF`.
fn put_binary_header(out: &mut BytesMut, kind: u8, len: usize) {
    out.put_u8(kind);
    for d in len.to_string().bytes() {
        out.put_u8(d - b'0');
    }
    out.put_u8(0xff);
}

fn encode_v3_binary(frames: &[Frame]) -> Bytes {
    let mut out = BytesMut::new();
    for frame in frames {
        match frame {
            Frame::Text(t) => {
                // String packets are UTF-8 bytes here, and their length is the byte count.
                put_binary_header(&mut out, 0, t.len());
                out.extend_from_slice(t);
            }
            Frame::Binary(b) => {
                put_binary_header(&mut out, 1, 1 + b.len());
                out.put_u8(4);
                out.extend_from_slice(b);
            }
        }
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> Frame {
        Frame::Text(Bytes::from_static(s.as_bytes()))
    }

    fn bin(b: &'static [u8]) -> Frame {
        Frame::Binary(Bytes::from_static(b))
    }

    fn msg(s: &'static str) -> Packet {
        Packet::Message(Message::Text(Bytes::from_static(s.as_bytes())))
    }

    fn binmsg(b: &'static [u8]) -> Packet {
        Packet::Message(Message::Binary(Bytes::from_static(b)))
    }

    fn decode(p: Protocol, body: &'static [u8]) -> Result<Vec<Packet>, DecodeError> {
        decode_payload(p, Bytes::from_static(body))
    }

    #[test]
    fn v4_encode() {
        let (body, ct) = encode_payload(
            Protocol::V4,
            &[text("4hello"), bin(&[1, 2, 3]), text("2")],
            true,
        );
        assert_eq!(&body[..], b"4hello\x1ebAQID\x1e2");
        assert_eq!(ct, "text/plain; charset=UTF-8");
        assert_eq!(encode_payload(Protocol::V4, &[], true).0, Bytes::new());
    }

    #[test]
    fn v4_decode() {
        assert_eq!(
            decode(Protocol::V4, b"4hello\x1ebAQID\x1e2probe\x1eb"),
            Ok(vec![
                msg("hello"),
                binmsg(&[1, 2, 3]),
                Packet::Ping(Bytes::from_static(b"probe")),
                binmsg(&[])
            ])
        );
        assert_eq!(decode(Protocol::V4, b"bAQI"), Ok(vec![binmsg(&[1, 2])]));
        assert_eq!(decode(Protocol::V4, b""), Err(DecodeError::Empty));
        assert_eq!(
            decode(Protocol::V4, b"4a\x1e\x1e4b"),
            Err(DecodeError::Empty)
        );
        assert_eq!(decode(Protocol::V4, b"4a\x1e"), Err(DecodeError::Empty));
        assert_eq!(
            decode(Protocol::V4, b"b!!"),
            Err(DecodeError::InvalidBase64)
        );
        assert_eq!(decode(Protocol::V4, b"9"), Err(DecodeError::UnknownType));
    }

    #[test]
    fn v3_string_encode_counts_utf16() {
        // "é" is one UTF-16 unit (two UTF-8 bytes), "😀" two units (four bytes).
        let (body, ct) = encode_payload(
            Protocol::V3,
            &[text("4é😀"), text("2"), bin(&[1, 2, 3])],
            false,
        );
        assert_eq!(&body[..], "4:4é😀1:26:b4AQID".as_bytes());
        assert_eq!(ct, "text/plain; charset=UTF-8");
        assert_eq!(
            encode_payload(Protocol::V3, &[], true).0,
            Bytes::from_static(b"0:")
        );
        // Without binary frames the string encoding is used even when binary is supported.
        assert_eq!(
            encode_payload(Protocol::V3, &[text("6")], true),
            (Bytes::from_static(b"1:6"), TEXT_PLAIN)
        );
    }

    #[test]
    fn v3_binary_encode() {
        let (body, ct) = encode_payload(Protocol::V3, &[text("4é"), bin(&[9; 10])], true);
        let mut want = vec![0, 3, 0xff, b'4', 0xc3, 0xa9, 1, 1, 1, 0xff, 4];
        want.extend_from_slice(&[9; 10]);
        assert_eq!(&body[..], &want[..]);
        assert_eq!(ct, "application/octet-stream");
    }

    #[test]
    fn v3_string_decode() {
        assert_eq!(
            decode(Protocol::V3, "4:4é😀1:20:6:b4AQID".as_bytes()),
            Ok(vec![
                msg("é😀"),
                Packet::Ping(Bytes::new()),
                binmsg(&[1, 2, 3])
            ])
        );
        assert_eq!(decode(Protocol::V3, b"0:"), Ok(vec![]));
        for bad in [
            &b"3:4a"[..],
            b"2:4a1",
            b":4",
            b"x:4",
            b"1:",
            b"1:7",
            b"99999999999:4",
            b"-1:4",
            b"2:b",
            b"3:b9A",
        ] {
            assert!(
                decode_payload(Protocol::V3, Bytes::from_static(bad)).is_err(),
                "{bad:?}"
            );
        }
        // A length ending inside a surrogate pair.
        assert_eq!(
            decode(Protocol::V3, "2:4😀".as_bytes()),
            Err(DecodeError::MalformedPayload)
        );
        assert_eq!(
            decode(Protocol::V3, b"2:4\xff"),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn v3_binary_decode() {
        assert_eq!(
            decode(
                Protocol::V3,
                &[
                    0, 3, 0xff, b'4', 0xc3, 0xa9, 1, 3, 0xff, 4, 7, 8, 0, 6, 0xff, b'b', b'4',
                    b'A', b'Q', b'=', b'='
                ]
            ),
            Ok(vec![msg("é"), binmsg(&[7, 8]), binmsg(&[1])])
        );
        for bad in [
            &[0, 3, 0xff, b'4'][..],
            &[0, 0xff],
            &[0, 1],
            &[2, 1, 0xff, b'6'],
            &[0, 10, 0xff, b'6'],
            &[1, 0, 0xff],
            &[0, 1, 0xff, 0xff],
            &[0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0xff],
        ] {
            assert!(
                decode_payload(Protocol::V3, Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn packet_count_is_limited() {
        let ok = vec![b"6".as_slice(); MAX_PAYLOAD_PACKETS].join(&SEPARATOR);
        assert_eq!(
            decode_payload(Protocol::V4, Bytes::from(ok.clone())).map(|p| p.len()),
            Ok(MAX_PAYLOAD_PACKETS)
        );
        let mut over = ok;
        over.extend_from_slice(b"\x1e6");
        assert_eq!(
            decode_payload(Protocol::V4, Bytes::from(over)),
            Err(DecodeError::MalformedPayload)
        );
        let v3 = b"1:6".repeat(MAX_PAYLOAD_PACKETS + 1);
        assert_eq!(
            decode_payload(Protocol::V3, Bytes::from(v3)),
            Err(DecodeError::MalformedPayload)
        );
    }

    #[test]
    fn round_trips() {
        let frames = [
            text("4a"),
            bin(&[0, 255]),
            text("4ü😀"),
            text("3probe"),
            bin(&[]),
        ];
        let packets = vec![
            msg("a"),
            binmsg(&[0, 255]),
            msg("ü😀"),
            Packet::Pong(Bytes::from_static(b"probe")),
            binmsg(&[]),
        ];
        for (protocol, binary) in [
            (Protocol::V4, true),
            (Protocol::V3, true),
            (Protocol::V3, false),
        ] {
            let (body, _) = encode_payload(protocol, &frames, binary);
            assert_eq!(
                decode_payload(protocol, body),
                Ok(packets.clone()),
                "{protocol:?} {binary}"
            );
        }
    }
}
