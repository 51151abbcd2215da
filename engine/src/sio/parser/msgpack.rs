//! `socket.io-msgpack-parser` 3.x: each packet is one MessagePack map `{type, data, nsp, id}` in one binary
//! Engine.IO message, in the notepack.io 2.2 dialect ([`Dialect::Notepack2`]); binary stays inline.
//!
//! Encoding writes the map keys in the order the Node server creates them (the packet object goes to notepack.io
//! as it is): `type, data, id, nsp` for events (`socket.emit`), `id, type, data, nsp` for acks, `type, data,
//! nsp` for CONNECT answers and middleware errors, `type, nsp, data` for the "Invalid namespace" error, `type,
//! nsp` for DISCONNECT. A CONNECT answer without `pid` gets `pid: undefined`, as Node's `{sid, pid}` with
//! recovery off encodes. (A broadcast with acks orders `nsp` before `id`; clients do not care, and this encoder
//! uses one order per kind.)
//!
//! Decoding checks what Node's `checkPacket` checks: an integral `type` in 0..=4, a string `nsp`, the payload
//! per type (without the default parser's event-name check), an integral `id`.

use bytes::Bytes;
use rmpv::Value;

use super::{ParseError, validate_payload};
use crate::sio::packet::{Packet, PacketKind};
use crate::value::msgpack::{Dialect, decode_with, encode_with};

/// Encodes a packet as `socket.io-msgpack-parser` does.
pub fn encode(packet: &Packet) -> Bytes {
    let type_number: u8 = match packet.kind {
        PacketKind::Connect => 0,
        PacketKind::Disconnect => 1,
        PacketKind::Event => 2,
        PacketKind::Ack => 3,
        PacketKind::ConnectError => 4,
    };
    let data = packet.data.as_ref();
    let invalid_namespace = packet.kind == PacketKind::ConnectError
        && matches!(data, Some(Value::Map(entries)) if entries.len() == 1
            && entries[0].0.as_str() == Some("message")
            && entries[0].1.as_str() == Some("Invalid namespace"));
    let id = packet.id.filter(|_| packet.kind != PacketKind::Disconnect);

    let mut out = Vec::with_capacity(32);
    let fields = 2 + usize::from(data.is_some()) + usize::from(id.is_some());
    // At most four fields: a fixmap.
    out.push(0x80 | fields as u8);
    let write_id = |out: &mut Vec<u8>| {
        if let Some(id) = id {
            key("id", out);
            encode_with(&Value::from(id), Dialect::Notepack2, out);
        }
    };
    let write_type = |out: &mut Vec<u8>| {
        key("type", out);
        out.push(type_number);
    };
    let write_nsp = |out: &mut Vec<u8>| {
        key("nsp", out);
        encode_with(&Value::from(packet.nsp.as_str()), Dialect::Notepack2, out);
    };
    let write_data = |out: &mut Vec<u8>| {
        if let Some(data) = data {
            key("data", out);
            write_data(packet.kind, data, out);
        }
    };
    match packet.kind {
        PacketKind::Ack => {
            write_id(&mut out);
            write_type(&mut out);
            write_data(&mut out);
            write_nsp(&mut out);
        }
        PacketKind::ConnectError if invalid_namespace => {
            write_type(&mut out);
            write_nsp(&mut out);
            write_data(&mut out);
        }
        _ => {
            write_type(&mut out);
            write_data(&mut out);
            write_id(&mut out);
            write_nsp(&mut out);
        }
    }
    Bytes::from(out)
}

/// A fixstr key.
fn key(name: &str, out: &mut Vec<u8>) {
    // Field names are short literals.
    out.push(0xa0 | name.len() as u8);
    out.extend_from_slice(name.as_bytes());
}

fn write_data(kind: PacketKind, data: &Value, out: &mut Vec<u8>) {
    match (kind, data) {
        (PacketKind::Connect, Value::Map(entries))
            if entries.iter().any(|(k, _)| k.as_str() == Some("sid"))
                && !entries.iter().any(|(k, _)| k.as_str() == Some("pid")) =>
        {
            // Node's `{sid, pid: undefined}`: `pid` is written as notepack.io 2's `undefined` (fixext 1, type 0).
            let len = entries.len() + 1;
            if len < 16 {
                out.push(0x80 | len as u8);
            } else {
                out.push(0xde);
                out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
            }
            for (k, v) in entries {
                encode_with(k, Dialect::Notepack2, out);
                encode_with(v, Dialect::Notepack2, out);
            }
            key("pid", out);
            out.extend_from_slice(&[0xd4, 0x00, 0x00]);
        }
        _ => encode_with(data, Dialect::Notepack2, out),
    }
}

