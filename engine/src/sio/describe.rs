//! A local socket as other servers see it: Node's `{id, handshake, rooms, data}` of `fetchSockets()`.

use std::sync::Arc;

use rmpv::Value;

use super::socket::Socket;
use crate::adapter::SocketDescription;

/// Describes `socket` in Node's shape.
pub(crate) fn describe(socket: &Arc<Socket>) -> SocketDescription {
    SocketDescription {
        id: socket.id.to_string(),
        handshake: handshake(socket),
        rooms: socket.rooms(),
        data: socket.data(),
    }
}

/// Node's `socket.handshake`: `{headers, time, address, xdomain, secure, issued, url, query, auth}`.
pub fn handshake(socket: &Socket) -> Value {
    let h = socket.handshake();
    let headers = Value::Map(
        h.headers()
            .map(|(k, v)| (Value::from(k), Value::from(v)))
            .collect(),
    );
    // Decoded as Node's `querystring` does (`+` and percent escapes).
    let query = Value::Map(
        form_urlencoded_pairs(h.query())
            .into_iter()
            .map(|(k, v)| (Value::from(k), Value::from(v)))
            .collect(),
    );
    let address = h.address.map(|a| a.ip().to_string()).unwrap_or_default();
    let entries = vec![
        ("headers", headers),
        ("time", Value::from(js_date_string(h.issued))),
        ("address", Value::from(address)),
        ("xdomain", Value::from(h.header("origin").is_some())),
        (
            "secure",
            Value::from(h.header("x-forwarded-proto") == Some("https")),
        ),
        ("issued", Value::from(h.issued)),
        ("url", Value::from(&*h.url)),
        ("query", query),
        ("auth", socket.auth()),
    ];
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// `application/x-www-form-urlencoded` pairs: `+` is a space, percent escapes decoded (invalid UTF-8 replaced).
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Date.prototype.toString()` in UTC, e.g. `Sun Nov 22 2026 00:27:11 GMT+0000 (Coordinated Universal Time)`.
pub fn js_date_string(millis: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = (millis / 86_400_000) as i64;
    let secs_of_day = (millis / 1000) % 86_400;
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[(days.rem_euclid(7)) as usize];
    let month = MONTHS[(m - 1) as usize];
    format!(
        "{weekday} {month} {d:02} {y} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        secs_of_day / 3600,
        (secs_of_day / 60) % 60,
        secs_of_day % 60
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_date_strings() {
        assert_eq!(
            js_date_string(1_700_000_000_000),
            "Tue Nov 14 2023 22:13:20 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            js_date_string(0),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            form_urlencoded_pairs("EIO=4&x&tag=x%20y%2F%C3%A9+z"),
            vec![
                ("EIO".into(), "4".into()),
                ("x".into(), "".into()),
                ("tag".into(), "x y/é z".into())
            ]
        );
        assert_eq!(decode("%zz%"), "%zz%");
    }
}
