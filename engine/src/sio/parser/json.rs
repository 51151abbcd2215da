//! socket.io's default parser (`socket.io-parser` 4.x): `<type>[<attachments>-][<nsp>,][<id>][<json>]`.
//!
//! The namespace is written only when it is not `/`. Binary values anywhere in the data of an EVENT or ACK make
//! it a BINARY_EVENT (`5`) or BINARY_ACK (`6`): each is replaced by `{"_placeholder":true,"num":n}`, numbered
//! depth-first in data order as Node's `deconstructPacket` does, and sent as its own binary message after the
//! text. The decoder reads the header with the quirks of Node's hand-written scanner (a type given as a
//! whitespace character or nothing is CONNECT, the attachment count is read with `Number()`, the id is the run
//! of digits and whitespace after the namespace) so that it accepts and refuses what Node does.

use std::fmt::Write as _;

use bytes::Bytes;
use rmpv::Value;

use super::{ParseError, validate_payload};
use crate::sio::packet::{Packet, PacketKind};
use crate::value::json::{self as value_json, write_key, write_value};

/// A packet encoded by the default parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The packet text, without the Engine.IO message type `4`.
    pub text: String,
    /// The attachments, each sent as one binary message after the text.
    pub attachments: Vec<Bytes>,
}

/// Encodes a packet exactly as Node's `Encoder.encode` does.
pub fn encode(packet: &Packet) -> Encoded {
    let binary_capable = matches!(packet.kind, PacketKind::Event | PacketKind::Ack);
    let count = match (&packet.data, binary_capable) {
        (Some(data), true) => count_binary(data),
        _ => 0,
    };
    let mut text = String::new();
    let digit = match (packet.kind, count > 0) {
        (PacketKind::Connect, _) => '0',
        (PacketKind::Disconnect, _) => '1',
        (PacketKind::Event, false) => '2',
        (PacketKind::Ack, false) => '3',
        (PacketKind::ConnectError, _) => '4',
        (PacketKind::Event, true) => '5',
        (PacketKind::Ack, true) => '6',
    };
    text.push(digit);
    if count > 0 {
        let _ = write!(text, "{count}-");
    }
    if !packet.nsp.is_empty() && packet.nsp != "/" {
        text.push_str(&packet.nsp);
        text.push(',');
    }
    if let Some(id) = packet.id {
        let _ = write!(text, "{id}");
    }
    let mut attachments = Vec::with_capacity(count);
    if let Some(data) = &packet.data {
        if count > 0 {
            write_deconstructed(data, &mut text, &mut attachments);
        } else {
            write_value(data, &mut text);
        }
    }
    Encoded { text, attachments }
}

/// How many attachments `deconstructPacket` would take out of `value`.
fn count_binary(value: &Value) -> usize {
    match value {
        Value::Binary(_) => 1,
        // notepack.io holds an extension other than a date as `[type, Buffer]`.
        Value::Ext(ty, _) => usize::from(*ty != crate::value::TIMESTAMP_EXT_TYPE),
        Value::Array(items) => items.iter().map(count_binary).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| count_binary(v)).sum(),
        _ => 0,
    }
}

/// Writes `value` as JSON with every binary value replaced by its placeholder, collecting the attachments.
fn write_deconstructed(value: &Value, out: &mut String, attachments: &mut Vec<Bytes>) {
    match value {
        Value::Binary(bytes) => write_placeholder(Bytes::copy_from_slice(bytes), out, attachments),
        Value::Ext(ty, data) if *ty != crate::value::TIMESTAMP_EXT_TYPE => {
            let _ = write!(out, "[{ty},");
            write_placeholder(Bytes::copy_from_slice(data), out, attachments);
            out.push(']');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_deconstructed(item, out, attachments);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key(k, out);
                out.push(':');
                write_deconstructed(v, out, attachments);
            }
            out.push('}');
        }
        other => write_value(other, out),
    }
}

fn write_placeholder(bytes: Bytes, out: &mut String, attachments: &mut Vec<Bytes>) {
    let _ = write!(
        out,
        "{{\"_placeholder\":true,\"num\":{}}}",
        attachments.len()
    );
    attachments.push(bytes);
}

/// The decoding state of one connection for the default parser.
#[derive(Debug)]
pub struct Decoder {
    max_attachments: usize,
    /// A binary packet waiting for its attachments (boxed: the idle state is two words).
    pending: Option<Box<Pending>>,
}

#[derive(Debug)]
struct Pending {
    packet: Packet,
    expected: usize,
    buffers: Vec<Bytes>,
}

impl Decoder {
    /// A decoder accepting binary packets of up to `max_attachments` attachments (Node's default is 10).
    pub fn new(max_attachments: usize) -> Self {
        Self {
            max_attachments,
            pending: None,
        }
    }

    /// Decodes a text message; `None` when it is a binary packet whose attachments follow.
    ///
    /// After an error the decoder is reset (the connection is closed anyway).
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, ParseError> {
        if self.pending.take().is_some() {
            return Err(ParseError::UnexpectedText);
        }
        let (packet, attachments) = decode_string(text, self.max_attachments)?;
        match attachments {
            0 => Ok(Some(packet)),
            expected => {
                self.pending = Some(Box::new(Pending {
                    packet,
                    expected,
                    buffers: Vec::with_capacity(expected),
                }));
                Ok(None)
            }
        }
    }

