//! MessagePack in the dialects of notepack.io, the codec of Node's Redis adapter (notepack.io 3) and of
//! `socket.io-msgpack-parser` 3 (notepack.io 2.2).
//!
//! The encoder writes what notepack.io writes for the same JavaScript value: integers in their smallest form,
//! `str8` for 32..=255 byte strings, `bin` for binary, map entries in their order. (notepack.io writes every
//! non-integer number as float64; in the notepack.io 3 dialect a [`Value::F32`] is written as float32 so that
//! values read from other encoders survive a round trip.) The two versions differ in a few types, see [`Dialect`].
//!
//! The decoder reads any valid MessagePack, but bounds what it accepts: nesting up to [`MAX_DEPTH`], declared
//! lengths never larger than the bytes left (so a forged length cannot allocate), no trailing bytes.

use rmpv::Value;

use super::MAX_DEPTH;
use super::json::{Wtf8Piece, wtf8_pieces};
use super::timestamp::{TIMESTAMP_EXT_TYPE, Timestamp};

/// Which notepack.io a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// notepack.io 3 (`@socket.io/redis-adapter`, `@socket.io/redis-emitter`): a `Date` is the timestamp
    /// extension (type -1); strings must be UTF-8.
    Notepack3,
    /// notepack.io 2.2 (`socket.io-msgpack-parser` 3): a `Date` is `fixext 8` of type 0 holding the
    /// milliseconds as a big-endian int64, `undefined` is `fixext 1` of type 0, an `ArrayBuffer` is `ext` of type
    /// 0; every number is a JavaScript double (integral ones written as integers, others as float64); strings are
    /// decoded as Node's `buffer.toString('utf8')` does, invalid sequences becoming U+FFFD. Decoding turns a date
    /// into the timestamp extension, an `ArrayBuffer` into binary, `undefined` into nil in arrays and into an
    /// absent entry in maps, so the rest of the engine sees one value model.
    Notepack2,
}

/// Why bytes are not a MessagePack value this crate accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgpackError {
    /// The input is empty.
    #[error("empty MessagePack input")]
    Empty,
    /// The data ends before the value does.
    #[error("truncated MessagePack: value at byte {offset} needs more bytes than remain")]
    Truncated {
        /// Byte offset of the value that could not be read completely.
        offset: usize,
    },
    /// A byte that is not a MessagePack marker (0xc1).
    #[error("invalid MessagePack marker 0x{marker:02x} at byte {offset}")]
    InvalidMarker {
        /// The offending byte.
        marker: u8,
        /// Its offset.
        offset: usize,
    },
    /// Bytes left over after the top-level value (notepack.io rejects these too).
    #[error("{0} trailing bytes after the MessagePack value")]
    TrailingBytes(usize),
    /// A string that is not UTF-8 ([`Dialect::Notepack3`] only).
    #[error("MessagePack string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the string value.
        offset: usize,
    },
    /// Arrays and maps nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// Decodes one complete MessagePack value in the notepack.io 3 dialect; bytes after it are an error, as in
/// notepack.io.
pub fn decode(input: &[u8]) -> Result<Value, MsgpackError> {
    decode_with(input, Dialect::Notepack3)
}

/// Decodes one complete MessagePack value in the given dialect (a top-level `undefined` reads as nil).
pub fn decode_with(input: &[u8], dialect: Dialect) -> Result<Value, MsgpackError> {
    if input.is_empty() {
        return Err(MsgpackError::Empty);
    }
    let mut reader = Reader {
        buf: input,
        pos: 0,
        dialect,
    };
    let value = reader.value(0)?.unwrap_or(Value::Nil);
    let rest = input.len() - reader.pos;
    if rest != 0 {
        return Err(MsgpackError::TrailingBytes(rest));
    }
    Ok(value)
}

/// Encodes a value as notepack.io 3 would.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    encode_with(value, Dialect::Notepack3, out);
}

