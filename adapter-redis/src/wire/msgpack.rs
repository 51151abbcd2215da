//! MessagePack in the dialect of notepack.io 3, the codec of the Node adapter and emitter.
//!
//! The codec lives in the engine ([`engine::value::msgpack`], shared with the socket.io MessagePack parser);
//! this module maps its errors onto [`WireError`].

use rmpv::Value;

use super::WireError;
use engine::value::msgpack::MsgpackError;

pub use engine::value::msgpack::{encode, encode_into};

/// Decodes one complete MessagePack value; bytes after it are an error, as in notepack.io.
pub fn decode(input: &[u8]) -> Result<Value, WireError> {
    engine::value::msgpack::decode(input).map_err(WireError::from)
}

impl From<MsgpackError> for WireError {
    fn from(e: MsgpackError) -> Self {
        match e {
            MsgpackError::Empty => WireError::Empty,
            MsgpackError::Truncated { offset } => WireError::Truncated { offset },
            MsgpackError::InvalidMarker { marker, offset } => {
                WireError::InvalidMarker { marker, offset }
            }
            MsgpackError::TrailingBytes(n) => WireError::TrailingBytes(n),
            MsgpackError::InvalidUtf8 { offset } => WireError::InvalidUtf8 { offset },
            MsgpackError::TooDeep { max } => WireError::TooDeep { max },
        }
    }
}
