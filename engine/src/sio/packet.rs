//! socket.io packets, independent of the parser that puts them on the wire.
//!
//! Binary data is held inside [`Value`] as [`Value::Binary`] wherever it sits in the arguments; the default parser
//! turns it into placeholders and attachments (`BINARY_EVENT`/`BINARY_ACK`) when encoding and back when decoding,
//! so the rest of the engine never sees placeholders.

use rmpv::Value;

/// What a packet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// `0`: connect to a namespace (client: optional auth object; server: `{sid, pid?}`).
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2` (or `5` with attachments): `[event, ...args]`.
    Event,
    /// `3` (or `6` with attachments): `[...args]` answering the packet `id`.
    Ack,
    /// `4`: a refused connect, `{message, data?}`.
    ConnectError,
}

/// A socket.io packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet kind.
    pub kind: PacketKind,
    /// The namespace (`/` when the packet names none).
    pub nsp: String,
    /// The acknowledgement id (events that want an ack, and acks).
    pub id: Option<u64>,
    /// The payload: an array for events and acks, an object (or nothing) for connects, an object for connect
    /// errors, nothing for disconnects.
    pub data: Option<Value>,
}

impl Packet {
    /// An EVENT packet `[event, ...args]`.
    pub fn event(nsp: impl Into<String>, event: impl Into<String>, args: Vec<Value>) -> Self {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::from(event.into()));
        data.extend(args);
        Self {
            kind: PacketKind::Event,
            nsp: nsp.into(),
            id: None,
            data: Some(Value::Array(data)),
        }
    }

    /// The event name of an EVENT packet whose first argument is a string.
    pub fn event_name(&self) -> Option<&str> {
        match (&self.kind, &self.data) {
            (PacketKind::Event, Some(Value::Array(items))) => items.first().and_then(Value::as_str),
            _ => None,
        }
    }
}
