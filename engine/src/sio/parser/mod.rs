//! The two socket.io parsers: the default one (text packets, binary as placeholders plus attachments) and the
//! MessagePack one (one binary message per packet). Pure codecs: no I/O.
//!
//! Both decode exactly what Node's `socket.io-parser` 4.x and `socket.io-msgpack-parser` 3.x accept and refuse
//! (checked against those packages by `engine/tests/vectors/sio/`), with these deliberate exceptions, each a
//! packet Node would read into something the rest of the engine cannot hold or that would cost unbounded
//! resources:
//! - arrays and objects nested deeper than [`crate::value::MAX_DEPTH`] (Node: until its stack overflows);
//! - an ack id that is not a non-negative integer below 2^64 (Node: any number, even `NaN` from `2 1 2[...]`);
//! - a placeholder whose `num` is not an integer (Node puts `undefined` there).
//!
//! Encoding writes the bytes Node writes for the same packet.

pub mod json;
pub mod msgpack;

use bytes::Bytes;
use rmpv::Value;

use crate::eio::packet::Frame;
use crate::value::json::JsonError;
use crate::value::msgpack::MsgpackError;

use super::packet::{Packet, PacketKind};

/// The attachments a binary packet may announce unless configured otherwise (Node's `maxAttachments`).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// Why a socket.io packet was refused. Node closes the connection on any of these (reason `parse error`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// The type is not one of `0`..`6` (default parser) or `0`..`4` (MessagePack).
    #[error("unknown packet type")]
    UnknownType,
    /// The attachment count of a binary packet is missing, not a number, or below 1.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// More attachments announced than allowed.
    #[error("too many attachments: {count} (at most {max})")]
    TooManyAttachments {
        /// What the packet announced (saturated).
        count: u64,
        /// The limit.
        max: usize,
    },
    /// A MessagePack packet whose `nsp` is not a string.
    #[error("invalid namespace")]
    InvalidNamespace,
    /// An ack id that is not a non-negative integer below 2^64.
    #[error("invalid packet id")]
    InvalidId,
    /// The payload does not fit the packet type (see [`validate_payload`]).
    #[error("invalid payload")]
    InvalidPayload,
    /// The payload is not JSON that `JSON.parse` accepts (trailing garbage included).
    #[error("invalid payload: {0}")]
    Json(#[from] JsonError),
    /// The MessagePack message is malformed.
    #[error("invalid MessagePack: {0}")]
    Msgpack(#[from] MsgpackError),
    /// A placeholder whose `num` is not the index of a received attachment.
    #[error("illegal attachment placeholder")]
    IllegalPlaceholder,
    /// A binary message while no binary packet waits for attachments.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// A text message while a binary packet waits for attachments, or any text with the MessagePack parser.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
}

/// Which parser a server (and so every connection) uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `socket.io-parser` (the default): text packets, binary data as attachments.
    Default,
    /// `socket.io-msgpack-parser`: one MessagePack binary message per packet.
    Msgpack,
}

impl Parser {
    /// The Engine.IO frames of a packet, in the order they are sent: for the default parser the text packet
    /// (`4` + text) and then one binary frame per attachment; for MessagePack one binary frame.
    pub fn encode(self, packet: &Packet) -> Vec<Frame> {
        match self {
            Parser::Default => {
                let encoded = json::encode(packet);
                let mut text = String::with_capacity(encoded.text.len() + 1);
                text.push('4');
                text.push_str(&encoded.text);
                let mut frames = Vec::with_capacity(1 + encoded.attachments.len());
                frames.push(Frame::Text(Bytes::from(text)));
                frames.extend(encoded.attachments.into_iter().map(Frame::Binary));
                frames
            }
            Parser::Msgpack => vec![Frame::Binary(msgpack::encode(packet))],
        }
    }
}

/// The decoding state of one connection.
///
/// The default parser's state is small while idle: it holds a partial packet only while its attachments are
/// pending. The MessagePack parser has no state.
#[derive(Debug)]
pub enum Decoder {
    /// The default parser.
    Default(json::Decoder),
    /// The MessagePack parser.
    Msgpack,
}

impl Decoder {
    /// A decoder for `parser`, with Node's default attachment limit.
    pub fn new(parser: Parser) -> Self {
        Self::with_max_attachments(parser, DEFAULT_MAX_ATTACHMENTS)
    }

    /// A decoder for `parser` that accepts binary packets of up to `max_attachments` attachments.
    pub fn with_max_attachments(parser: Parser, max_attachments: usize) -> Self {
        match parser {
            Parser::Default => Decoder::Default(json::Decoder::new(max_attachments)),
            Parser::Msgpack => Decoder::Msgpack,
        }
    }

    /// Decodes an Engine.IO text message (without its `4`); `None` while a binary packet waits for attachments.
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, ParseError> {
        match self {
            Decoder::Default(d) => d.decode_text(text),
            // A string can never decode to the map a MessagePack packet is.
            Decoder::Msgpack => Err(ParseError::UnexpectedText),
        }
    }

    /// Decodes an Engine.IO binary message.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, ParseError> {
        match self {
            Decoder::Default(d) => d.decode_binary(data),
            Decoder::Msgpack => msgpack::decode(&data).map(Some),
        }
    }
}

/// Event names a client may not use (Node's `RESERVED_EVENTS` of `socket.io-parser`).
const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether `name` is an event name the default parser refuses.
pub fn is_reserved_event(name: &[u8]) -> bool {
    RESERVED_EVENTS.iter().any(|r| r.as_bytes() == name)
}

/// Node's payload checks, shared by both parsers: CONNECT carries an object or nothing, DISCONNECT nothing,
/// CONNECT_ERROR a string or an object, EVENT and ACK an array. `event_names` adds the default parser's EVENT
/// check (first element a number, or a string that is not reserved), which the MessagePack parser lacks.
pub fn validate_payload(
    kind: PacketKind,
    data: Option<&Value>,
    event_names: bool,
) -> Result<(), ParseError> {
    let ok = match (kind, data) {
        (PacketKind::Connect, None | Some(Value::Map(_))) => true,
        (PacketKind::Disconnect, None) => true,
        (PacketKind::ConnectError, Some(Value::String(_) | Value::Map(_))) => true,
        (PacketKind::Event, Some(Value::Array(items))) if event_names => match items.first() {
            Some(Value::Integer(_) | Value::F32(_) | Value::F64(_)) => true,
            Some(Value::String(s)) => !is_reserved_event(s.as_bytes()),
            _ => false,
        },
        (PacketKind::Event | PacketKind::Ack, Some(Value::Array(_))) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ParseError::InvalidPayload)
    }
}
