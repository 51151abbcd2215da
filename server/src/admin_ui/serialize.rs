//! Sockets as Node's instrument shows them to the UI: `{id, clientId, transport, nsp, data, handshake, rooms}`,
//! with `handshake` as `{address, headers, query, issued, secure, time, url, xdomain}` (no `auth`: it may hold
//! secrets), and the dates of events as `JSON.stringify(new Date())` writes them.
//!
//! In development mode Node keeps `{clientId, transport}` in `socket.data._admin` so that other servers, which
//! only see `socket.data` through `fetchSockets`, can show them too; the UI never sees `_admin` itself. This
//! server does the same (see [`super::hooks`]), so Rust and Node replicas read each other's sockets.

use std::time::SystemTime;

use engine::{Socket, SocketDescription};
use rmpv::Value;

/// The key of `socket.data` where development mode keeps what the UI needs of remote sockets.
pub const ADMIN_KEY: &str = "_admin";

/// A local socket.
pub fn local(socket: &Socket) -> Value {
    let handshake = engine::sio::describe::handshake(socket);
    map(vec![
        ("id", Value::from(socket.id.as_str())),
        ("clientId", Value::from(client_id(socket))),
        ("transport", Value::from(socket.transport().as_str())),
        ("nsp", Value::from(socket.ns())),
        ("data", without_admin(socket.data())),
        ("handshake", handshake_of(handshake)),
        (
            "rooms",
            Value::Array(socket.rooms().into_iter().map(Value::from).collect()),
        ),
    ])
}

/// A socket of any server, as `fetchSockets` described it; `clientId` and `transport` come from `data._admin`.
pub fn remote(nsp: &str, socket: SocketDescription) -> Value {
    let admin = get(&socket.data, ADMIN_KEY).cloned().unwrap_or(Value::Nil);
    let admin_field = |name| get(&admin, name).cloned().unwrap_or(Value::Nil);
    let mut fields = vec![("id", Value::from(socket.id))];
    // Node leaves out what it does not know (`undefined`).
    for name in ["clientId", "transport"] {
        let value = admin_field(name);
        if !value.is_nil() {
            fields.push((name, value));
        }
    }
    fields.extend([
        ("nsp", Value::from(nsp)),
        ("data", without_admin(socket.data)),
        ("handshake", handshake_of(socket.handshake)),
        (
            "rooms",
            Value::Array(socket.rooms.into_iter().map(Value::from).collect()),
        ),
    ]);
    map(fields)
}

/// Node shows the first 12 characters of the Engine.IO id: enough to group a client's sockets, not enough to
/// take over its polling session.
pub fn client_id(socket: &Socket) -> String {
    socket.client_id().as_str().chars().take(12).collect()
}

/// `data._admin` for a socket of this server: `{clientId, transport}`.
pub fn admin_marker(client_id: &str, transport: &str) -> Value {
    map(vec![
        ("clientId", Value::from(client_id)),
        ("transport", Value::from(transport)),
    ])
}

/// `data` with `_admin` set to `marker` (an object is made when `data` is not one).
pub fn with_admin(data: Value, marker: Value) -> Value {
    let mut entries = match data {
        Value::Map(entries) => entries,
        _ => Vec::new(),
    };
    entries.retain(|(k, _)| k.as_str() != Some(ADMIN_KEY));
    entries.push((Value::from(ADMIN_KEY), marker));
    Value::Map(entries)
}

/// `data` as the UI sees it: without `_admin`.
pub fn without_admin(data: Value) -> Value {
    match data {
        Value::Map(mut entries) => {
            entries.retain(|(k, _)| k.as_str() != Some(ADMIN_KEY));
            Value::Map(entries)
        }
        other => other,
    }
}

