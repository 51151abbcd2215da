//! What other servers (Node peers included) see of a local socket when they fetch it:
//! Node's `socket.handshake` and `socket.data` (the contract's user).

use std::time::{SystemTime, UNIX_EPOCH};

use adapter_redis::SocketInfo;
use adapter_redis::wire::{Handshake, Timestamp, Value};
use http::request::Parts;

use super::session::User;

/// Builds the socket info from the HTTP request of the handshake, its `auth` and the user.
pub fn socket_info(parts: &Parts, auth: &serde_json::Value, user: &User) -> SocketInfo {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let headers = Value::Map(
        parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((Value::from(k.as_str()), Value::from(v.to_str().ok()?))))
            .collect(),
    );
    // Decoded as Node's `querystring` does (`+` and percent escapes).
    let query = Value::Map(
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (Value::from(k.as_ref()), Value::from(v.as_ref())))
            .collect(),
    );
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    // The peer address, as Node reports it (behind a proxy: the proxy's).
    let address = parts
        .extensions
        .get::<axum::extract::ConnectInfo<crate::listener::PeerAddr>>()
        .map(|info| info.0.0.ip().to_string())
        .unwrap_or_default();
    let handshake = Handshake {
        headers,
        time: js_date_string(now),
        address,
        xdomain: header("origin").is_some(),
        secure: header("x-forwarded-proto") == Some("https"),
        issued: now,
        url: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        query,
        auth: json_to_value(auth),
    };
    let data = json_to_value(&serde_json::to_value(user).unwrap_or_default());
    SocketInfo {
        handshake,
        data: Some(data),
    }
}

fn json_to_value(v: &serde_json::Value) -> Value {
    // serde_json values always convert; strip secrets that other servers need not see.
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("token");
    }
    rmpv::ext::to_value(&v).unwrap_or(Value::Nil)
}

/// `Date.prototype.toString()` in UTC, e.g. `Sun Nov 22 2026 00:27:11 GMT+0000 (Coordinated Universal Time)`.
fn js_date_string(millis: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let iso = Timestamp::from_unix_millis(millis as i64)
        .to_iso_string()
        .unwrap_or_default();
    // iso: YYYY-MM-DDTHH:MM:SS.mmmZ
    let (Some(y), Some(m), Some(d), Some(t)) = (
        iso.get(0..4),
        iso.get(5..7),
        iso.get(8..10),
        iso.get(11..19),
    ) else {
        return iso;
    };
    let month = m
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    let weekday = DAYS[((millis / 86_400_000) % 7) as usize];
    format!("{weekday} {month} {d} {y} {t} GMT+0000 (Coordinated Universal Time)")
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
    fn info_from_request() {
        let req =
            http::Request::get("/socket.io/?EIO=4&transport=websocket&x&tag=x%20y%2F%C3%A9+z")
                .header("origin", "http://a")
                .body(())
                .unwrap();
        let (parts, _) = req.into_parts();
        let user = User {
            id: "s1".into(),
            name: Some("Ada".into()),
            user_id: None,
        };
        let info = socket_info(
            &parts,
            &serde_json::json!({"name": "Ada", "token": "secret"}),
            &user,
        );
        assert!(info.handshake.xdomain);
        let url = "/socket.io/?EIO=4&transport=websocket&x&tag=x%20y%2F%C3%A9+z";
        assert_eq!(info.handshake.url, url);
        let query = adapter_redis::wire::json::encode(&info.handshake.query);
        assert_eq!(
            String::from_utf8(query).unwrap(),
            r#"{"EIO":"4","transport":"websocket","x":"","tag":"x y/é z"}"#
        );
        assert_eq!(
            adapter_redis::wire::json::encode(&info.handshake.auth),
            br#"{"name":"Ada"}"#
        );
        let data = info.data.unwrap();
        assert_eq!(
            adapter_redis::wire::json::encode(&data),
            br#"{"id":"s1","name":"Ada"}"#
        );
    }
}
