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
    let chars = s.chars().count();
    if chars == 0 || chars > MAX_ROOM_CHARS {
        return Err(Failure::bad_request(format!(
            "`{field}` must be 1..{MAX_ROOM_CHARS} characters"
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Failure::bad_request(format!(
            "`{field}` must not contain control characters"
        )));
    }
    Ok(s.to_owned())
}

/// Whether `s` has the shape of a socket id (ours: 16 base64url characters; Node's: 20).
pub fn looks_like_socket_id(s: &str) -> bool {
    (s.len() == 16 || s.len() == 20)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
    fn socket_id_shapes() {
        assert!(!looks_like_socket_id("lobby"));
        assert!(looks_like_socket_id("AbCdEfGhIjKlMnOp"));
        assert!(looks_like_socket_id("FA5IzxryWgk4g5HzAAAB"));
        assert!(!looks_like_socket_id("sixteen chars!!!"));
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