/// Appends the encoding of `value` in the given dialect to `out`.
pub fn encode_with(value: &Value, dialect: Dialect, out: &mut Vec<u8>) {
    if dialect == Dialect::Notepack2 {
        match value {
            Value::F32(f) => return write_js_number(f64::from(*f), out),
            Value::F64(f) => return write_js_number(*f, out),
            Value::String(s) if s.as_str().is_none() => {
                // Node's `Buffer.write` turns each lone surrogate into U+FFFD.
                let mut text = String::with_capacity(s.as_bytes().len());
                for piece in wtf8_pieces(s.as_bytes()) {
                    match piece {
                        Wtf8Piece::Str(part) => text.push_str(part),
                        Wtf8Piece::Surrogate(_) | Wtf8Piece::Invalid => text.push('\u{fffd}'),
                    }
                }
                write_len(text.len(), 0xa0, 32, [0xd9, 0xda, 0xdb], out);
                out.extend_from_slice(text.as_bytes());
                return;
            }
            Value::Ext(TIMESTAMP_EXT_TYPE, data) => {
                // `new Date(NaN).getTime()` writes as zero bytes.
                let ms = Timestamp::from_ext_data(data)
                    .ok()
                    .and_then(|t| t.js_time_value())
                    .unwrap_or(0);
                out.extend_from_slice(&[0xd7, 0x00]);
                out.extend_from_slice(&ms.to_be_bytes());
                return;
            }
            Value::Ext(ty, data) => {
                // Node holds other extensions as `[type, Buffer]`.
                out.push(0x92);
                write_int(i64::from(*ty), out);
                write_len(data.len(), 0, 0, [0xc4, 0xc5, 0xc6], out);
                out.extend_from_slice(data);
                return;
            }
            _ => {}
        }
    }
    match value {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => {
            if let Some(u) = i.as_u64() {
                write_uint(u, out);
            } else if let Some(n) = i.as_i64() {
                write_int(n, out);
            }
        }
        Value::F32(f) => {
            out.push(0xca);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::F64(f) => {
            out.push(0xcb);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::String(s) => {
            let bytes = s.as_bytes();
            write_len(bytes.len(), 0xa0, 32, [0xd9, 0xda, 0xdb], out);
            out.extend_from_slice(bytes);
        }
        Value::Binary(b) => {
            write_len(b.len(), 0, 0, [0xc4, 0xc5, 0xc6], out);
            out.extend_from_slice(b);
        }
        Value::Array(items) => {
            write_collection_len(items.len(), 0x90, [0xdc, 0xdd], out);
            for item in items {
                encode_with(item, dialect, out);
            }
        }
        Value::Map(entries) => {
            write_collection_len(entries.len(), 0x80, [0xde, 0xdf], out);
            for (k, v) in entries {
                encode_with(k, dialect, out);
                encode_with(v, dialect, out);
            }
        }
        Value::Ext(ty, data) => {
            let fixed = match data.len() {
                1 => Some(0xd4),
                2 => Some(0xd5),
                4 => Some(0xd6),
                8 => Some(0xd7),
                16 => Some(0xd8),
                _ => None,
            };
            match fixed {
                Some(marker) => out.push(marker),
                None => write_len(data.len(), 0, 0, [0xc7, 0xc8, 0xc9], out),
            }
            out.push(ty.to_be_bytes()[0]);
            out.extend_from_slice(data);
        }
    }
}

/// A JavaScript number as notepack.io 2.2 writes it: integral finite numbers as integers (beyond 2^32 as
/// uint64/int64 built from two 32-bit halves exactly as its `>> 0` / `>>> 0` arithmetic does, which wraps for
/// magnitudes of 2^64 and more), everything else as float64.
fn write_js_number(f: f64, out: &mut Vec<u8>) {
    const TWO_32: f64 = 4_294_967_296.0;
    if !f.is_finite() || f.floor() != f {
        out.push(0xcb);
        out.extend_from_slice(&f.to_be_bytes());
    } else if (0.0..TWO_32).contains(&f) {
        // Integral and in range: the cast is exact.
        write_uint(f as u64, out);
    } else if (-2_147_483_648.0..0.0).contains(&f) {
        write_int(f as i64, out);
    } else {
        let (marker, hi) = if f >= 0.0 {
            (0xcf, to_uint32((f / TWO_32).trunc()))
        } else {
            (0xd3, to_uint32((f / TWO_32).floor()))
        };
        out.push(marker);
        out.extend_from_slice(&hi.to_be_bytes());
        out.extend_from_slice(&to_uint32(f).to_be_bytes());
    }
}

/// ECMAScript `ToUint32` of an integral finite number (also the bits of `ToInt32`).
fn to_uint32(f: f64) -> u32 {
    // rem_euclid of an integer by 2^32 is an exact integer in 0..2^32.
    f.rem_euclid(4_294_967_296.0) as u32
}

fn write_uint(u: u64, out: &mut Vec<u8>) {
    if u < 0x80 {
        out.push(u as u8);
    } else if let Ok(v) = u8::try_from(u) {
        out.extend_from_slice(&[0xcc, v]);
    } else if let Ok(v) = u16::try_from(u) {
        out.push(0xcd);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(u) {
        out.push(0xce);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&u.to_be_bytes());
    }
}

fn write_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        write_uint(n.unsigned_abs(), out);
    } else if n >= -32 {
        out.push(n.to_be_bytes()[7]);
    } else if let Ok(v) = i8::try_from(n) {
        out.push(0xd0);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i16::try_from(n) {
        out.push(0xd1);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(n) {
        out.push(0xd2);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes a str/bin/ext length: a fix form below `fix_limit` (when `fix_limit > 0`), then 8, 16, 32 bits.
/// Lengths above `u32::MAX` cannot be represented; they are clamped (no real message comes near 4 GiB).
fn write_len(len: usize, fix_base: u8, fix_limit: usize, markers: [u8; 3], out: &mut Vec<u8>) {
    if len < fix_limit {
        out.push(fix_base | len as u8);
    } else if let Ok(v) = u8::try_from(len) {
        out.extend_from_slice(&[markers[0], v]);
    } else if let Ok(v) = u16::try_from(len) {
        out.push(markers[1]);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(markers[2]);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

fn write_collection_len(len: usize, fix_base: u8, markers: [u8; 2], out: &mut Vec<u8>) {
    if len < 16 {
        out.push(fix_base | len as u8);
    } else if let Ok(v) = u16::try_from(len) {
        out.push(markers[0]);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(markers[1]);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    dialect: Dialect,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, at: usize) -> Result<&'a [u8], MsgpackError> {
        if n > self.remaining() {
            return Err(MsgpackError::Truncated { offset: at });
        }
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, at: usize) -> Result<[u8; N], MsgpackError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, at)?);
        Ok(out)
    }

    fn len_u8(&mut self, at: usize) -> Result<usize, MsgpackError> {
        Ok(usize::from(self.array::<1>(at)?[0]))
    }

    fn len_u16(&mut self, at: usize) -> Result<usize, MsgpackError> {
        Ok(usize::from(u16::from_be_bytes(self.array(at)?)))
    }

    fn len_u32(&mut self, at: usize) -> Result<usize, MsgpackError> {
        usize::try_from(u32::from_be_bytes(self.array(at)?))
            .map_err(|_| MsgpackError::Truncated { offset: at })
    }

    /// The next value; `None` for notepack.io 2's `undefined`.
    fn value(&mut self, depth: usize) -> Result<Option<Value>, MsgpackError> {
        let at = self.pos;
        let marker = self.array::<1>(at)?[0];
        if self.dialect == Dialect::Notepack2 {
            match (marker, self.buf.get(self.pos).copied()) {
                (0xd4, Some(0)) => {
                    self.take(2, at)?;
                    return Ok(None);
                }
                (0xd7, Some(0)) => {
                    self.take(1, at)?;
                    let ms = i64::from_be_bytes(self.array(at)?);
                    return Ok(Some(Timestamp::from_unix_millis(ms).to_value()));
                }
                _ => {}
            }
        }
        Ok(Some(match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth, at)?,
            0x90..=0x9f => self.seq(usize::from(marker & 0x0f), depth, at)?,
            0xa0..=0xbf => self.string(usize::from(marker & 0x1f), at)?,
            0xc0 => Value::Nil,
            0xc1 => return Err(MsgpackError::InvalidMarker { marker, offset: at }),
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 => {
                let len = self.len_u8(at)?;
                Value::Binary(self.take(len, at)?.to_vec())
            }
            0xc5 => {
                let len = self.len_u16(at)?;
                Value::Binary(self.take(len, at)?.to_vec())
            }
            0xc6 => {
                let len = self.len_u32(at)?;
                Value::Binary(self.take(len, at)?.to_vec())
            }
            0xc7 => {
                let len = self.len_u8(at)?;
                self.ext(len, at)?
            }
            0xc8 => {
                let len = self.len_u16(at)?;
                self.ext(len, at)?
            }
            0xc9 => {
                let len = self.len_u32(at)?;
                self.ext(len, at)?
            }
            0xca => Value::F32(f32::from_be_bytes(self.array(at)?)),
            0xcb => Value::F64(f64::from_be_bytes(self.array(at)?)),
            0xcc => Value::from(u8::from_be_bytes(self.array(at)?)),
            0xcd => Value::from(u16::from_be_bytes(self.array(at)?)),
            0xce => Value::from(u32::from_be_bytes(self.array(at)?)),
            0xcf => Value::from(u64::from_be_bytes(self.array(at)?)),
            0xd0 => Value::from(i8::from_be_bytes(self.array(at)?)),
            0xd1 => Value::from(i16::from_be_bytes(self.array(at)?)),
            0xd2 => Value::from(i32::from_be_bytes(self.array(at)?)),
            0xd3 => Value::from(i64::from_be_bytes(self.array(at)?)),
            0xd4 => self.ext(1, at)?,
            0xd5 => self.ext(2, at)?,
            0xd6 => self.ext(4, at)?,
            0xd7 => self.ext(8, at)?,
            0xd8 => self.ext(16, at)?,
            0xd9 => {
                let len = self.len_u8(at)?;
                self.string(len, at)?
            }
            0xda => {
                let len = self.len_u16(at)?;
                self.string(len, at)?
            }
            0xdb => {
                let len = self.len_u32(at)?;
                self.string(len, at)?
            }
            0xdc => {
                let len = self.len_u16(at)?;
                self.seq(len, depth, at)?
            }
            0xdd => {
                let len = self.len_u32(at)?;
                self.seq(len, depth, at)?
            }
            0xde => {
                let len = self.len_u16(at)?;
                self.map(len, depth, at)?
            }
            0xdf => {
                let len = self.len_u32(at)?;
                self.map(len, depth, at)?
            }
            0xe0..=0xff => Value::from(i8::from_be_bytes([marker])),
        }))
    }

    fn string(&mut self, len: usize, at: usize) -> Result<Value, MsgpackError> {
        let bytes = self.take(len, at)?;
        if self.dialect == Dialect::Notepack2 {
            // Node's UTF-8 decoder replaces each maximal invalid subpart by U+FFFD, as Rust's does.
            return Ok(Value::from(String::from_utf8_lossy(bytes).into_owned()));
        }
        let s = std::str::from_utf8(bytes).map_err(|_| MsgpackError::InvalidUtf8 { offset: at })?;
        Ok(Value::from(s))
    }

    fn ext(&mut self, len: usize, at: usize) -> Result<Value, MsgpackError> {
        let ty = i8::from_be_bytes(self.array(at)?);
        let data = self.take(len, at)?;
        if ty == 0
            && self.dialect == Dialect::Notepack2
            && self.buf[at] >= 0xc7
            && self.buf[at] <= 0xc9
        {
            // notepack.io 2 reads `ext` (not `fixext`) of type 0 as an `ArrayBuffer`.
            return Ok(Value::Binary(data.to_vec()));
        }
        Ok(Value::Ext(ty, data.to_vec()))
    }

    fn seq(&mut self, len: usize, depth: usize, at: usize) -> Result<Value, MsgpackError> {
        if depth >= MAX_DEPTH {
            return Err(MsgpackError::TooDeep { max: MAX_DEPTH });
        }
        // Every element takes at least one byte: a larger count cannot be genuine.
        if len > self.remaining() {
            return Err(MsgpackError::Truncated { offset: at });
        }
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(self.value(depth + 1)?.unwrap_or(Value::Nil));
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize, at: usize) -> Result<Value, MsgpackError> {
        if depth >= MAX_DEPTH {
            return Err(MsgpackError::TooDeep { max: MAX_DEPTH });
        }
        // Every entry takes at least two bytes.
        if len > self.remaining() / 2 {
            return Err(MsgpackError::Truncated { offset: at });
        }
        let mut entries = Vec::with_capacity(len);
        for _ in 0..len {
            let key = self.value(depth + 1)?.unwrap_or(Value::Nil);
            // An entry whose value is `undefined` is absent, as in `JSON.stringify`.
            if let Some(value) = self.value(depth + 1)? {
                entries.push((key, value));
            }
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn integers_take_their_smallest_form() {
        let cases: [(i64, &[u8]); 12] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0xcc, 0x80]),
            (1000, &[0xcd, 0x03, 0xe8]),
            (70_000, &[0xce, 0x00, 0x01, 0x11, 0x70]),
            (1 << 40, &[0xcf, 0, 0, 1, 0, 0, 0, 0, 0]),
            (-1, &[0xff]),
            (-32, &[0xe0]),
            (-33, &[0xd0, 0xdf]),
            (-200, &[0xd1, 0xff, 0x38]),
            (-40_000, &[0xd2, 0xff, 0xff, 0x63, 0xc0]),
            (-(1 << 40), &[0xd3, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0]),
        ];
        for (n, bytes) in cases {
            assert_eq!(encode(&Value::from(n)), bytes, "{n}");
            assert_eq!(decode(bytes).unwrap(), Value::from(n));
        }
    }

    #[test]
    fn strings_use_str8_from_32_bytes() {
        let s = "x".repeat(32);
        let bytes = encode(&Value::from(s.as_str()));
        assert_eq!(&bytes[..2], &[0xd9, 32]);
        assert_eq!(decode(&bytes).unwrap(), Value::from(s.as_str()));
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(matches!(decode(&[]), Err(MsgpackError::Empty)));
        assert!(matches!(
            decode(&[0xc1]),
            Err(MsgpackError::InvalidMarker { .. })
        ));
        assert!(matches!(
            decode(&[0x01, 0x02]),
            Err(MsgpackError::TrailingBytes(1))
        ));
        assert!(matches!(
            decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(MsgpackError::Truncated { .. })
        ));
        assert!(matches!(
            decode(&[0xa2, 0xff, 0xfe]),
            Err(MsgpackError::InvalidUtf8 { .. })
        ));
        let deep = vec![0x91; MAX_DEPTH + 1];
        assert!(matches!(decode(&deep), Err(MsgpackError::TooDeep { .. })));
        let mut ok = vec![0x91; MAX_DEPTH - 1];
        ok.push(0xc0);
        assert!(decode(&ok).is_ok());
    }
}
