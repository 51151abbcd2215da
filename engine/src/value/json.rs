//! JSON as Node reads and writes it (`JSON.parse` / `JSON.stringify`), mapped onto [`Value`].
//!
//! Reading follows `JSON.parse`'s grammar (RFC 8259: whitespace is space, tab, LF, CR; nothing may follow the
//! value) with an own small parser rather than `serde_json`, because JavaScript strings may hold lone UTF-16
//! surrogates (`"\ud83d"` is what `JSON.stringify` gives for half an emoji) and Node forwards them; `serde_json`
//! refuses them. Such a string is kept as WTF-8 bytes in [`Value::String`] and written back as the same escape.
//! Object keys keep their order (so a message decodes and re-encodes to the same bytes), and numbers that
//! JavaScript holds as integers (`1`, `1e3`, `1.0`) become [`Value::Integer`], as notepack.io would encode them;
//! an integer literal beyond 2^53 keeps all its digits (where JavaScript would round it to the nearest double;
//! text Node wrote only ever holds the digits of a double, which read back unchanged).
//!
//! Writing follows `JSON.stringify`: numbers as JavaScript prints them (`1e+21`, `1.5e-7`, non-finite ones as
//! `null`), a MessagePack timestamp as its ISO-8601 string (`Date.prototype.toJSON`), binary as Node's
//! `Buffer.prototype.toJSON` object `{"type":"Buffer","data":[...]}`. JSON cannot carry binary: Node switches to
//! MessagePack or attachments when a message holds some, and so do the encoders of this crate.

use std::fmt::Write as _;

use rmpv::{Utf8String, Value};

use super::MAX_DEPTH;
use super::timestamp::timestamp_to_iso;

/// Largest integer a JavaScript number holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Why text is not JSON that `JSON.parse` accepts (or is nested too deep for this crate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// No input at all.
    #[error("empty JSON text")]
    Empty,
    /// A syntax error.
    #[error("invalid JSON at byte {offset}: {what}")]
    Syntax {
        /// Byte offset of the offending input.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// Characters after the value (`JSON.parse` refuses them).
    #[error("unexpected characters after the JSON value at byte {offset}")]
    Trailing {
        /// Byte offset of the first one.
        offset: usize,
    },
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    #[error("JSON nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

/// Parses JSON text into a [`Value`] (objects become [`Value::Map`] in key order).
pub fn decode(input: &[u8]) -> Result<Value, JsonError> {
    let mut p = Parser { buf: input, pos: 0 };
    p.skip_ws();
    if p.pos == input.len() {
        return Err(JsonError::Empty);
    }
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(JsonError::Trailing { offset: p.pos });
    }
    Ok(value)
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, what: &'static str) -> JsonError {
        JsonError::Syntax {
            offset: self.pos,
            what,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, lit: &'static [u8], value: Value) -> Result<Value, JsonError> {
        if self.buf[self.pos..].starts_with(lit) {
            self.pos += lit.len();
            Ok(value)
        } else {
            Err(self.err("unexpected token"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek() {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.expect_literal(b"true", Value::Boolean(true)),
            Some(b'f') => self.expect_literal(b"false", Value::Boolean(false)),
            Some(b'n') => self.expect_literal(b"null", Value::Nil),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected token")),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), JsonError> {
        if depth >= MAX_DEPTH {
            Err(JsonError::TooDeep { max: MAX_DEPTH })
        } else {
            Ok(())
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.err("expected `,` or `]`")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.enter(depth)?;
        self.pos += 1;
        let mut entries = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Map(entries));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected `:`"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(depth + 1)?;
            entries.push((Value::String(key), value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Map(entries));
                }
                _ => return Err(self.err("expected `,` or `}`")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u16, JsonError> {
        let digits = self
            .buf
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let mut v: u16 = 0;
        for &d in digits {
            let n = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.err("invalid \\u escape")),
            };
            v = (v << 4) | u16::from(n);
        }
        self.pos += 4;
        Ok(v)
    }

    /// A string literal, as WTF-8 bytes: a lone surrogate escape becomes its 3-byte generalised UTF-8 form.
    fn string(&mut self) -> Result<Utf8String, JsonError> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            // Copy the run of plain characters at once.
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            let run = &self.buf[start..self.pos];
            if std::str::from_utf8(run).is_err() {
                return Err(JsonError::Syntax {
                    offset: start,
                    what: "invalid UTF-8 in string",
                });
            }
            out.extend_from_slice(run);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(string_value(out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let unit = self.hex4()?;
                            let code = if (0xd800..0xdc00).contains(&unit)
                                && self.buf[self.pos..].starts_with(b"\\u")
                            {
                                // A high surrogate: a following low surrogate escape completes the pair.
                                let save = self.pos;
                                self.pos += 2;
                                let low = self.hex4()?;
                                if (0xdc00..0xe000).contains(&low) {
                                    0x10000
                                        + ((u32::from(unit) - 0xd800) << 10)
                                        + (u32::from(low) - 0xdc00)
                                } else {
                                    self.pos = save;
                                    u32::from(unit)
                                }
                            } else {
                                u32::from(unit)
                            };
                            push_code_point(code, &mut out);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                Some(_) => return Err(self.err("control character in string")),
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.err("invalid number")),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            integral = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integral = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.err("invalid number"));
            }
        }
        // The slice holds only ASCII digits, signs, `.`, `e`.
        let text = std::str::from_utf8(&self.buf[start..self.pos])
            .map_err(|_| self.err("invalid number"))?;
        if integral {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Value::from(n));
            }
            if let Ok(n) = text.parse::<u64>() {
                return Ok(Value::from(n));
            }
        }
        // Rust's float parsing rounds correctly, as `JSON.parse` does; overflow gives an infinity (JSON null).
        let f: f64 = text.parse().map_err(|_| self.err("invalid number"))?;
        Ok(number_value(f))
    }
}