    /// Decodes a binary message: the next attachment of the pending packet; the packet once it is complete.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, ParseError> {
        let Some(pending) = self.pending.as_mut() else {
            return Err(ParseError::UnexpectedBinary);
        };
        pending.buffers.push(data);
        if pending.buffers.len() < pending.expected {
            return Ok(None);
        }
        let Some(pending) = self.pending.take() else {
            return Err(ParseError::UnexpectedBinary);
        };
        let Pending {
            mut packet,
            buffers,
            ..
        } = *pending;
        if let Some(data) = packet.data.as_mut() {
            reconstruct(data, &buffers)?;
        }
        Ok(Some(packet))
    }
}

/// Replaces every placeholder object (`_placeholder` is `true`) by its attachment, as `reconstructPacket` does.
fn reconstruct(value: &mut Value, buffers: &[Bytes]) -> Result<(), ParseError> {
    match value {
        Value::Array(items) => items.iter_mut().try_for_each(|v| reconstruct(v, buffers)),
        Value::Map(entries) => {
            // JavaScript keeps the last of duplicate keys.
            let field = |name: &str| {
                entries
                    .iter()
                    .rev()
                    .find(|(k, _)| k.as_str() == Some(name))
                    .map(|(_, v)| v)
            };
            if field("_placeholder") == Some(&Value::Boolean(true)) {
                let index = field("num")
                    .and_then(placeholder_index)
                    .and_then(|n| buffers.get(n))
                    .ok_or(ParseError::IllegalPlaceholder)?;
                *value = Value::Binary(index.to_vec());
                Ok(())
            } else {
                entries
                    .iter_mut()
                    .try_for_each(|(_, v)| reconstruct(v, buffers))
            }
        }
        _ => Ok(()),
    }
}

fn placeholder_index(num: &Value) -> Option<usize> {
    match num {
        Value::Integer(i) => i.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f < 4_294_967_296.0 => Some(*f as usize),
        _ => None,
    }
}

/// Reads a packet string as Node's `Decoder.decodeString` does; returns the packet (kind already EVENT/ACK for
/// binary ones) and the number of attachments it waits for.
fn decode_string(text: &str, max_attachments: usize) -> Result<(Packet, usize), ParseError> {
    // The type: `Number(str.charAt(0))`, so nothing or a whitespace character is 0.
    let mut chars = text.chars();
    let type_digit = match chars.next() {
        None => 0,
        Some(c @ '0'..='6') => u32::from(c) - u32::from('0'),
        Some(c) if is_js_whitespace(c) => 0,
        Some(_) => return Err(ParseError::UnknownType),
    };
    let mut rest = chars.as_str();
    let kind = match type_digit {
        0 => PacketKind::Connect,
        1 => PacketKind::Disconnect,
        2 | 5 => PacketKind::Event,
        3 | 6 => PacketKind::Ack,
        _ => PacketKind::ConnectError,
    };

    let mut attachments = 0;
    if type_digit >= 5 {
        let dash = rest.find('-').ok_or(ParseError::IllegalAttachments)?;
        let n = js_string_to_number(&rest[..dash]).ok_or(ParseError::IllegalAttachments)?;
        if n.fract() != 0.0 || n < 1.0 {
            return Err(ParseError::IllegalAttachments);
        }
        if n > max_attachments as f64 {
            return Err(ParseError::TooManyAttachments {
                count: n as u64,
                max: max_attachments,
            });
        }
        attachments = n as usize;
        rest = &rest[dash + 1..];
    }

    let nsp = if rest.starts_with('/') {
        match rest.find(',') {
            Some(comma) => {
                let nsp = &rest[..comma];
                rest = &rest[comma + 1..];
                nsp
            }
            None => std::mem::take(&mut rest),
        }
    } else {
        "/"
    };

    // The id: the run of characters `c` with `Number(c) == c` (digits and whitespace), read with `Number()`.
    let run = rest
        .find(|c: char| !(c.is_ascii_digit() || is_js_whitespace(c)))
        .unwrap_or(rest.len());
    let id = if run > 0 {
        let digits = rest[..run].trim_matches(is_js_whitespace);
        let id = if digits.is_empty() {
            0
        } else if digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse::<u64>().map_err(|_| ParseError::InvalidId)?
        } else {
            return Err(ParseError::InvalidId);
        };
        rest = &rest[run..];
        Some(id)
    } else {
        None
    };

    let data = if rest.is_empty() {
        None
    } else {
        let data = value_json::decode(rest.as_bytes())?;
        validate_payload(kind, Some(&data), true)?;
        Some(data)
    };
    Ok((
        Packet {
            kind,
            nsp: nsp.to_owned(),
            id,
            data,
        },
        attachments,
    ))
}

