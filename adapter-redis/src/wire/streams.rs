//! The protocol of `@socket.io/redis-streams-adapter` 0.3 and `@socket.io/redis-streams-emitter` 0.1.
//!
//! Persistent operations (broadcasts without acknowledgement, `socketsJoin`, `socketsLeave`,
//! `disconnectSockets`; everything an emitter sends) are stream entries ([`StreamEntry`]), appended with
//! `XADD <stream> MAXLEN ~ <maxLen> * uid <uid> nsp <nsp> type <type> [data <data>]` and read by every server with
//! `XREAD BLOCK 5000 COUNT 100 STREAMS <stream> <last id>`; an entry's id is the connection state recovery offset
//! of the event it carries. `data` is the `data` object of the sharded envelope ([`ShardedBody`]) as JSON, or, when
//! the type may carry binary and does, its MessagePack as base64. Short requests (fetch sockets, server-side emit,
//! broadcasts with acknowledgement) and their answers are whole sharded envelopes in MessagePack on pub/sub
//! (`{prefix}#{nsp}#`, answers on `{prefix}#{nsp}#{requester uid}#`).
//!
//! A disconnected socket's session is a Redis string ([`SessionRecord`]): base64 MessagePack of
//! `{sid, pid, rooms, data}` under `sio:session:<pid>`, expiring after `maxDisconnectionDuration`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rmpv::Value;

use super::fields::{Fields, object, strings};
use super::sharded::{MessageType, ShardedBody, ShardedMessage};
use super::value::has_binary;
use super::{WireError, json, msgpack};

/// Node's default stream name (`streamName`).
pub const DEFAULT_STREAM_NAME: &str = "socket.io";

/// Node's default approximate stream length (`maxLen`).
pub const DEFAULT_MAX_LEN: u64 = 10_000;

/// Node's default session key prefix (`sessionKeyPrefix`).
pub const DEFAULT_SESSION_PREFIX: &str = "sio:session:";

/// Entries read per `XREAD` (`readCount`).
pub const READ_COUNT: u64 = 100;

/// How long one `XREAD` blocks, in milliseconds (`blockTimeInMs`).
pub const BLOCK_MS: u64 = 5_000;

/// Most `XRANGE` calls one session restore makes (Node's limit).
pub const MAX_RESTORE_READS: usize = 100;

/// The uid of the streams emitter's entries.
pub const EMITTER_UID: &str = "emitter";

/// Whether a message goes over pub/sub rather than the stream (Node's `isEphemeral`): a broadcast with
/// acknowledgement, a server-side emit, a fetch-sockets request. Answers always go over pub/sub.
pub fn is_ephemeral(body: &ShardedBody) -> bool {
    match body {
        ShardedBody::Broadcast { request_id, .. } => request_id.is_some(),
        ShardedBody::ServerSideEmit { .. } | ShardedBody::FetchSockets { .. } => true,
        _ => body.message_type().is_response(),
    }
}

/// The stream of namespace `nsp`: `name` with one stream, else `name-<i>` with `i` Node's string hash of the
/// namespace modulo `count` (a JavaScript remainder: negative for a negative hash, as Node computes it).
pub fn stream_name(name: &str, count: u32, nsp: &str) -> String {
    if count <= 1 {
        return name.to_owned();
    }
    let hash = nsp
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    // `count` fits an i32 for any sensible value; a larger one is clamped.
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    format!("{name}-{}", hash % count)
}

/// A stream entry id (`<milliseconds>-<sequence>`), the offset a client presents to recover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl EntryId {
    /// Parses an id in Node's accepted format (`^[0-9]+-[0-9]+$`); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let (ms, seq) = s.split_once('-')?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return None;
        }
        Some(Self {
            ms: ms.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }

    /// The smallest id after this one (Node's `nextOffset`: the sequence plus one), for an exclusive `XRANGE`
    /// start.
    pub fn next(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => Self { ms: self.ms, seq },
            None => Self {
                ms: self.ms.saturating_add(1),
                seq: 0,
            },
        }
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// One stream entry: the envelope of a persistent operation.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    /// The sending server's uid (`emitter` for the emitter).
    pub uid: String,
    /// The namespace.
    pub nsp: String,
    /// Type and data.
    pub body: ShardedBody,
}

impl StreamEntry {
    /// An entry from server `uid` in namespace `nsp`.
    pub fn new(uid: impl Into<String>, nsp: impl Into<String>, body: ShardedBody) -> Self {
        Self {
            uid: uid.into(),
            nsp: nsp.into(),
            body,
        }
    }

