//! socket.io vocabulary shared by the classic and the sharded protocol: the packet inside a broadcast, the
//! broadcast options and flags, and the socket details that answer a `fetchSockets()`.
//!
//! Each type converts to and from a [`Value`] with the keys in the order Node writes them; the message types of
//! [`classic`](super::classic) and [`sharded`](super::sharded) then pick MessagePack or JSON.

use rmpv::Value;

use super::fields::{Fields, object, strings};
use super::{MAX_ROOMS, WireError};

/// The uid `@socket.io/redis-emitter` (and the emitters of other languages) send as their node id.
pub const EMITTER_UID: &str = "emitter";

/// The socket.io packet carried in a broadcast: the unencoded object `{type, data, nsp}`.
///
/// `type` is 2 (EVENT) even when `data` holds binary: each node's parser turns it into a binary event for its own
/// clients. The classic protocol always writes `nsp`; the sharded one never does.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The socket.io packet type (2, EVENT, in everything Node sends).
    pub packet_type: u8,
    /// `[event, ...args]`.
    pub data: Vec<Value>,
    /// The namespace, when the packet names one.
    pub nsp: Option<String>,
}

impl Packet {
    /// The socket.io EVENT packet type.
    pub const EVENT: u8 = 2;

    /// An EVENT packet for `nsp` with `data = [event, ...args]`.
    pub fn event(nsp: impl Into<String>, data: Vec<Value>) -> Self {
        Self {
            packet_type: Self::EVENT,
            data,
            nsp: Some(nsp.into()),
        }
    }

    /// The namespace: a missing `nsp` means `/`, as in Node.
    pub fn namespace(&self) -> &str {
        self.nsp.as_deref().unwrap_or("/")
    }

    /// The event name, when `data` starts with a string.
    pub fn event_name(&self) -> Option<&str> {
        self.data.first().and_then(Value::as_str)
    }

    /// The packet as a value: `{type, data, nsp?}`.
    pub fn to_value(&self) -> Value {
        object([
            ("type", Some(Value::from(self.packet_type))),
            ("data", Some(Value::Array(self.data.clone()))),
            ("nsp", self.nsp.as_deref().map(Value::from)),
        ])
    }

    /// Reads a packet from a decoded value. `type` defaults to 2 when absent; `data` must be an array.
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        let mut f = Fields::new(value, "packet")?;
        let packet_type = match f.opt_u64("type")? {
            None => Self::EVENT,
            Some(t) => u8::try_from(t).map_err(|_| WireError::WrongType {
                field: "packet.type",
                expected: "a packet type",
            })?,
        };
        let data = f.array("data").map_err(|e| match e {
            WireError::MissingField(_) => WireError::MissingField("packet.data"),
            _ => WireError::WrongType {
                field: "packet.data",
                expected: "an array",
            },
        })?;
        let nsp = f.opt_string("nsp")?;
        Ok(Self {
            packet_type,
            data,
            nsp,
        })
    }
}

/// Broadcast flags, an ordered set of named values as JavaScript builds them (`io.volatile.compress(false)` gives
/// `{volatile: true, compress: false}`, in call order).
///
/// The order is kept because Node writes the flags object as it is built; decoding and re-encoding gives the same
/// bytes. The flags seen on the wire are `volatile`, `compress`, `timeout` and `expectSingleResponse`; any other is
/// kept as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastFlags {
    entries: Vec<(String, Value)>,
}