/// ECMAScript's `StrWhiteSpaceChar`: what `Number()` trims.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// ECMAScript `Number(string)`; `None` for `NaN`.
fn js_string_to_number(s: &str) -> Option<f64> {
    let s = s.trim_matches(is_js_whitespace);
    if s.is_empty() {
        return Some(0.0);
    }
    let radix = |prefix: [&str; 2], radix: u32| {
        prefix.iter().find_map(|p| s.strip_prefix(p)).map(|digits| {
            if digits.is_empty() {
                return None;
            }
            digits.chars().try_fold(0.0f64, |acc, c| {
                c.to_digit(radix)
                    .map(|d| acc * f64::from(radix) + f64::from(d))
            })
        })
    };
    for (prefix, r) in [(["0x", "0X"], 16), (["0o", "0O"], 8), (["0b", "0B"], 2)] {
        if let Some(n) = radix(prefix, r) {
            return n;
        }
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned == "Infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // StrUnsignedDecimalLiteral: digits [. digits] [exp] | . digits [exp], at least one digit in the mantissa.
    let bytes = unsigned.as_bytes();
    let mut i = 0;
    let int_digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = bytes.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = bytes.get(i) {
            i += 1;
        }
        let exp_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != bytes.len() {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn decode_one(text: &str) -> Result<Option<Packet>, ParseError> {
        Decoder::new(10).decode_text(text)
    }

    #[test]
    fn js_number_parsing_matches_number() {
        for (s, n) in [
            ("", Some(0.0)),
            (" 1 ", Some(1.0)),
            ("0x1f", Some(31.0)),
            ("0b11", Some(3.0)),
            ("1e1", Some(10.0)),
            ("+2", Some(2.0)),
            (".5", Some(0.5)),
            ("1.", Some(1.0)),
            ("Infinity", Some(f64::INFINITY)),
            ("-0x1", None),
            ("1 2", None),
            ("inf", None),
            ("1e", None),
            (".", None),
            ("0x", None),
            ("NaN", None),
        ] {
            assert_eq!(js_string_to_number(s), n, "{s:?}");
        }
    }

    #[test]
    fn header_quirks_follow_node() {
        // Nothing or a whitespace type is CONNECT.
        assert_eq!(decode_one("").unwrap().unwrap().kind, PacketKind::Connect);
        assert_eq!(
            decode_one(" {}").unwrap().unwrap().kind,
            PacketKind::Connect
        );
        // A whitespace run where the id goes is id 0.
        let p = decode_one("2 [\"a\"]").unwrap().unwrap();
        assert_eq!(p.id, Some(0));
        // The namespace runs to the first comma or the end.
        let p = decode_one("2/a[\"x\"]").unwrap().unwrap();
        assert_eq!((p.nsp.as_str(), p.data), ("/a[\"x\"]", None));
        assert!(matches!(
            decode_one("2 1 2[\"a\"]"),
            Err(ParseError::InvalidId)
        ));
        assert!(matches!(decode_one("7"), Err(ParseError::UnknownType)));
        assert!(matches!(
            decode_one("421[\"message\",{}]]]xyz"),
            Err(ParseError::Json(_))
        ));
    }

    #[test]
    fn binary_packets_wait_for_their_attachments() {
        let mut d = Decoder::new(10);
        assert!(matches!(
            d.decode_binary(Bytes::from_static(b"x")),
            Err(ParseError::UnexpectedBinary)
        ));
        let text = r#"52-/a,7["e",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]"#;
        assert_eq!(d.decode_text(text).unwrap(), None);
        assert_eq!(d.decode_binary(Bytes::from_static(b"A")).unwrap(), None);
        let p = d.decode_binary(Bytes::from_static(b"B")).unwrap().unwrap();
        let expected = Packet {
            kind: PacketKind::Event,
            nsp: "/a".into(),
            id: Some(7),
            data: Some(Value::Array(vec![
                Value::from("e"),
                Value::Binary(b"B".to_vec()),
                Value::Array(vec![Value::Binary(b"A".to_vec())]),
            ])),
        };
        assert_eq!(p, expected);
        let encoded = encode(&expected);
        assert_eq!(
            encoded.text,
            r#"52-/a,7["e",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]"#
        );
        assert_eq!(
            encoded.attachments,
            vec![Bytes::from_static(b"B"), Bytes::from_static(b"A")]
        );

        assert_eq!(
            d.decode_text(r#"51-["e",{"_placeholder":true,"num":1}]"#)
                .unwrap(),
            None
        );
        assert!(matches!(
            d.decode_binary(Bytes::new()),
            Err(ParseError::IllegalPlaceholder)
        ));
        assert_eq!(d.decode_text(r#"51-["e"]"#).unwrap(), None);
        assert!(matches!(
            d.decode_text("2[\"e\"]"),
            Err(ParseError::UnexpectedText)
        ));
        assert!(matches!(
            d.decode_text("511-[\"e\"]"),
            Err(ParseError::TooManyAttachments { count: 11, max: 10 })
        ));
        assert!(matches!(
            d.decode_text("50-[\"e\"]"),
            Err(ParseError::IllegalAttachments)
        ));
    }
}