    /// The field/value pairs of `XADD`, in Node's order: `uid`, `nsp`, `type`, and `data` unless the type has
    /// none.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let ty = self.body.message_type();
        let mut fields = vec![
            ("uid", self.uid.clone()),
            ("nsp", self.nsp.clone()),
            ("type", ty.as_u8().to_string()),
        ];
        if let Some(data) = self.body.to_value() {
            let text = if ty.may_contain_binary() && has_binary(&data) {
                BASE64.encode(msgpack::encode(&data))
            } else {
                // JSON text is UTF-8 by construction.
                String::from_utf8_lossy(&json::encode(&data)).into_owned()
            };
            fields.push(("data", text));
        }
        fields
    }

    /// Reads an entry's field/value pairs. `Ok(None)` for an entry without `nsp`, which Node skips too. A field
    /// given twice counts with its last value.
    pub fn from_fields<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        fields: &[(K, V)],
    ) -> Result<Option<Self>, WireError> {
        let get = |name: &str| {
            fields
                .iter()
                .rev()
                .find(|(k, _)| k.as_ref() == name.as_bytes())
                .map(|(_, v)| v.as_ref())
        };
        let text = |name: &'static str, bytes: &[u8]| {
            std::str::from_utf8(bytes)
                .map(str::to_owned)
                .map_err(|_| WireError::WrongType {
                    field: name,
                    expected: "UTF-8 text",
                })
        };
        let nsp = match get("nsp") {
            None | Some([]) => return Ok(None),
            Some(n) => text("nsp", n)?,
        };
        let uid = text("uid", get("uid").ok_or(WireError::MissingField("uid"))?)?;
        let ty_text = text("type", get("type").ok_or(WireError::MissingField("type"))?)?;
        let n: u64 = ty_text.trim().parse().map_err(|_| WireError::WrongType {
            field: "type",
            expected: "a decimal message type",
        })?;
        let ty = MessageType::from_u64(n).ok_or(WireError::UnknownType {
            kind: "stream entry",
            value: i64::try_from(n).unwrap_or(-1),
        })?;
        let data = match get("data") {
            None | Some([]) => None,
            Some(d) => Some(decode_data(d)?),
        };
        let body = ShardedBody::from_value(ty, data)?;
        Ok(Some(Self { uid, nsp, body }))
    }

    /// The same operation as a pub/sub envelope.
    pub fn into_message(self) -> ShardedMessage {
        ShardedMessage::new(self.uid, self.nsp, self.body)
    }
}

/// `data` as Node reads it: JSON when it starts with `{`, else base64 MessagePack.
fn decode_data(data: &[u8]) -> Result<Value, WireError> {
    if data.first() == Some(&b'{') {
        return json::decode(data);
    }
    let bytes = BASE64.decode(data).map_err(|_| WireError::WrongType {
        field: "data",
        expected: "JSON or base64 MessagePack",
    })?;
    msgpack::decode(&bytes)
}

/// A persisted session as Node stores it: `{sid, pid, rooms, data}`, MessagePack in base64. This project adds
/// `offset` (the latest offset when the socket connected, for a client that never received one) and `live` (the
/// uid of the server whose socket is still connected, for a session kept current while connected); Node servers
/// ignore both.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// The socket id.
    pub sid: String,
    /// The private session id.
    pub pid: String,
    /// Every room of the socket, its own-id room included.
    pub rooms: Vec<String>,
    /// `socket.data`.
    pub data: Value,
    /// The latest offset when the socket connected (this project only).
    pub connected_offset: Option<String>,
    /// The uid of the server the socket is connected to; `None` once it disconnected (this project only).
    pub live: Option<String>,
}

impl SessionRecord {
    /// The Redis key of session `pid` under `prefix` (Node's `sessionKeyPrefix + pid`).
    pub fn key(prefix: &str, pid: &str) -> String {
        format!("{prefix}{pid}")
    }

    /// The stored value: base64 of the MessagePack map, keys in Node's order.
    pub fn encode(&self) -> String {
        let value = object([
            ("sid", Some(Value::from(self.sid.as_str()))),
            ("pid", Some(Value::from(self.pid.as_str()))),
            ("rooms", Some(strings(&self.rooms))),
            ("data", Some(self.data.clone())),
            ("offset", self.connected_offset.as_deref().map(Value::from)),
            ("live", self.live.as_deref().map(Value::from)),
        ]);
        BASE64.encode(msgpack::encode(&value))
    }

    /// Reads a stored value (Node's or ours).
    pub fn decode(stored: &[u8]) -> Result<Self, WireError> {
        let bytes = BASE64.decode(stored).map_err(|_| WireError::WrongType {
            field: "session",
            expected: "base64 MessagePack",
        })?;
        let mut f = Fields::new(msgpack::decode(&bytes)?, "session")?;
        Ok(Self {
            sid: f.string("sid")?,
            pid: f.string("pid")?,
            rooms: f.rooms("rooms")?,
            data: f.take("data").unwrap_or(Value::Nil),
            connected_offset: f.opt_string("offset")?,
            live: f.opt_string("live")?,
        })
    }
}

