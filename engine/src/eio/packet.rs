//! Engine.IO packets: the single-packet codec shared by both transports (pure, no I/O).
//!
//! A packet is a type digit followed by its data (`4hello`, `2probe`); a binary message travels as a
//! WebSocket binary frame (v4: the raw bytes; v3: a `0x04` type byte, then the bytes) or, in polling
//! payloads, as `b` + base64 (see [`super::payload`]).

use bytes::Bytes;

/// The Engine.IO protocol revision of a session (`EIO=4` or `EIO=3` in the query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Engine.IO v3 (socket.io-client 2.x): the client pings, length-prefixed polling payloads.
    V3,
    /// Engine.IO v4 (socket.io-client 3.x and 4.x): the server pings, `\x1e`-separated payloads.
    V4,
}

/// A message's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// UTF-8 text (the bytes after the `4`).
    Text(Bytes),
    /// Binary data.
    Binary(Bytes),
}

/// A decoded Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0` + handshake JSON.
    Open(Bytes),
    /// `1`.
    Close,
    /// `2` + optional data (`probe` during an upgrade).
    Ping(Bytes),
    /// `3` + optional data.
    Pong(Bytes),
    /// `4` + data.
    Message(Message),
    /// `5`.
    Upgrade,
    /// `6`.
    Noop,
}

/// One packet ready to be written, encoded once and shared by every recipient.
///
/// `Text` holds the complete packet text, type digit included (`4...`, `2`, `6`). `Binary` holds the raw
/// bytes of a binary message; each transport adds its own framing when writing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Complete packet text.
    Text(Bytes),
    /// A binary message's bytes.
    Binary(Bytes),
}

impl Frame {
    /// The bytes this frame puts on the wire before transport framing (for byte budgets).
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(b) | Frame::Binary(b) => b.len(),
        }
    }

    /// True for an empty frame (never produced by the engine).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why bytes are not a valid Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Empty input.
    #[error("empty packet")]
    Empty,
    /// The first byte is not a packet type.
    #[error("unknown packet type")]
    UnknownType,
    /// Text that is not UTF-8.
    #[error("packet text is not UTF-8")]
    InvalidUtf8,
    /// A `b`-prefixed item whose base64 is invalid.
    #[error("invalid base64 in binary packet")]
    InvalidBase64,
    /// A malformed polling payload (lengths, separators).
    #[error("malformed payload")]
    MalformedPayload,
}

/// Decodes one packet in text form: a WebSocket text frame, or one item of a polling payload.
///
/// The whole input must be UTF-8 (Node decodes it as a string before looking at it). The data after the type
/// digit is a [`Bytes::slice`] of the input, so decoding never copies. `Close`, `Upgrade` and `Noop` ignore any
/// trailing data, as Node does (it keeps the data but nothing reads it for those types).
pub fn decode_text(text: Bytes) -> Result<Packet, DecodeError> {
    let Some(&kind) = text.first() else {
        return Err(DecodeError::Empty);
    };
    if std::str::from_utf8(&text).is_err() {
        return Err(DecodeError::InvalidUtf8);
    }
    let data = text.slice(1..);
    Ok(match kind {
        b'0' => Packet::Open(data),
        b'1' => Packet::Close,
        b'2' => Packet::Ping(data),
        b'3' => Packet::Pong(data),
        b'4' => Packet::Message(Message::Text(data)),
        b'5' => Packet::Upgrade,
        b'6' => Packet::Noop,
        _ => return Err(DecodeError::UnknownType),
    })
}

/// Decodes a WebSocket binary frame.
///
/// v4 sends a binary message as the bare bytes, so every binary frame is a message (an empty one included).
/// v3 prefixes the bytes with the packet type as a raw byte (`0x04` for a message); see
/// [`decode_v3_binary`] for the other types.
pub fn decode_binary(protocol: Protocol, data: Bytes) -> Result<Packet, DecodeError> {
    match protocol {
        Protocol::V4 => Ok(Packet::Message(Message::Binary(data))),
        Protocol::V3 => decode_v3_binary(data),
    }
}

/// Decodes a v3 binary packet: a raw type byte (0 to 6), then the data as binary.
///
/// v3's parser accepts any type in binary form; only messages carry binary in practice, but a binary ping's
/// data is kept (a v3 server echoes ping data in its pong) so it is not lost. Shared with the v3 payload codec,
/// whose binary packets and `b<type><base64>` strings have the same meaning.
pub(crate) fn decode_v3_binary(data: Bytes) -> Result<Packet, DecodeError> {
    let Some(&kind) = data.first() else {
        return Err(DecodeError::Empty);
    };
    let rest = data.slice(1..);
    Ok(match kind {
        0 => Packet::Open(rest),
        1 => Packet::Close,
        2 => Packet::Ping(rest),
        3 => Packet::Pong(rest),
        4 => Packet::Message(Message::Binary(rest)),
        5 => Packet::Upgrade,
        6 => Packet::Noop,
        _ => return Err(DecodeError::UnknownType),
    })
}

