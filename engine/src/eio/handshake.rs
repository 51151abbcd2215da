//! What the engine keeps of the request that opened a session (Node's `socket.handshake`), and the query
//! parameters Engine.IO reads.
//!
//! Everything is copied out of the request: hyper parses the head into slices of the connection's read buffer,
//! and keeping any of them would keep that whole buffer alive for the life of the connection.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::request::Parts;

use super::error::RequestError;
use super::packet::Protocol;
use super::session::Transport;

/// The peer address of a connection, put in the request extensions by the listener (behind a proxy: the
/// proxy's address, as Node reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// The request that opened a session.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// Header names (lower case) and values in request order, as `name\0value\0...` in one allocation: every
    /// connection keeps them, and one string per header would cost more than the rest of an idle connection.
    headers: Box<str>,
    /// Path and query of the request URL.
    pub url: Box<str>,
    /// The peer address, when the listener provided it.
    pub address: Option<SocketAddr>,
    /// When the session opened, milliseconds since the Unix epoch.
    pub issued: u64,
}

impl Handshake {
    /// Copies what a socket's `handshake` needs out of the request head.
    pub fn from_parts(parts: &Parts) -> Self {
        let mut headers = String::new();
        for (k, v) in &parts.headers {
            // Header values that are not visible ASCII are left out, as `to_str` refuses them.
            if let Ok(v) = v.to_str()
                && !v.contains('\0')
            {
                headers.push_str(k.as_str());
                headers.push('\0');
                headers.push_str(v);
                headers.push('\0');
            }
        }
        let url = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path(), |pq| pq.as_str())
            .into();
        let address = parts.extensions.get::<RemoteAddr>().map(|a| a.0);
        let issued = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            headers: headers.into(),
            url,
            address,
            issued,
        }
    }

    /// Header names (lower case) and values, in request order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut parts = self.headers.split('\0');
        std::iter::from_fn(move || Some((parts.next().filter(|k| !k.is_empty())?, parts.next()?)))
    }

    /// A header's value (names are lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// The query string of the URL (without `?`).
    pub fn query(&self) -> &str {
        self.url.split_once('?').map_or("", |(_, q)| q)
    }
}

/// The Engine.IO query parameters of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pub protocol: Protocol,
    pub transport: Transport,
    pub sid: Option<String>,
    /// v3: `b64=1` asks for base64 instead of binary polling payloads.
    pub b64: bool,
}

impl Query {
    /// Reads `EIO`, `transport`, `sid` and `b64`. A missing or other `EIO` is v3, as in Node.
    pub fn parse(
        query: Option<&str>,
        allowed: crate::config::Transports,
    ) -> Result<Self, RequestError> {
        let mut eio = None;
        let mut transport = None;
        let mut sid = None;
        let mut b64 = false;
        for (k, v) in form_pairs(query.unwrap_or("")) {
            match k {
                "EIO" => eio = Some(v),
                "transport" => transport = Some(v),
                "sid" => sid = Some(v.to_owned()),
                "b64" => b64 = !v.is_empty() && v != "0",
                _ => {}
            }
        }
        let transport = match transport {
            Some("polling") if allowed.polling => Transport::Polling,
            Some("websocket") if allowed.websocket => Transport::WebSocket,
            _ => return Err(RequestError::UnknownTransport),
        };
        let protocol = if eio == Some("4") {
            Protocol::V4
        } else {
            Protocol::V3
        };
        Ok(Self {
            protocol,
            transport,
            sid,
            b64,
        })
    }
}

/// `key=value` pairs of a query string (values are not percent-decoded: Engine.IO's are plain).
fn form_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transports;

    const BOTH: Transports = Transports {
        polling: true,
        websocket: true,
    };

    #[test]
    fn query_parameters() {
        let q = Query::parse(Some("EIO=4&transport=polling&t=x"), BOTH).unwrap();
        assert_eq!(q.protocol, Protocol::V4);
        assert_eq!(q.transport, Transport::Polling);
        assert_eq!(q.sid, None);
        let q = Query::parse(Some("EIO=3&transport=websocket&sid=abc&b64=1"), BOTH).unwrap();
        assert_eq!(q.protocol, Protocol::V3);
        assert_eq!(q.sid.as_deref(), Some("abc"));
        assert!(q.b64);
        assert_eq!(
            Query::parse(Some("EIO=4&transport=flash"), BOTH),
            Err(RequestError::UnknownTransport)
        );
        let polling_only = Transports {
            polling: true,
            websocket: false,
        };
        assert_eq!(
            Query::parse(Some("EIO=4&transport=websocket"), polling_only),
            Err(RequestError::UnknownTransport)
        );
        assert_eq!(
            Query::parse(Some("transport=polling"), BOTH)
                .unwrap()
                .protocol,
            Protocol::V3
        );
    }

    #[test]
    fn handshake_copies_the_request() {
        let req = http::Request::get("/socket.io/?EIO=4&transport=polling")
            .header("Origin", "http://a")
            .body(())
            .unwrap();
        let (mut parts, _) = req.into_parts();
        parts
            .extensions
            .insert(RemoteAddr(([127, 0, 0, 1], 5000).into()));
        let h = Handshake::from_parts(&parts);
        assert_eq!(&*h.url, "/socket.io/?EIO=4&transport=polling");
        assert_eq!(h.header("origin"), Some("http://a"));
        assert_eq!(
            h.headers().collect::<Vec<_>>(),
            vec![("origin", "http://a")]
        );
        assert_eq!(h.query(), "EIO=4&transport=polling");
        assert_eq!(h.address, Some(([127, 0, 0, 1], 5000).into()));
    }
}