/// A JavaScript number as a value: integral numbers within the safe range become integers (as notepack.io and
/// JavaScript, with one number type, see them), others stay floats.
pub fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER {
        // Exact: |f| <= 2^53 and integral.
        Value::from(f as i64)
    } else {
        Value::F64(f)
    }
}

/// Appends a code point (a lone surrogate too) in generalised UTF-8.
fn push_code_point(code: u32, out: &mut Vec<u8>) {
    // Truncating casts below take the bit fields the UTF-8 layout needs.
    if code < 0x80 {
        out.push(code as u8);
    } else if code < 0x800 {
        out.push(0xc0 | (code >> 6) as u8);
        out.push(0x80 | (code & 0x3f) as u8);
    } else if code < 0x10000 {
        out.push(0xe0 | (code >> 12) as u8);
        out.push(0x80 | ((code >> 6) & 0x3f) as u8);
        out.push(0x80 | (code & 0x3f) as u8);
    } else {
        out.push(0xf0 | (code >> 18) as u8);
        out.push(0x80 | ((code >> 12) & 0x3f) as u8);
        out.push(0x80 | ((code >> 6) & 0x3f) as u8);
        out.push(0x80 | (code & 0x3f) as u8);
    }
}

/// A [`Utf8String`] of valid UTF-8 or, with lone surrogates, WTF-8 bytes.
fn string_value(out: Vec<u8>) -> Utf8String {
    match String::from_utf8(out) {
        Ok(s) => Utf8String::from(s),
        Err(e) => wtf8_string(e.into_bytes()),
    }
}

/// A [`Utf8String`] holding bytes that are not UTF-8 (WTF-8 with lone surrogates).
///
/// rmpv builds such strings only through deserialisation; its `Deserialize` for `Value` keeps non-UTF-8 string
/// bytes as they are, so this goes through MessagePack's own `str` encoding of the bytes.
pub(crate) fn wtf8_string(bytes: Vec<u8>) -> Utf8String {
    let mut buf = Vec::with_capacity(bytes.len() + 5);
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    buf.push(0xdb);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&bytes);
    match rmpv::decode::read_value(&mut buf.as_slice()) {
        Ok(Value::String(s)) => s,
        _ => Utf8String::from(String::from_utf8_lossy(&bytes).into_owned()),
    }
}

/// Encodes a value as `JSON.stringify` would encode the JavaScript value it stands for.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(value, &mut out);
    out.into_bytes()
}

/// Appends the `JSON.stringify` text of `value` to `out`.
pub fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Nil => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => {
            if let Some(n) = i.as_i64() {
                let _ = write!(out, "{n}");
            } else if let Some(n) = i.as_u64() {
                let _ = write!(out, "{n}");
            }
        }
        Value::F32(f) => write_number(f64::from(*f), out),
        Value::F64(f) => write_number(*f, out),
        Value::String(s) => write_wtf8_string(s.as_bytes(), out),
        Value::Binary(bytes) => write_buffer(bytes, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
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
                write_value(v, out);
            }
            out.push('}');
        }
        Value::Ext(-1, _) => match timestamp_to_iso(value) {
            Some(iso) => write_string(&iso, out),
            None => out.push_str("null"),
        },
        Value::Ext(ty, data) => {
            // notepack.io decodes other extensions as `[type, Buffer]`.
            let _ = write!(out, "[{ty},");
            write_buffer(data, out);
            out.push(']');
        }
    }
}

