//! The value model of packet data: [`rmpv::Value`], which keeps everything Node writes.
//!
//! A Node `Buffer` is [`Value::Binary`]; a `Date` is the MessagePack timestamp extension ([`Value::Ext`] with type
//! [`TIMESTAMP_EXT_TYPE`], see [`Timestamp`]); `undefined` inside arrays is nil, and object keys whose value was
//! `undefined` are absent. When relaying packet data to socket.io clients, a timestamp becomes the ISO-8601 string
//! `JSON.stringify(date)` gives ([`dates_to_iso_strings`]) and binary becomes a binary attachment.

pub use engine::value::{
    InvalidTimestamp, TIMESTAMP_EXT_TYPE, Timestamp, Value, dates_to_iso_strings, has_binary,
    timestamp_to_iso,
};

use super::WireError;

// The implementation lives in the engine (one value model for the adapter and the socket.io parsers).
impl From<InvalidTimestamp> for WireError {
    fn from(e: InvalidTimestamp) -> Self {
        WireError::InvalidTimestamp(e.0)
    }
}
