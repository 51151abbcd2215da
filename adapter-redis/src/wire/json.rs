//! JSON as Node reads and writes it (`JSON.parse` / `JSON.stringify`), mapped onto [`Value`].
//!
//! The codec lives in the engine ([`engine::value::json`], shared with the socket.io default parser); this module
//! maps its errors onto [`WireError`].

use rmpv::Value;
use serde::de::Error as _;

use super::WireError;
use engine::value::json::JsonError;

pub use engine::value::json::{MAX_SAFE_INTEGER, encode, js_number, write_string, write_value};

/// Parses JSON text into a [`Value`] (objects become [`Value::Map`] in key order).
pub fn decode(input: &[u8]) -> Result<Value, WireError> {
    engine::value::json::decode(input).map_err(WireError::from)
}

impl From<JsonError> for WireError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Empty => WireError::Empty,
            JsonError::TooDeep { max } => WireError::TooDeep { max },
            other => WireError::Json(serde_json::Error::custom(other)),
        }
    }
}