/// Appends an object key: a string as itself, another MessagePack key as the property name JavaScript gives it.
pub fn write_key(key: &Value, out: &mut String) {
    match key {
        Value::String(s) => write_wtf8_string(s.as_bytes(), out),
        other => write_string(&js_key(other), out),
    }
}

/// `Buffer.prototype.toJSON`.
fn write_buffer(bytes: &[u8], out: &mut String) {
    out.push_str("{\"type\":\"Buffer\",\"data\":[");
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{b}");
    }
    out.push_str("]}");
}

/// The property name a JavaScript object gets for a MessagePack map key (`String(key)`).
fn js_key(key: &Value) -> String {
    match key {
        Value::String(s) => s.as_str().map_or_else(
            || String::from_utf8_lossy(s.as_bytes()).into_owned(),
            str::to_owned,
        ),
        Value::Nil => "null".to_owned(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::F32(f) => js_number(f64::from(*f)).unwrap_or_else(|| js_non_finite(f64::from(*f))),
        Value::F64(f) => js_number(*f).unwrap_or_else(|| js_non_finite(*f)),
        other => String::from_utf8_lossy(&encode(other)).into_owned(),
    }
}

fn js_non_finite(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f > 0.0 {
        "Infinity".to_owned()
    } else {
        "-Infinity".to_owned()
    }
}

fn write_number(f: f64, out: &mut String) {
    match js_number(f) {
        Some(s) => out.push_str(&s),
        None => out.push_str("null"),
    }
}

/// `Number.prototype.toString()` for a finite number; `None` for NaN and the infinities (which JSON writes as
/// `null`).
pub fn js_number(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    if f == 0.0 {
        return Some("0".to_owned());
    }
    // Rust prints the shortest digits that round-trip, as ECMAScript requires; only the layout differs.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e')?;
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i64 = exponent.parse().ok()?;
    let k = i64::try_from(digits.len()).ok()?;
    let n = exponent + 1;
    let mut s = String::new();
    if f < 0.0 {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(&digits);
        s.extend(std::iter::repeat_n('0', usize::try_from(n - k).ok()?));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(usize::try_from(n).ok()?);
        s.push_str(int);
        s.push('.');
        s.push_str(frac);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        s.extend(std::iter::repeat_n('0', usize::try_from(-n).ok()?));
        s.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        s.push_str(first);
        if !rest.is_empty() {
            s.push('.');
            s.push_str(rest);
        }
        let e = n - 1;
        let _ = write!(s, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs());
    }
    Some(s)
}

/// A JSON string literal, escaped exactly as `JSON.stringify` escapes it.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    write_escaped(s, out);
    out.push('"');
}

