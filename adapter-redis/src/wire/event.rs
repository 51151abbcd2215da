//! Event packets between the wire ([`Packet`](super::Packet): `{type, data, nsp}`) and the engine
//! ([`engine::sio::packet::Packet`]), as `TryFrom` impls written once.
//!
//! Binary data needs no conversion: the engine holds it inline as [`Value::Binary`], exactly where the wire
//! carries it. Dates from Node (MessagePack timestamps) become the ISO strings `JSON.stringify` gives, as Node's
//! own servers hand them to their clients' parsers.

use engine::sio::packet::{Packet, PacketKind};
use engine::sio::parser::validate_payload;
use engine::value::dates_to_iso_strings;
use rmpv::Value;

use crate::wire;

/// The socket.io packet types that carry an event (`EVENT`, and `BINARY_EVENT` from older emitters).
const EVENT_TYPES: [u8; 2] = [2, 5];

/// A packet that cannot cross Redis.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EventError {
    /// Not an event, or an event without `[event, ...args]` data.
    #[error("only event packets can be relayed (type {0})")]
    NotAnEvent(u8),
    /// `[event, ...args]` that clients would refuse (no event name, or a reserved one).
    #[error("the event data has no valid event name")]
    InvalidEvent,
}

/// An engine EVENT packet as the wire carries it: type 2 (binary stays inline), `[event, ...args]`.
impl TryFrom<&Packet> for wire::Packet {
    type Error = EventError;

    fn try_from(packet: &Packet) -> Result<Self, EventError> {
        match (packet.kind, &packet.data) {
            (PacketKind::Event, Some(Value::Array(data))) => {
                Ok(wire::Packet::event(packet.nsp.clone(), data.clone()))
            }
            _ => Err(EventError::NotAnEvent(packet_type(packet.kind))),
        }
    }
}

/// A wire packet (type 2 or 5) as an engine EVENT packet; a missing `nsp` is `/`, as in Node.
impl TryFrom<wire::Packet> for Packet {
    type Error = EventError;

    fn try_from(packet: wire::Packet) -> Result<Self, EventError> {
        if !EVENT_TYPES.contains(&packet.packet_type) {
            return Err(EventError::NotAnEvent(packet.packet_type));
        }
        let nsp = packet.namespace().to_owned();
        let mut data = Value::Array(packet.data);
        // What a client's parser would refuse (and close its connection for) is not delivered.
        validate_payload(PacketKind::Event, Some(&data), true)
            .map_err(|_| EventError::InvalidEvent)?;
        dates_to_iso_strings(&mut data);
        Ok(Packet {
            kind: PacketKind::Event,
            nsp,
            id: None,
            data: Some(data),
        })
    }
}

fn packet_type(kind: PacketKind) -> u8 {
    match kind {
        PacketKind::Connect => 0,
        PacketKind::Disconnect => 1,
        PacketKind::Event => 2,
        PacketKind::Ack => 3,
        PacketKind::ConnectError => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_packets_round_trip_with_inline_binary() {
        let packet = Packet::event("/chat", "news", vec![Value::Binary(vec![1, 2])]);
        let wire = wire::Packet::try_from(&packet).unwrap();
        assert_eq!(wire.packet_type, 2);
        assert_eq!(wire.event_name(), Some("news"));
        assert_eq!(Packet::try_from(wire).unwrap(), packet);
    }

    #[test]
    fn binary_event_type_is_an_event_and_others_are_refused() {
        let mut wire = wire::Packet::event("/", vec![Value::from("e")]);
        wire.packet_type = 5;
        wire.nsp = None;
        let packet = Packet::try_from(wire.clone()).unwrap();
        assert_eq!((packet.kind, packet.nsp.as_str()), (PacketKind::Event, "/"));
        wire.packet_type = 3;
        assert_eq!(Packet::try_from(wire), Err(EventError::NotAnEvent(3)));
        for data in [vec![], vec![Value::Nil], vec![Value::from("disconnect")]] {
            let empty = wire::Packet::event("/", data);
            assert_eq!(Packet::try_from(empty), Err(EventError::InvalidEvent));
        }
        let ack = Packet {
            kind: PacketKind::Ack,
            nsp: "/".into(),
            id: Some(1),
            data: Some(Value::Array(vec![])),
        };
        assert_eq!(wire::Packet::try_from(&ack), Err(EventError::NotAnEvent(3)));
    }
}
