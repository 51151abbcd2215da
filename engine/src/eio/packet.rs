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
// STUB-BEGIN
#[allow(missing_docs, unused_variables)]
pub fn decode_text(text: Bytes) -> Result<Packet, DecodeError> {
    todo!()
}
#[allow(missing_docs, unused_variables)]
pub fn decode_binary(protocol: Protocol, data: Bytes) -> Result<Packet, DecodeError> {
    todo!()
}
// STUB-END
