//! Conversions between socketioxide's parser-encoded packets and options and the wire values
//! Node writes, so that one packet crosses Redis in Node's format whatever parser the server uses.
//!
//! The server's own parser does the work in both directions: packet data is read into
//! `[event, ...args]` as [`rmpv::Value`]s (binary attachments become `Value::Binary`), and
//! written back from them (binary becomes attachments again, MessagePack `bin` with the msgpack
//! parser). Dates from Node become the ISO strings `JSON.stringify` gives.

use std::borrow::Cow;
use std::fmt;

use rmpv::Value;
use serde::de::{SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use socketioxide_core::Sid;
use socketioxide_core::adapter::{BroadcastFlags, BroadcastOptions};
use socketioxide_core::packet::{Packet, PacketData};
use socketioxide_core::parser::{Parse, ParserError};
use socketioxide_parser_common::CommonParser;
use socketioxide_parser_msgpack::MsgPackParser;

use crate::wire;

/// Every argument of an event, read or written as a tuple so that the parser expands it into
/// separate arguments instead of treating it as one array.
pub struct Args(pub Vec<Value>);

impl Serialize for Args {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut t = serializer.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Args {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ArgsVisitor;
        impl<'de> Visitor<'de> for ArgsVisitor {
            type Value = Args;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Args, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(v) = seq.next_element::<Value>()? {
                    out.push(v);
                }
                Ok(Args(out))
            }
        }
        deserializer.deserialize_tuple(usize::MAX, ArgsVisitor)
    }
}

/// The server's parser, detected once, as a `Copy + Send` value that tasks can own.
#[derive(Debug, Clone, Copy)]
pub enum WireParser {
    /// The default JSON parser.
    Common(CommonParser),
    /// The MessagePack parser.
    MsgPack(MsgPackParser),
}

impl WireParser {
    /// Detects which parser `parser` is from what it encodes.
    pub fn detect(parser: impl Parse) -> Self {
        match parser.encode_default(&()) {
            Ok(socketioxide_core::Value::Bytes(_)) => WireParser::MsgPack(MsgPackParser),
            _ => WireParser::Common(CommonParser),
        }
    }

    /// See [`packet_to_wire`].
    pub fn packet_to_wire(self, packet: &Packet) -> Result<Vec<Value>, ConvertError> {
        match self {
            WireParser::Common(p) => packet_to_wire(p, packet),
            WireParser::MsgPack(p) => packet_to_wire(p, packet),
        }
    }

    /// See [`wire_to_packet`].
    pub fn wire_to_packet(self, nsp: &str, data: Vec<Value>) -> Result<Packet, ConvertError> {
        match self {
            WireParser::Common(p) => wire_to_packet(p, nsp, data),
            WireParser::MsgPack(p) => wire_to_packet(p, nsp, data),
        }
    }

    /// See [`ack_to_wire`].
    pub fn ack_to_wire(self, value: &socketioxide_core::Value) -> Option<Value> {
        match self {
            WireParser::Common(p) => ack_to_wire(p, value),
            WireParser::MsgPack(p) => ack_to_wire(p, value),
        }
    }

    /// See [`wire_to_ack`].
    pub fn wire_to_ack(
        self,
        value: Option<Value>,
    ) -> Result<socketioxide_core::Value, ConvertError> {
        match self {
            WireParser::Common(p) => wire_to_ack(p, value),
            WireParser::MsgPack(p) => wire_to_ack(p, value),
        }
    }
}

/// A packet that cannot be relayed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// Not an event packet.
    #[error("only event packets can be relayed")]
    NotAnEvent,
    /// The event data could not be read or written by the parser.
    #[error("parser: {0}")]
    Parser(#[from] ParserError),
    /// `[event, ...args]` did not start with an event name.
    #[error("the packet data has no event name")]
    NoEventName,
}

/// Reads `[event, ...args]` out of a socketioxide event packet.
pub fn packet_to_wire(parser: impl Parse, packet: &Packet) -> Result<Vec<Value>, ConvertError> {
    match &packet.inner {
        PacketData::Event(v, _) | PacketData::BinaryEvent(v, _) => {
            let mut v = v.clone();
            Ok(parser.decode_value::<Args>(&mut v, false)?.0)
        }
        _ => Err(ConvertError::NotAnEvent),
    }
}