impl BroadcastFlags {
    /// No flags: `{}`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no flag is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The flags in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The value of a flag.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Sets a flag: in place when it is already set (as `Object.assign` does), appended otherwise.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        let name = name.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
        self
    }

    /// Removes a flag, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let pos = self.entries.iter().position(|(k, _)| k == name)?;
        Some(self.entries.remove(pos).1)
    }

    /// `volatile`: the packet may be dropped for clients that are not ready.
    pub fn volatile(&self) -> bool {
        self.truthy("volatile")
    }

    /// `compress`, when set.
    pub fn compress(&self) -> Option<bool> {
        self.get("compress").and_then(Value::as_bool)
    }

    /// `local`: Node never publishes a broadcast with this flag.
    pub fn local(&self) -> bool {
        self.truthy("local")
    }

    /// `timeout` in milliseconds (set for a broadcast with acknowledgement).
    pub fn timeout(&self) -> Option<u64> {
        self.get("timeout")
            .and_then(|v| super::fields::as_u64(v, "flags.timeout").ok())
    }

    /// `expectSingleResponse`: set by `RemoteSocket.emit`, which targets one socket.
    pub fn expect_single_response(&self) -> bool {
        self.truthy("expectSingleResponse")
    }

    /// Builder form of `set("volatile", value)`.
    pub fn with_volatile(mut self, value: bool) -> Self {
        self.set("volatile", value);
        self
    }

    /// Builder form of `set("compress", value)`.
    pub fn with_compress(mut self, value: bool) -> Self {
        self.set("compress", value);
        self
    }

    /// Builder form of `set("timeout", ms)`.
    pub fn with_timeout(mut self, ms: u64) -> Self {
        self.set("timeout", ms);
        self
    }

    /// Builder form of `set("expectSingleResponse", value)`.
    pub fn with_expect_single_response(mut self, value: bool) -> Self {
        self.set("expectSingleResponse", value);
        self
    }

    fn truthy(&self, name: &str) -> bool {
        match self.get(name) {
            None | Some(Value::Nil) | Some(Value::Boolean(false)) => false,
            Some(Value::Integer(i)) => i.as_u64() != Some(0),
            Some(Value::F64(f)) => *f != 0.0 && !f.is_nan(),
            Some(Value::String(s)) => !s.as_bytes().is_empty(),
            Some(_) => true,
        }
    }

    /// The flags as a value (a map in order).
    pub fn to_value(&self) -> Value {
        Value::Map(
            self.entries
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), v.clone()))
                .collect(),
        )
    }

    /// Reads flags from a decoded value (a map with string keys; nil means none).
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        let entries = match value {
            Value::Nil => Vec::new(),
            Value::Map(entries) => {
                super::fields::check_len("opts.flags", entries.len(), MAX_ROOMS)?;
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((super::fields::into_string(k, "opts.flags")?, v)))
                    .collect::<Result<_, WireError>>()?
            }
            _ => {
                return Err(WireError::WrongType {
                    field: "opts.flags",
                    expected: "an object",
                });
            }
        };
        Ok(Self { entries })
    }
}

/// Which sockets an operation targets: `{rooms, except, flags}`.
///
/// `flags` is `None` when the object has no `flags` key: the classic protocol writes it for broadcasts only, not in
/// the options of join, leave, disconnect and fetch requests; the sharded protocol always writes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastOptions {
    /// Target rooms; empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Rooms whose sockets are excluded.
    pub except: Vec<String>,
    /// Broadcast flags, when the object carries them.
    pub flags: Option<BroadcastFlags>,
}

impl BroadcastOptions {
    /// Options without flags (`{rooms, except}`), as the classic join/leave/disconnect/fetch requests carry.
    pub fn new(rooms: Vec<String>, except: Vec<String>) -> Self {
        Self {
            rooms,
            except,
            flags: None,
        }
    }

    /// Options with flags (`{rooms, except, flags}`), as broadcasts carry.
    pub fn with_flags(rooms: Vec<String>, except: Vec<String>, flags: BroadcastFlags) -> Self {
        Self {
            rooms,
            except,
            flags: Some(flags),
        }
    }

    /// The flags, or no flags.
    pub fn flags(&self) -> BroadcastFlags {
        self.flags.clone().unwrap_or_default()
    }

    /// The options as a value, in Node's adapter order `{rooms, except, flags}`.
    pub fn to_value(&self) -> Value {
        object([
            ("rooms", Some(strings(&self.rooms))),
            ("except", Some(strings(&self.except))),
            ("flags", self.flags.as_ref().map(BroadcastFlags::to_value)),
        ])
    }

    /// The options as a value in the emitter's order `{rooms, flags, except}`.
    pub fn to_emitter_value(&self) -> Value {
        object([
            ("rooms", Some(strings(&self.rooms))),
            ("flags", self.flags.as_ref().map(BroadcastFlags::to_value)),
            ("except", Some(strings(&self.except))),
        ])
    }

    /// Reads options from a decoded value; missing `rooms` and `except` mean empty lists, nil means defaults.
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        if value.is_nil() {
            return Ok(Self::default());
        }
        let mut f = Fields::new(value, "opts")?;
        let rooms = f.rooms("rooms")?;
        let except = f.rooms("except")?;
        let flags = f
            .take_present("flags")
            .map(BroadcastFlags::from_value)
            .transpose()?;
        Ok(Self {
            rooms,
            except,
            flags,
        })
    }

    /// Reads the optional `opts` field of `f`: absent means default options.
    pub(crate) fn take_from(f: &mut Fields) -> Result<Self, WireError> {
        f.take_present("opts")
            .map_or_else(|| Ok(Self::default()), Self::from_value)
    }
}