fn write_escaped(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// A JSON string literal of WTF-8 bytes: a lone surrogate is written as the lower-case `\udXXX` escape
/// `JSON.stringify` uses; bytes that are not even WTF-8 (which no decoder here produces) as U+FFFD.
pub fn write_wtf8_string(bytes: &[u8], out: &mut String) {
    out.push('"');
    for piece in wtf8_pieces(bytes) {
        match piece {
            Wtf8Piece::Str(s) => write_escaped(s, out),
            Wtf8Piece::Surrogate(unit) => {
                let _ = write!(out, "\\u{unit:04x}");
            }
            Wtf8Piece::Invalid => out.push('\u{fffd}'),
        }
    }
    out.push('"');
}

/// One part of a WTF-8 byte string.
pub(crate) enum Wtf8Piece<'a> {
    /// Valid UTF-8.
    Str(&'a str),
    /// A lone surrogate code unit (its 3-byte generalised UTF-8 form).
    Surrogate(u16),
    /// A byte sequence that is neither (replaced by U+FFFD, as Node's UTF-8 decoder does).
    Invalid,
}

/// Splits WTF-8 bytes into valid UTF-8 runs, lone surrogates and invalid sequences.
pub(crate) fn wtf8_pieces(mut bytes: &[u8]) -> impl Iterator<Item = Wtf8Piece<'_>> {
    let mut pending: Option<Wtf8Piece<'_>> = None;
    std::iter::from_fn(move || {
        if let Some(p) = pending.take() {
            return Some(p);
        }
        if bytes.is_empty() {
            return None;
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                bytes = &[];
                Some(Wtf8Piece::Str(s))
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                let (piece, skip) = match rest {
                    [0xed, b1 @ 0xa0..=0xbf, b2 @ 0x80..=0xbf, ..] => {
                        let unit = 0xd000 | (u16::from(b1 & 0x3f) << 6) | u16::from(b2 & 0x3f);
                        (Wtf8Piece::Surrogate(unit), 3)
                    }
                    _ => (
                        Wtf8Piece::Invalid,
                        e.error_len().unwrap_or(rest.len()).max(1),
                    ),
                };
                bytes = rest.get(skip..).unwrap_or(&[]);
                // `valid` holds only the UTF-8 prefix the error points past.
                let valid = std::str::from_utf8(valid).unwrap_or_default();
                if valid.is_empty() {
                    Some(piece)
                } else {
                    pending = Some(piece);
                    Some(Wtf8Piece::Str(valid))
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        let cases: [(f64, &str); 12] = [
            (1.5, "1.5"),
            (1.0, "1"),
            (-0.0, "0"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (123456789012345680000.0, "123456789012345680000"),
            (1.5e-7, "1.5e-7"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (f, s) in cases {
            assert_eq!(js_number(f).unwrap(), s);
        }
        assert_eq!(js_number(f64::NAN), None);
    }

    #[test]
    fn strings_escape_as_javascript_does() {
        let mut out = String::new();
        write_string("a\"b\\c\n\u{1}\u{7f}é\u{2028}", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001\u{7f}é\u{2028}\"");
    }

    #[test]
    fn keeps_key_order_and_normalizes_integers() {
        let v = decode(br#"{"b":1.0,"a":[1e3,1.5,-0]}"#).unwrap();
        assert_eq!(encode(&v), br#"{"b":1,"a":[1000,1.5,0]}"#);
    }

    #[test]
    fn binary_and_dates_stringify_as_node_does() {
        let v = Value::Array(vec![
            Value::Binary(vec![1, 2]),
            Value::Ext(-1, vec![0x65, 0x53, 0xf1, 0x00]),
        ]);
        assert_eq!(
            encode(&v),
            br#"[{"type":"Buffer","data":[1,2]},"2023-11-14T22:13:20.000Z"]"#
        );
    }

    #[test]
    fn lone_surrogates_survive_a_round_trip() {
        for text in [
            r#"["\ud83d"]"#,
            r#"["a\udc00b"]"#,
            r#"{"\ud800":"\udbff\ud83d"}"#,
            r#"["\ud83d\ude00x"]"#,
        ] {
            let v = decode(text.as_bytes()).unwrap();
            let expected = text.replace(r"\ud83d\ude00", "😀");
            assert_eq!(String::from_utf8(encode(&v)).unwrap(), expected);
        }
        // A pair is one character.
        assert_eq!(decode(br#""\ud83d\ude00""#).unwrap(), Value::from("😀"));
        assert_eq!(decode(br#""\uD83D\uDE00""#).unwrap(), Value::from("😀"));
    }

    #[test]
    fn refuses_what_json_parse_refuses() {
        for bad in [
            "",
            " ",
            "[1]]",
            "[1] x",
            "{\"a\":1,}",
            "[1,]",
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "\"\\x\"",
            "\"a\u{1}\"",
            "\"\\u12\"",
            "nul",
            "[",
            "{\"a\"}",
            "'a'",
            "NaN",
            "\u{a0}1",
            "[1]\u{feff}",
        ] {
            assert!(decode(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(decode(b"\"\xff\"").is_err());
        for good in [
            " [1] \n", "1E+2", "-0.0e-0", "\"\\/\"", "{}", "[[]]", "true", "1e400",
        ] {
            assert!(decode(good.as_bytes()).is_ok(), "{good:?}");
        }
        assert_eq!(encode(&decode(b"1e400").unwrap()), b"null");
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(decode(ok.as_bytes()).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            decode(deep.as_bytes()),
            Err(JsonError::TooDeep { max: MAX_DEPTH })
        );
        let very_deep = "[".repeat(1_000_000);
        assert!(decode(very_deep.as_bytes()).is_err());
    }

    #[test]
    fn large_integers_keep_their_digits() {
        for text in [
            "[9007199254740993]",
            "[-9223372036854775808]",
            "[18446744073709551615]",
        ] {
            assert_eq!(encode(&decode(text.as_bytes()).unwrap()), text.as_bytes());
        }
        assert_eq!(
            encode(&decode(b"[18446744073709551616]").unwrap()),
            b"[18446744073709552000]"
        );
    }
}