/// Node's handshake subset; the address a proxy reported (`cf-connecting-ip`, `x-forwarded-for`) wins.
fn handshake_of(handshake: Value) -> Value {
    let headers = get(&handshake, "headers").cloned().unwrap_or(Value::Nil);
    let forwarded = ["cf-connecting-ip", "x-forwarded-for"]
        .into_iter()
        .find_map(|h| get(&headers, h).filter(|v| v.as_str().is_some_and(|s| !s.is_empty())))
        .cloned();
    let field = |name| get(&handshake, name).cloned().unwrap_or(Value::Nil);
    map(vec![
        ("address", forwarded.unwrap_or_else(|| field("address"))),
        ("headers", headers),
        ("query", field("query")),
        ("issued", field("issued")),
        ("secure", field("secure")),
        ("time", field("time")),
        ("url", field("url")),
        ("xdomain", field("xdomain")),
    ])
}

/// A `Date` as `JSON.stringify` writes it: `2026-12-03T09:05:00.123Z`.
pub fn date(at: SystemTime) -> Value {
    Value::from(humantime::format_rfc3339_millis(at).to_string())
}

/// An object from its fields.
pub fn map(fields: Vec<(&str, Value)>) -> Value {
    Value::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// A field of an object.
pub fn get<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(headers: Vec<(&str, &str)>) -> Value {
        map(vec![
            (
                "headers",
                map(headers
                    .into_iter()
                    .map(|(k, v)| (k, Value::from(v)))
                    .collect()),
            ),
            (
                "time",
                Value::from("Tue Nov 14 2023 22:13:20 GMT+0000 (Coordinated Universal Time)"),
            ),
            ("address", Value::from("10.0.0.1")),
            ("xdomain", Value::from(false)),
            ("secure", Value::from(false)),
            ("issued", Value::from(1_700_000_000_000u64)),
            ("url", Value::from("/socket.io/?EIO=4&transport=polling")),
            ("query", map(vec![("EIO", Value::from("4"))])),
            ("auth", map(vec![("token", Value::from("secret"))])),
        ])
    }

    #[test]
    fn remote_sockets_take_client_and_transport_from_admin_data() {
        let data = with_admin(
            map(vec![("name", Value::from("Ada"))]),
            admin_marker("abcdefabcdef", "websocket"),
        );
        let v = remote(
            "/",
            SocketDescription {
                id: "s1".into(),
                handshake: handshake(vec![("x-forwarded-for", "192.0.2.7")]),
                rooms: vec!["s1".into(), "lobby".into()],
                data,
            },
        );
        assert_eq!(get(&v, "clientId"), Some(&Value::from("abcdefabcdef")));
        assert_eq!(get(&v, "transport"), Some(&Value::from("websocket")));
        assert_eq!(
            get(&v, "data"),
            Some(&map(vec![("name", Value::from("Ada"))]))
        );
        let h = get(&v, "handshake").cloned().unwrap_or(Value::Nil);
        assert_eq!(get(&h, "address"), Some(&Value::from("192.0.2.7")));
        assert_eq!(get(&h, "auth"), None, "auth may hold secrets");
        assert_eq!(
            get(&v, "rooms"),
            Some(&Value::Array(vec![Value::from("s1"), Value::from("lobby")]))
        );
    }

    #[test]
    fn sockets_without_admin_data_leave_client_and_transport_out() {
        let v = remote(
            "/",
            SocketDescription {
                id: "s1".into(),
                handshake: handshake(vec![]),
                rooms: vec![],
                data: Value::Nil,
            },
        );
        assert_eq!(get(&v, "clientId"), None);
        let h = get(&v, "handshake").cloned().unwrap_or(Value::Nil);
        assert_eq!(get(&h, "address"), Some(&Value::from("10.0.0.1")));
    }

    #[test]
    fn dates_are_iso_strings() {
        let Value::String(s) =
            date(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123))
        else {
            panic!("not a string")
        };
        assert_eq!(s.as_str(), Some("2023-11-14T22:13:20.123Z"));
    }
}
