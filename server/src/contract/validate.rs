//! Validation of client payloads: rooms, names, and the shapes of event arguments.
//!
//! Payloads arrive as [`rmpv::Value`] so that binary data (JSON parser attachments or
//! MessagePack `bin`) survives untouched; these functions pick the fields out with clear errors.

use rmpv::Value;

use super::reply::Failure;

/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 128;
/// Longest display name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Checks a room name: a string of 1..128 characters without control characters.
pub fn room(value: Option<&Value>, field: &str) -> Result<String, Failure> {
    let Some(Value::String(s)) = value else {
        return Err(Failure::bad_request(format!("`{field}` must be a string")));
    };
    let Some(s) = s.as_str() else {
        return Err(Failure::bad_request(format!(
            "`{field}` is not valid UTF-8"
        )));
    };
    room_name(s).map_err(|rule| Failure::bad_request(format!("`{field}` {rule}")))?;
    Ok(s.to_owned())
}

/// The room-name rule of the contract and the HTTP API: 1..128 characters, no control characters.
/// The error completes "`<field>` ...".
pub fn room_name(s: &str) -> Result<(), &'static str> {
    let chars = s.chars().count();
    if chars == 0 || chars > MAX_ROOM_CHARS {
        return Err("must be 1..128 characters");
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    Ok(())
}

/// Checks a display name: a string of 1..64 characters without control characters.
pub fn name(s: &str) -> bool {
    let chars = s.chars().count();
    (1..=MAX_NAME_CHARS).contains(&chars) && !s.chars().any(char::is_control)
}

/// Looks up `key` in a map value.
pub fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

/// Requires an object payload, naming the event's expected shape in the error.
pub fn object<'a>(value: Option<&'a Value>, shape: &str) -> Result<&'a Value, Failure> {
    match value {
        Some(v @ Value::Map(_)) => Ok(v),
        _ => Err(Failure::bad_request(format!(
            "payload must be an object {shape}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::from(v)
    }

    #[test]
    fn rooms() {
        assert_eq!(room(Some(&s("lobby")), "room").unwrap(), "lobby");
        assert_eq!(
            room(Some(&s(&"é".repeat(128))), "room")
                .unwrap()
                .chars()
                .count(),
            128
        );
        assert!(room(Some(&s(&"a".repeat(129))), "room").is_err());
        assert!(room(Some(&s("")), "room").is_err());
        assert!(room(Some(&s("a\nb")), "room").is_err());
        assert!(room(Some(&Value::from(12)), "room").is_err());
        assert!(room(None, "room").is_err());
    }

    #[test]
    fn names() {
        assert!(name("Ada"));
        assert!(!name(""));
        assert!(!name(&"x".repeat(65)));
        assert!(!name("a\u{7}"));
    }

    #[test]
    fn fields_and_objects() {
        let v = Value::Map(vec![
            (s("room"), s("r")),
            (s("data"), Value::Binary(vec![1, 2])),
        ]);
        assert_eq!(field(&v, "data"), Some(&Value::Binary(vec![1, 2])));
        assert_eq!(field(&v, "nope"), None);
        assert!(object(Some(&v), "{room, data}").is_ok());
        assert!(object(Some(&s("x")), "{room, data}").is_err());
        assert!(object(None, "{room, data}").is_err());
    }
}