/// Decodes one binary message into a packet, refusing what Node's `checkPacket` refuses.
pub fn decode(data: &[u8]) -> Result<Packet, ParseError> {
    let Value::Map(entries) = decode_with(data, Dialect::Notepack2)? else {
        return Err(ParseError::UnknownType);
    };
    let (mut kind, mut nsp, mut payload, mut id) = (None, None, None, None);
    // JavaScript keeps the last of duplicate keys.
    for (k, v) in entries {
        match k.as_str() {
            Some("type") => kind = Some(v),
            Some("nsp") => nsp = Some(v),
            Some("data") => payload = Some(v),
            Some("id") => id = Some(v),
            _ => {}
        }
    }
    let kind = match kind.as_ref().and_then(integral) {
        Some(0.0) => PacketKind::Connect,
        Some(1.0) => PacketKind::Disconnect,
        Some(2.0) => PacketKind::Event,
        Some(3.0) => PacketKind::Ack,
        Some(4.0) => PacketKind::ConnectError,
        _ => return Err(ParseError::UnknownType),
    };
    let nsp = match nsp {
        Some(Value::String(s)) => s.into_str().ok_or(ParseError::InvalidNamespace)?,
        _ => return Err(ParseError::InvalidNamespace),
    };
    validate_payload(kind, payload.as_ref(), false)?;
    let id = match id {
        None => None,
        Some(Value::Integer(i)) => Some(i.as_u64().ok_or(ParseError::InvalidId)?),
        Some(v) => match integral(&v) {
            // Integral and within u64: the cast is exact.
            Some(f) if (0.0..18_446_744_073_709_551_616.0).contains(&f) => Some(f as u64),
            _ => return Err(ParseError::InvalidId),
        },
    };
    Ok(Packet {
        kind,
        nsp,
        id,
        data: payload,
    })
}

/// The value of a number that `Number.isInteger` accepts.
fn integral(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Integer(i) => i.as_f64()?,
        Value::F32(f) => f64::from(*f),
        Value::F64(f) => *f,
        _ => return None,
    };
    (f.is_finite() && f.fract() == 0.0).then_some(f)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_validates() {
        let p = Packet {
            kind: PacketKind::Event,
            nsp: "/".into(),
            id: Some(3),
            data: Some(Value::Array(vec![
                Value::from("e"),
                Value::Binary(vec![1, 2]),
            ])),
        };
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        // {type: 2.0, nsp: "/", data: []}: an integral float type and an empty event are valid for this parser.
        let mut bytes = vec![0x83, 0xa4];
        bytes.extend_from_slice(b"type");
        bytes.push(0xcb);
        bytes.extend_from_slice(&2.0f64.to_be_bytes());
        bytes.extend_from_slice(&[
            0xa3, b'n', b's', b'p', 0xa1, b'/', 0xa4, b'd', b'a', b't', b'a', 0x90,
        ]);
        assert_eq!(decode(&bytes).unwrap().kind, PacketKind::Event);
        assert!(matches!(decode(&[0x01]), Err(ParseError::UnknownType)));
        assert!(matches!(decode(&[0xc1]), Err(ParseError::Msgpack(_))));
    }

    #[test]
    fn connect_answer_carries_undefined_pid() {
        let p = Packet {
            kind: PacketKind::Connect,
            nsp: "/".into(),
            id: None,
            data: Some(Value::Map(vec![(Value::from("sid"), Value::from("x"))])),
        };
        let bytes = encode(&p);
        assert!(
            bytes
                .windows(6)
                .any(|w| w == [0xa3, b'p', b'i', b'd', 0xd4, 0x00])
        );
        // Reading it back drops the undefined entry.
        assert_eq!(decode(&bytes).unwrap(), p);
    }
}
