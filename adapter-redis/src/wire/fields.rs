//! Typed access to the fields of a decoded object, with the errors decoders report.
//!
//! JavaScript semantics: a key present twice counts with its last value (as in `JSON.parse` and notepack.io), and
//! for optional fields `null` counts as absent.

use rmpv::Value;

use super::{MAX_LIST_LEN, MAX_ROOMS, WireError};

/// The entries of a decoded map, taken out one by one.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    entries: Vec<(Value, Value)>,
}

impl Fields {
    /// The entries of `value`, which must be a map.
    pub(crate) fn new(value: Value, field: &'static str) -> Result<Self, WireError> {
        match value {
            Value::Map(entries) => Ok(Self { entries }),
            _ => Err(WireError::WrongType {
                field,
                expected: "an object",
            }),
        }
    }

    /// Takes the raw value of `key` (nil included); `None` when the key is absent.
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        let pos = self
            .entries
            .iter()
            .rposition(|(k, _)| k.as_str() == Some(key))?;
        Some(self.entries.swap_remove(pos).1)
    }

    /// Takes `key`, treating nil as absent.
    pub(crate) fn take_present(&mut self, key: &str) -> Option<Value> {
        self.take(key).filter(|v| !v.is_nil())
    }

    pub(crate) fn string(&mut self, key: &'static str) -> Result<String, WireError> {
        self.opt_string(key)?.ok_or(WireError::MissingField(key))
    }

    pub(crate) fn opt_string(&mut self, key: &'static str) -> Result<Option<String>, WireError> {
        self.take_present(key)
            .map(|v| into_string(v, key))
            .transpose()
    }

    pub(crate) fn opt_bool(&mut self, key: &'static str) -> Result<Option<bool>, WireError> {
        match self.take_present(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(b)),
            Some(_) => Err(WireError::WrongType {
                field: key,
                expected: "a boolean",
            }),
        }
    }

    pub(crate) fn opt_u64(&mut self, key: &'static str) -> Result<Option<u64>, WireError> {
        self.take_present(key).map(|v| as_u64(&v, key)).transpose()
    }

    pub(crate) fn u64(&mut self, key: &'static str) -> Result<u64, WireError> {
        self.opt_u64(key)?.ok_or(WireError::MissingField(key))
    }

    /// A list of rooms (at most [`MAX_ROOMS`]); absent means empty; a single room is accepted for a list.
    pub(crate) fn rooms(&mut self, key: &'static str) -> Result<Vec<String>, WireError> {
        self.string_list(key, MAX_ROOMS)
    }

    /// A list of strings (at most `max`); absent means empty; a single string is accepted for a list.
    pub(crate) fn string_list(
        &mut self,
        key: &'static str,
        max: usize,
    ) -> Result<Vec<String>, WireError> {
        match self.take_present(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => {
                check_len(key, items.len(), max)?;
                items.into_iter().map(|v| into_room(v, key)).collect()
            }
            Some(v @ Value::String(_)) => Ok(vec![into_string(v, key)?]),
            Some(_) => Err(WireError::WrongType {
                field: key,
                expected: "an array of strings",
            }),
        }
    }

    /// An array field, required.
    pub(crate) fn array(&mut self, key: &'static str) -> Result<Vec<Value>, WireError> {
        match self.take_present(key) {
            None => Err(WireError::MissingField(key)),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(WireError::WrongType {
                field: key,
                expected: "an array",
            }),
        }
    }

    /// The `type` field as an integer; `kind` names the message kind for errors.
    pub(crate) fn type_number(&mut self, kind: &'static str) -> Result<u64, WireError> {
        let v = self
            .take_present("type")
            .ok_or(WireError::MissingField("type"))?;
        as_u64(&v, "type").map_err(|_| WireError::UnknownType {
            kind,
            value: v.as_i64().unwrap_or(-1),
        })
    }
}

pub(crate) fn check_len(field: &'static str, len: usize, max: usize) -> Result<(), WireError> {
    if len > max {
        Err(WireError::TooLarge { field, len, max })
    } else {
        Ok(())
    }
}

pub(crate) fn into_string(v: Value, field: &'static str) -> Result<String, WireError> {
    match v {
        Value::String(s) => s.into_str().ok_or(WireError::WrongType {
            field,
            expected: "a UTF-8 string",
        }),
        _ => Err(WireError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// A room name: a string, or a number as JavaScript names it (`socket.join(42)` works in Node).
fn into_room(v: Value, field: &'static str) -> Result<String, WireError> {
    match v {
        Value::Integer(i) => Ok(i.to_string()),
        v => into_string(v, field),
    }
}

/// A non-negative integer; an integral float is accepted (JavaScript has a single number type).
pub(crate) fn as_u64(v: &Value, field: &'static str) -> Result<u64, WireError> {
    match v {
        Value::Integer(i) => i.as_u64(),
        Value::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= super::json::MAX_SAFE_INTEGER => {
            Some(*f as u64)
        }
        _ => None,
    }
    .ok_or(WireError::WrongType {
        field,
        expected: "a non-negative integer",
    })
}

/// A list of values (at most [`MAX_LIST_LEN`]) converted one by one.
pub(crate) fn list_of<T>(
    v: Option<Value>,
    field: &'static str,
    mut f: impl FnMut(Value) -> Result<T, WireError>,
) -> Result<Vec<T>, WireError> {
    match v {
        None | Some(Value::Nil) => Ok(Vec::new()),
        Some(Value::Array(items)) => {
            check_len(field, items.len(), MAX_LIST_LEN)?;
            items.into_iter().map(&mut f).collect()
        }
        Some(_) => Err(WireError::WrongType {
            field,
            expected: "an array",
        }),
    }
}

/// Builds an ordered map value from `(key, value)` pairs, skipping the `None`s (JavaScript `undefined`).
pub(crate) fn object<const N: usize>(entries: [(&str, Option<Value>); N]) -> Value {
    Value::Map(
        entries
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (Value::from(k), v)))
            .collect(),
    )
}

/// A list of strings as a value.
pub(crate) fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| Value::from(s.as_str())).collect())
}