/// Builds a socketioxide event packet for namespace `nsp` from `[event, ...args]`.
pub fn wire_to_packet(
    parser: impl Parse,
    nsp: &str,
    mut data: Vec<Value>,
) -> Result<Packet, ConvertError> {
    data.iter_mut().for_each(wire::value::dates_to_iso_strings);
    if data.is_empty() {
        return Err(ConvertError::NoEventName);
    }
    let event = match data.remove(0) {
        Value::String(s) => s.into_str().ok_or(ConvertError::NoEventName)?,
        _ => return Err(ConvertError::NoEventName),
    };
    let value = parser.encode_value(&Args(data), Some(&event))?;
    Ok(Packet::event(nsp.to_owned(), value))
}

/// Reads the first argument of an acknowledgement (Node relays only that one).
pub fn ack_to_wire(parser: impl Parse, value: &socketioxide_core::Value) -> Option<Value> {
    let mut v = value.clone();
    parser
        .decode_value::<Args>(&mut v, false)
        .ok()
        .and_then(|a| a.0.into_iter().next())
}

/// Encodes a relayed acknowledgement argument for the local caller.
pub fn wire_to_ack(
    parser: impl Parse,
    value: Option<Value>,
) -> Result<socketioxide_core::Value, ConvertError> {
    let mut args = Args(value.into_iter().collect());
    args.0
        .iter_mut()
        .for_each(wire::value::dates_to_iso_strings);
    Ok(parser.encode_value(&args, None)?)
}

/// The wire form of socketioxide options: the sender of a `broadcast` joins `except`, a single
/// target socket becomes its own-id room. `None` when the options target nobody.
pub fn opts_to_wire(opts: &BroadcastOptions) -> Option<wire::BroadcastOptions> {
    let mut rooms: Vec<String> = opts.rooms.iter().map(|r| r.to_string()).collect();
    let mut except: Vec<String> = opts.except.iter().map(|r| r.to_string()).collect();
    let is_broadcast = opts.has_flag(BroadcastFlags::Broadcast);
    match opts.sid {
        Some(sid) if is_broadcast => except.push(sid.to_string()),
        Some(sid) if rooms.is_empty() => rooms.push(sid.to_string()),
        None if rooms.is_empty() && !is_broadcast => return None,
        _ => {}
    }
    let mut flags = wire::BroadcastFlags::new();
    if opts.has_flag(BroadcastFlags::Volatile) {
        flags = flags.with_volatile(true);
    }
    Some(wire::BroadcastOptions::with_flags(rooms, except, flags))
}

/// The socketioxide form of wire options: no rooms means every socket.
pub fn opts_from_wire(opts: &wire::BroadcastOptions) -> BroadcastOptions {
    let mut out = BroadcastOptions::default();
    out.rooms = opts.rooms.iter().map(|r| Cow::Owned(r.clone())).collect();
    out.except = opts.except.iter().map(|r| Cow::Owned(r.clone())).collect();
    if out.rooms.is_empty() {
        out.add_flag(BroadcastFlags::Broadcast);
    }
    if opts.flags().volatile() {
        out.add_flag(BroadcastFlags::Volatile);
    }
    out
}

/// Options that target exactly one local socket.
pub fn single(sid: Sid) -> BroadcastOptions {
    BroadcastOptions::new(sid)
}

/// A socketioxide socket id from a peer's string, when it is one (Node ids are not).
pub fn parse_sid(id: &str) -> Option<Sid> {
    id.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_and_single_targets() {
        let sid = Sid::new();
        let mut bcast = BroadcastOptions::new(sid);
        bcast.add_flag(BroadcastFlags::Broadcast);
        bcast.rooms.push("r1".into());
        let w = opts_to_wire(&bcast).unwrap();
        assert_eq!(
            (w.rooms, w.except),
            (vec!["r1".to_string()], vec![sid.to_string()])
        );

        let w = opts_to_wire(&single(sid)).unwrap();
        assert_eq!(w.rooms, vec![sid.to_string()]);
        assert!(opts_to_wire(&BroadcastOptions::default()).is_none());
    }

    #[test]
    fn wire_options_without_rooms_mean_everyone() {
        let o = opts_from_wire(&wire::BroadcastOptions::new(vec![], vec!["x".into()]));
        assert!(o.has_flag(BroadcastFlags::Broadcast));
        assert_eq!(o.except.len(), 1);
        let flags = wire::BroadcastFlags::new().with_volatile(true);
        let o = opts_from_wire(&wire::BroadcastOptions::with_flags(
            vec!["r".into()],
            vec![],
            flags,
        ));
        assert!(o.has_flag(BroadcastFlags::Volatile) && !o.has_flag(BroadcastFlags::Broadcast));
    }
}