impl Packet {
    /// The packet's text form (`0{...}`, `1`, `2probe`, `3`, `4text`, `5`, `6`), for WebSocket text frames and
    /// polling payloads; `None` for a binary message, whose form depends on the transport and protocol.
    pub fn encode_text(&self) -> Option<Bytes> {
        let (digit, data): (u8, &[u8]) = match self {
            Packet::Open(d) => (b'0', d),
            Packet::Close => (b'1', &[]),
            Packet::Ping(d) => (b'2', d),
            Packet::Pong(d) => (b'3', d),
            Packet::Message(Message::Text(d)) => (b'4', d),
            Packet::Message(Message::Binary(_)) => return None,
            Packet::Upgrade => (b'5', &[]),
            Packet::Noop => (b'6', &[]),
        };
        if data.is_empty() {
            // The bare-digit packets are by far the most frequent (pings, noops): no allocation.
            return Some(Bytes::from_static(match digit {
                b'0' => b"0",
                b'1' => b"1",
                b'2' => b"2",
                b'3' => b"3",
                b'4' => b"4",
                b'5' => b"5",
                _ => b"6",
            }));
        }
        let mut out = Vec::with_capacity(1 + data.len());
        out.push(digit);
        out.extend_from_slice(data);
        Some(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &'static str) -> Result<Packet, DecodeError> {
        decode_text(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn decode_text_reads_every_type() {
        assert_eq!(
            text("0{\"sid\":\"a\"}"),
            Ok(Packet::Open(Bytes::from_static(b"{\"sid\":\"a\"}")))
        );
        assert_eq!(text("1"), Ok(Packet::Close));
        assert_eq!(text("2"), Ok(Packet::Ping(Bytes::new())));
        assert_eq!(
            text("2probe"),
            Ok(Packet::Ping(Bytes::from_static(b"probe")))
        );
        assert_eq!(
            text("3probe"),
            Ok(Packet::Pong(Bytes::from_static(b"probe")))
        );
        assert_eq!(
            text("4héllo"),
            Ok(Packet::Message(Message::Text(Bytes::from("héllo"))))
        );
        assert_eq!(text("4"), Ok(Packet::Message(Message::Text(Bytes::new()))));
        assert_eq!(text("5"), Ok(Packet::Upgrade));
        assert_eq!(text("6"), Ok(Packet::Noop));
    }

    #[test]
    fn decode_text_refuses_garbage() {
        assert_eq!(text(""), Err(DecodeError::Empty));
        assert_eq!(text("7"), Err(DecodeError::UnknownType));
        assert_eq!(text("b4AQID"), Err(DecodeError::UnknownType));
        assert_eq!(
            decode_text(Bytes::from_static(b"4\xff")),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn decode_text_does_not_copy() {
        let input = Bytes::from_static(b"4hello");
        let Ok(Packet::Message(Message::Text(data))) = decode_text(input.clone()) else {
            panic!("not a text message");
        };
        assert_eq!(data.as_ptr(), input[1..].as_ptr());
    }

    #[test]
    fn decode_binary_per_protocol() {
        let raw = Bytes::from_static(&[4, 1, 2]);
        assert_eq!(
            decode_binary(Protocol::V4, raw.clone()),
            Ok(Packet::Message(Message::Binary(raw.clone())))
        );
        assert_eq!(
            decode_binary(Protocol::V3, raw),
            Ok(Packet::Message(Message::Binary(Bytes::from_static(&[
                1, 2
            ]))))
        );
        assert_eq!(
            decode_binary(Protocol::V4, Bytes::new()),
            Ok(Packet::Message(Message::Binary(Bytes::new())))
        );
        assert_eq!(
            decode_binary(Protocol::V3, Bytes::new()),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            decode_binary(Protocol::V3, Bytes::from_static(&[7])),
            Err(DecodeError::UnknownType)
        );
        assert_eq!(
            decode_binary(Protocol::V3, Bytes::from_static(&[2, 9])),
            Ok(Packet::Ping(Bytes::from_static(&[9])))
        );
    }

    #[test]
    fn encode_text_forms() {
        let enc = |p: Packet| p.encode_text().map(|b| b.to_vec());
        assert_eq!(
            enc(Packet::Open(Bytes::from_static(b"{}"))),
            Some(b"0{}".to_vec())
        );
        assert_eq!(enc(Packet::Close), Some(b"1".to_vec()));
        assert_eq!(
            enc(Packet::Ping(Bytes::from_static(b"probe"))),
            Some(b"2probe".to_vec())
        );
        assert_eq!(enc(Packet::Pong(Bytes::new())), Some(b"3".to_vec()));
        assert_eq!(
            enc(Packet::Message(Message::Text(Bytes::from_static(b"hi")))),
            Some(b"4hi".to_vec())
        );
        assert_eq!(enc(Packet::Upgrade), Some(b"5".to_vec()));
        assert_eq!(enc(Packet::Noop), Some(b"6".to_vec()));
        assert_eq!(
            enc(Packet::Message(Message::Binary(Bytes::from_static(b"x")))),
            None
        );
    }

    #[test]
    fn text_round_trip() {
        for s in ["0{}", "1", "2", "2probe", "3probe", "4", "4☃ x", "5", "6"] {
            let p = text(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(p.encode_text().as_deref(), Some(s.as_bytes()));
        }
    }
}