/// What a recovering socket of namespace `nsp` in `session_rooms` gets for stream entry `id`: the event's
/// `[event, ...args, id]` when the entry is a broadcast without acknowledgement of that namespace that reached
/// those rooms (Node replays volatile broadcasts too), `None` otherwise.
pub fn missed_event(
    id: &str,
    entry: &StreamEntry,
    nsp: &str,
    session_rooms: &[String],
) -> Option<Vec<Value>> {
    let ShardedBody::Broadcast {
        packet,
        request_id: None,
        opts,
    } = &entry.body
    else {
        return None;
    };
    if entry.nsp != nsp
        || packet.packet_type != 2
        || !should_include(session_rooms, &opts.rooms, &opts.except)
    {
        return None;
    }
    let mut data = packet.data.clone();
    data.push(Value::from(id));
    Some(data)
}

/// Whether a packet sent to `rooms` minus `except` reached a socket in `session_rooms` (Node's
/// `shouldIncludePacket`).
pub fn should_include(session_rooms: &[String], rooms: &[String], except: &[String]) -> bool {
    let included = rooms.is_empty() || session_rooms.iter().any(|r| rooms.contains(r));
    let excluded = session_rooms.iter().any(|r| except.contains(r));
    included && !excluded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BroadcastOptions, Packet};

    #[test]
    fn entry_ids_parse_as_node_checks_them() {
        assert_eq!(
            EntryId::parse("1795300779319-0"),
            Some(EntryId {
                ms: 1795300779319,
                seq: 0
            })
        );
        for bad in [
            "", "1", "-1", "1-", "a-1", "1-1-1", " 1-1", "1-1 ", "+", "$",
        ] {
            assert_eq!(EntryId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            EntryId::parse("5-9").unwrap().next().to_string(),
            "5-10",
            "Node's nextOffset"
        );
        assert!(EntryId::parse("5-10") > EntryId::parse("5-9"));
    }

    #[test]
    fn stream_names_follow_nodes_hash() {
        assert_eq!(stream_name("socket.io", 1, "/chat"), "socket.io");
        // "/".charCodeAt(0) = 47.
        assert_eq!(stream_name("s", 4, "/"), "s-3");
        // A negative hash gives a negative remainder in JavaScript, and so a `--` in the name.
        let h = "/admin-namespace"
            .encode_utf16()
            .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
        assert_eq!(
            stream_name("s", 3, "/admin-namespace"),
            format!("s-{}", h % 3)
        );
    }

    #[test]
    fn binary_data_is_base64_msgpack_and_round_trips() {
        let body = ShardedBody::Broadcast {
            packet: Packet {
                packet_type: 2,
                data: vec![Value::from("bin"), Value::Binary(vec![1, 2, 3])],
                nsp: None,
            },
            request_id: None,
            opts: BroadcastOptions::new(vec!["r".into()], vec![]),
        };
        let entry = StreamEntry::new("u", "/", body);
        let fields = entry.fields();
        assert_eq!(fields[2], ("type", "3".to_owned()));
        assert!(!fields[3].1.starts_with('{'));
        let pairs: Vec<(String, String)> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(StreamEntry::from_fields(&pairs).unwrap(), Some(entry));
    }

    #[test]
    fn entries_without_namespace_are_skipped_and_garbage_is_an_error() {
        let none: [(&str, &str); 1] = [("uid", "x")];
        assert_eq!(StreamEntry::from_fields(&none).unwrap(), None);
        for bad in [
            vec![("nsp", "/"), ("type", "3")],
            vec![("nsp", "/"), ("uid", "u"), ("type", "x")],
            vec![("nsp", "/"), ("uid", "u"), ("type", "99")],
            vec![("nsp", "/"), ("uid", "u"), ("type", "3"), ("data", "!!")],
            vec![("nsp", "/"), ("uid", "u"), ("type", "3"), ("data", "{")],
            vec![("nsp", "/"), ("uid", "u"), ("type", "3")],
        ] {
            assert!(StreamEntry::from_fields(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sessions_round_trip_with_and_without_the_connect_offset_and_owner() {
        let mut s = SessionRecord {
            sid: "s".into(),
            pid: "p".into(),
            rooms: vec!["s".into(), "r".into()],
            data: Value::Map(vec![(Value::from("user"), Value::from("ada"))]),
            connected_offset: None,
            live: None,
        };
        assert_eq!(SessionRecord::decode(s.encode().as_bytes()).unwrap(), s);
        s.connected_offset = Some("1-0".into());
        assert_eq!(SessionRecord::decode(s.encode().as_bytes()).unwrap(), s);
        s.live = Some("uid".into());
        assert_eq!(SessionRecord::decode(s.encode().as_bytes()).unwrap(), s);
        assert!(SessionRecord::decode(b"%%%").is_err());
        assert_eq!(SessionRecord::key("sio:session:", "p"), "sio:session:p");
    }
}
