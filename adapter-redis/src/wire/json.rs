//! JSON as Node reads and writes it (`JSON.parse` / `JSON.stringify`), mapped onto [`Value`].
//!
//! Reading keeps object keys in their order (so a message decodes and re-encodes to the same bytes) and turns
//! numbers that JavaScript holds as integers (`1`, `1e3`, `1.0`) into [`Value::Integer`], as notepack.io would
//! encode them. Writing follows `JSON.stringify`: numbers as JavaScript prints them (`1e+21`, `1.5e-7`,
//! non-finite ones as `null`), a MessagePack timestamp as its ISO-8601 string (`Date.prototype.toJSON`), binary as
//! Node's `Buffer.prototype.toJSON` object `{"type":"Buffer","data":[...]}`. JSON cannot carry binary: Node
//! switches to MessagePack when a message holds some, and so do the encoders of this crate.

use std::fmt::Write as _;

use rmpv::Value;

use super::WireError;
use super::value::timestamp_to_iso;

/// Largest integer a JavaScript number holds exactly (2^53 - 1).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Parses JSON text into a [`Value`] (objects become [`Value::Map`] in key order).
///
/// `serde_json` bounds the nesting depth (128), like the MessagePack decoder.
pub fn decode(input: &[u8]) -> Result<Value, WireError> {
    if input.is_empty() {
        return Err(WireError::Empty);
    }
    let mut value: Value = serde_json::from_slice(input)?;
    normalize_numbers(&mut value);
    Ok(value)
}

/// Turns integral floats within the safe integer range into integers, as JavaScript (one number type) and
/// notepack.io (integers in their smallest form) see them.
fn normalize_numbers(value: &mut Value) {
    match value {
        // Exact: |f| <= 2^53 and integral.
        Value::F64(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER => {
            *value = Value::from(*f as i64)
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            normalize_numbers(k);
            normalize_numbers(v);
        }),
        _ => {}
    }
}

/// Encodes a value as `JSON.stringify` would encode the JavaScript value notepack.io decodes it to.
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
        Value::String(s) => match s.as_str() {
            Some(s) => write_string(s, out),
            None => write_string(&String::from_utf8_lossy(s.as_bytes()), out),
        },
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
                write_string(&js_key(k), out);
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
    out.push('"');
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
}