/// The handshake details of a fetched socket, as Node sends them (`socket.handshake` without `sessionStore`).
#[derive(Debug, Clone, PartialEq)]
pub struct Handshake {
    /// Request headers: an object of lowercase names to a string (or an array of strings for `set-cookie`).
    pub headers: Value,
    /// Connection time, as JavaScript `Date.toString()` writes it.
    pub time: String,
    /// Client address.
    pub address: String,
    /// Whether the request was cross-domain.
    pub xdomain: bool,
    /// Whether the connection is secure (TLS).
    pub secure: bool,
    /// Connection time in milliseconds since the epoch.
    pub issued: u64,
    /// Request URL (path and query).
    pub url: String,
    /// Parsed query: an object of names to a string (or an array of strings).
    pub query: Value,
    /// The `auth` object the client sent.
    pub auth: Value,
}

impl Default for Handshake {
    fn default() -> Self {
        Self {
            headers: Value::Map(Vec::new()),
            time: String::new(),
            address: String::new(),
            xdomain: false,
            secure: false,
            issued: 0,
            url: String::new(),
            query: Value::Map(Vec::new()),
            auth: Value::Map(Vec::new()),
        }
    }
}

impl Handshake {
    /// The value of header `name` (lowercase), when it is a single string.
    pub fn header(&self, name: &str) -> Option<&str> {
        map_get(&self.headers, name).and_then(Value::as_str)
    }

    /// The handshake as a value, in Node's key order.
    pub fn to_value(&self) -> Value {
        object([
            ("headers", Some(self.headers.clone())),
            ("time", Some(Value::from(self.time.as_str()))),
            ("address", Some(Value::from(self.address.as_str()))),
            ("xdomain", Some(Value::from(self.xdomain))),
            ("secure", Some(Value::from(self.secure))),
            ("issued", Some(Value::from(self.issued))),
            ("url", Some(Value::from(self.url.as_str()))),
            ("query", Some(self.query.clone())),
            ("auth", Some(self.auth.clone())),
        ])
    }

    /// Reads a handshake from a decoded value; absent fields take their default.
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        let mut f = Fields::new(value, "handshake")?;
        let d = Self::default();
        Ok(Self {
            headers: f.take_present("headers").unwrap_or(d.headers),
            time: f.opt_string("time")?.unwrap_or_default(),
            address: f.opt_string("address")?.unwrap_or_default(),
            xdomain: f.opt_bool("xdomain")?.unwrap_or_default(),
            secure: f.opt_bool("secure")?.unwrap_or_default(),
            issued: f.opt_u64("issued")?.unwrap_or_default(),
            url: f.opt_string("url")?.unwrap_or_default(),
            query: f.take_present("query").unwrap_or(d.query),
            auth: f.take_present("auth").unwrap_or(d.auth),
        })
    }
}

fn map_get<'a>(map: &'a Value, key: &str) -> Option<&'a Value> {
    match map {
        Value::Map(entries) => entries
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// One socket in a `fetchSockets()` answer: `{id, handshake, rooms, data}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSocketData {
    /// Socket id.
    pub id: String,
    /// Handshake details.
    pub handshake: Handshake,
    /// The rooms the socket is in (its own id included).
    pub rooms: Vec<String>,
    /// `socket.data`; `None` when it is `undefined` (the key is then absent).
    pub data: Option<Value>,
}

impl RemoteSocketData {
    /// The socket as a value, in Node's key order.
    pub fn to_value(&self) -> Value {
        object([
            ("id", Some(Value::from(self.id.as_str()))),
            ("handshake", Some(self.handshake.to_value())),
            ("rooms", Some(strings(&self.rooms))),
            ("data", self.data.clone()),
        ])
    }

    /// Reads a fetched socket from a decoded value.
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        let mut f = Fields::new(value, "sockets[]")?;
        Ok(Self {
            id: f.string("id")?,
            handshake: f
                .take_present("handshake")
                .map(Handshake::from_value)
                .transpose()?
                .unwrap_or_default(),
            rooms: f.string_list("rooms", super::MAX_LIST_LEN)?,
            data: f.take("data"),
        })
    }
}
