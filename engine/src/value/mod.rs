//! The value model of packet data ([`rmpv::Value`]) and its two text/binary dialects.
//!
//! [`rmpv::Value`] keeps everything Node writes: a `Buffer` is [`Value::Binary`], a `Date` is the MessagePack
//! timestamp extension ([`timestamp`]), a string that JavaScript holds with a lone UTF-16 surrogate is a
//! [`Value::String`] holding WTF-8 bytes (rmpv keeps invalid UTF-8 as bytes). The Redis adapter and the socket.io
//! parsers share these codecs so that one value reads and writes the same way on every path:
//! - [`json`]: `JSON.parse` / `JSON.stringify`;
//! - [`msgpack`]: notepack.io (3.x for the Redis adapter, 2.x for `socket.io-msgpack-parser`).
//!
//! Decoders never panic and bound nesting to [`MAX_DEPTH`]; they never allocate more than the input can fill.

pub mod json;
pub mod msgpack;
pub mod timestamp;

pub use rmpv::Value;
pub use timestamp::{
    InvalidTimestamp, TIMESTAMP_EXT_TYPE, Timestamp, dates_to_iso_strings, has_binary,
    timestamp_to_iso,
};

/// Deepest nesting of arrays and maps a decoder accepts (`serde_json`'s limit, far beyond real payloads, far
/// below what would exhaust a stack).
pub const MAX_DEPTH: usize = 128;
