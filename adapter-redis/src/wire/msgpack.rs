//! MessagePack in the dialect of notepack.io 3, the codec of the Node adapter and emitter.
//!
//! The encoder writes what notepack.io writes for the same JavaScript value: integers in their smallest form,
//! `str8` for 32..=255 byte strings, `bin` for binary, map entries in their order. (notepack.io writes every
//! non-integer number as float64; a [`Value::F32`] is written as float32 so that values read from other encoders
//! survive a round trip.)
//!
//! The decoder reads any valid MessagePack, but bounds what it accepts: nesting up to [`MAX_DEPTH`], declared
//! lengths never larger than the bytes left (so a forged length cannot allocate), no trailing bytes.

use rmpv::Value;

use super::{MAX_DEPTH, WireError};

/// Decodes one complete MessagePack value; bytes after it are an error, as in notepack.io.
pub fn decode(input: &[u8]) -> Result<Value, WireError> {
    if input.is_empty() {
        return Err(WireError::Empty);
    }
    let mut reader = Reader { buf: input, pos: 0 };
    let value = reader.value(0)?;
    let rest = input.len() - reader.pos;
    if rest != 0 {
        return Err(WireError::TrailingBytes(rest));
    }
    Ok(value)
}

/// Encodes a value as notepack.io would.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, &mut out);
    out
}

/// Appends the encoding of `value` to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
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
                encode_into(item, out);
            }
        }
        Value::Map(entries) => {
            write_collection_len(entries.len(), 0x80, [0xde, 0xdf], out);
            for (k, v) in entries {
                encode_into(k, out);
                encode_into(v, out);
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
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, at: usize) -> Result<&'a [u8], WireError> {
        if n > self.remaining() {
            return Err(WireError::Truncated { offset: at });
        }
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, at: usize) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, at)?);
        Ok(out)
    }

    fn len_u8(&mut self, at: usize) -> Result<usize, WireError> {
        Ok(usize::from(self.array::<1>(at)?[0]))
    }

    fn len_u16(&mut self, at: usize) -> Result<usize, WireError> {
        Ok(usize::from(u16::from_be_bytes(self.array(at)?)))
    }

    fn len_u32(&mut self, at: usize) -> Result<usize, WireError> {
        usize::try_from(u32::from_be_bytes(self.array(at)?))
            .map_err(|_| WireError::Truncated { offset: at })
    }

    fn value(&mut self, depth: usize) -> Result<Value, WireError> {
        let at = self.pos;
        let marker = self.array::<1>(at)?[0];
        Ok(match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => self.map(usize::from(marker & 0x0f), depth, at)?,
            0x90..=0x9f => self.seq(usize::from(marker & 0x0f), depth, at)?,
            0xa0..=0xbf => self.string(usize::from(marker & 0x1f), at)?,
            0xc0 => Value::Nil,
            0xc1 => return Err(WireError::InvalidMarker { marker, offset: at }),
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
        })
    }

    fn string(&mut self, len: usize, at: usize) -> Result<Value, WireError> {
        let bytes = self.take(len, at)?;
        let s = std::str::from_utf8(bytes).map_err(|_| WireError::InvalidUtf8 { offset: at })?;
        Ok(Value::from(s))
    }

    fn ext(&mut self, len: usize, at: usize) -> Result<Value, WireError> {
        let ty = i8::from_be_bytes(self.array(at)?);
        let data = self.take(len, at)?;
        Ok(Value::Ext(ty, data.to_vec()))
    }

    fn seq(&mut self, len: usize, depth: usize, at: usize) -> Result<Value, WireError> {
        if depth >= MAX_DEPTH {
            return Err(WireError::TooDeep { max: MAX_DEPTH });
        }
        // Every element takes at least one byte: a larger count cannot be genuine.
        if len > self.remaining() {
            return Err(WireError::Truncated { offset: at });
        }
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize, at: usize) -> Result<Value, WireError> {
        if depth >= MAX_DEPTH {
            return Err(WireError::TooDeep { max: MAX_DEPTH });
        }
        // Every entry takes at least two bytes.
        if len > self.remaining() / 2 {
            return Err(WireError::Truncated { offset: at });
        }
        let mut entries = Vec::with_capacity(len);
        for _ in 0..len {
            let key = self.value(depth + 1)?;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
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
        assert!(matches!(decode(&[]), Err(WireError::Empty)));
        assert!(matches!(
            decode(&[0xc1]),
            Err(WireError::InvalidMarker { .. })
        ));
        assert!(matches!(
            decode(&[0x01, 0x02]),
            Err(WireError::TrailingBytes(1))
        ));
        assert!(matches!(
            decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]),
            Err(WireError::Truncated { .. })
        ));
        assert!(matches!(
            decode(&[0xa2, 0xff, 0xfe]),
            Err(WireError::InvalidUtf8 { .. })
        ));
        let deep = vec![0x91; MAX_DEPTH + 1];
        assert!(matches!(decode(&deep), Err(WireError::TooDeep { .. })));
        let mut ok = vec![0x91; MAX_DEPTH - 1];
        ok.push(0xc0);
        assert!(decode(&ok).is_ok());
    }
}
