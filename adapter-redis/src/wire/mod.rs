//! The pure wire codec of the Node `@socket.io/redis-adapter` 8.x and `@socket.io/redis-emitter` 5.x protocols.
//!
//! Everything in here takes bytes and returns values (or the other way round): no I/O, no Redis connection. The
//! connection module and the adapter build on these types.
//!
//! - [`value`]: the packet data model ([`Value`], MessagePack timestamps, JavaScript-compatible helpers).
//! - [`msgpack`] and [`json`]: the two encodings Node uses, in the exact dialect Node writes (notepack.io 3 and
//!   `JSON.stringify`), with bounded decoders.
//! - [`channels`]: Redis channel names, both to build and to parse.
//! - [`common`]: socket.io vocabulary shared by both protocols ([`Packet`], [`BroadcastOptions`], ...).
//! - [`event`]: event packets to and from the engine's packets.
//! - [`classic`]: the PUBLISH/SUBSCRIBE protocol of `createAdapter()` and of the emitters.
//! - [`sharded`]: the SPUBLISH/SSUBSCRIBE protocol of `createShardedAdapter()`.
//! - [`streams`]: the Redis Streams protocol of `@socket.io/redis-streams-adapter` (stream entries, sessions).
//!
//! Decoders never panic: every malformed input gives a [`WireError`]. They bound nesting depth ([`MAX_DEPTH`]),
//! room lists ([`MAX_ROOMS`]) and other lists ([`MAX_LIST_LEN`]), and never allocate more than the input can fill.

pub mod channels;
pub mod classic;
pub mod common;
pub mod event;
mod fields;
pub mod json;
pub mod msgpack;
pub mod sharded;
pub mod streams;
pub mod value;

pub use channels::{
    ClassicChannel, ClassicChannels, DEFAULT_KEY, ShardedChannel, ShardedChannels,
    ShardedSubscriptionMode, sharded_treats_as_socket_id,
};
pub use classic::{BroadcastMessage, RawResponse, Request, RequestType, Response};
pub use common::{
    BroadcastFlags, BroadcastOptions, EMITTER_UID, Handshake, Packet, RemoteSocketData,
};
pub use event::EventError;
pub use sharded::{MessageType, ShardedBody, ShardedMessage};
pub use streams::{EntryId, SessionRecord, StreamEntry};
pub use value::{Timestamp, Value, dates_to_iso_strings, has_binary, timestamp_to_iso};

/// Deepest nesting of arrays and maps a decoder accepts (the same limit `serde_json` applies to JSON).
pub const MAX_DEPTH: usize = engine::value::MAX_DEPTH;

/// Most rooms a room list (`opts.rooms`, `opts.except`, the rooms to join or leave) may hold.
pub const MAX_ROOMS: usize = 10_000;

/// Most elements any other typed list (socket ids, rooms of `allRooms`, fetched sockets) may hold.
pub const MAX_LIST_LEN: usize = 1_000_000;

/// The two encodings found on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// `JSON.stringify` text; always starts with `{` on this protocol.
    Json,
    /// MessagePack as notepack.io writes it.
    MessagePack,
}

impl Encoding {
    /// The encoding of a received payload, decided as Node does: JSON when the first byte is `{` (0x7b),
    /// MessagePack otherwise.
    pub fn detect(payload: &[u8]) -> Self {
        if payload.first() == Some(&b'{') {
            Encoding::Json
        } else {
            Encoding::MessagePack
        }
    }
}

/// Decodes a payload into a [`Value`], as JSON or MessagePack per [`Encoding::detect`].
pub fn decode_payload(payload: &[u8]) -> Result<Value, WireError> {
    match Encoding::detect(payload) {
        Encoding::Json => json::decode(payload),
        Encoding::MessagePack => msgpack::decode(payload),
    }
}

/// Encodes a value in the given encoding.
pub fn encode_value(value: &Value, encoding: Encoding) -> Vec<u8> {
    match encoding {
        Encoding::Json => json::encode(value),
        Encoding::MessagePack => msgpack::encode(value),
    }
}

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The payload is empty.
    #[error("empty payload")]
    Empty,
    /// The MessagePack data ends before the value does.
    #[error("truncated MessagePack: value at byte {offset} needs more bytes than remain")]
    Truncated {
        /// Byte offset of the value that could not be read completely.
        offset: usize,
    },
    /// A byte that is not a MessagePack marker (0xc1).
    #[error("invalid MessagePack marker 0x{marker:02x} at byte {offset}")]
    InvalidMarker {
        /// The offending byte.
        marker: u8,
        /// Its offset.
        offset: usize,
    },
    /// Bytes left over after the top-level MessagePack value (notepack.io rejects these too).
    #[error("{0} trailing bytes after the MessagePack value")]
    TrailingBytes(usize),
    /// A MessagePack string that is not UTF-8.
    #[error("MessagePack string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the string value.
        offset: usize,
    },
    /// The JSON text could not be parsed.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Arrays and maps nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A list longer than its limit ([`MAX_ROOMS`] or [`MAX_LIST_LEN`]).
    #[error("`{field}` has {len} elements, more than the limit of {max}")]
    TooLarge {
        /// Field name.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field holds a value of the wrong type.
    #[error("field `{field}` should be {expected}")]
    WrongType {
        /// Field name.
        field: &'static str,
        /// What was expected.
        expected: &'static str,
    },
    /// A `type` number that this kind of message does not know.
    #[error("unknown {kind} type {value}")]
    UnknownType {
        /// Which kind of message (`request`, `response`, `sharded message`).
        kind: &'static str,
        /// The type number found (or -1 when it is not an integer).
        value: i64,
    },
    /// A response that cannot answer the pending request it was matched with.
    #[error("a response of this shape does not answer a {pending:?} request")]
    UnexpectedResponse {
        /// The type of the pending request.
        pending: RequestType,
    },
    /// A timestamp extension whose data is not 4, 8 or 12 bytes long.
    #[error("timestamp extension of {0} bytes (expected 4, 8 or 12)")]
    InvalidTimestamp(usize),
}
