//! Engine.IO v4 + socket.io v5 client sessions on [`crate::ws::Ws`]: the WebSocket handshake
//! straight away, or the long-polling handshake then the upgrade to WebSocket, the namespace
//! connect, emits with acks, and classification of received packets without allocating.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::ws::{self, Ws, err, opcode};

/// How a client reaches WebSocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// WebSocket from the first request (`transports: ["websocket"]`).
    Ws,
    /// The long-polling handshake, the namespace connect over polling, then the upgrade.
    Polling,
}

/// A server endpoint: address and Engine.IO path (e.g. `/socket.io/`).
#[derive(Debug, Clone)]
pub struct Target {
    /// The address.
    pub addr: SocketAddr,
    /// The Engine.IO path, ending with `/`.
    pub path: String,
}

impl Target {
    fn host(&self) -> String {
        self.addr.to_string()
    }
}

/// A received text payload, classified (Engine.IO packet type, then socket.io packet type).
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Engine.IO open (`0{...}`).
    Open(&'a [u8]),
    /// Engine.IO close.
    Close,
    /// Engine.IO ping (`2`), to be answered with `3`.
    Ping,
    /// Engine.IO noop.
    Noop,
    /// socket.io CONNECT (`40{...}`).
    Connect(&'a [u8]),
    /// socket.io DISCONNECT (`41`).
    Disconnect,
    /// socket.io EVENT (`42[...]`), with its ack id when one is requested.
    Event(Option<u64>, &'a [u8]),
    /// socket.io ACK (`43<id>[...]`).
    Ack(u64, &'a [u8]),
    /// socket.io CONNECT_ERROR (`44{...}`).
    ConnectError(&'a [u8]),
    /// Anything else (probe answers, binary, other namespaces).
    Other(&'a [u8]),
}

/// Splits leading ASCII digits off `p`: `(number, rest)`.
pub fn split_number(p: &[u8]) -> (Option<u64>, &[u8]) {
    let n = p.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return (None, p);
    }
    let mut v: u64 = 0;
    for &b in &p[..n] {
        v = v.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
    }
    (Some(v), &p[n..])
}

/// Classifies one Engine.IO packet (the payload of a text frame).
pub fn classify(p: &[u8]) -> Packet<'_> {
    match p.first() {
        Some(b'0') => Packet::Open(&p[1..]),
        Some(b'1') => Packet::Close,
        Some(b'2') if p.len() == 1 => Packet::Ping,
        Some(b'6') => Packet::Noop,
        Some(b'4') => match p.get(1) {
            Some(b'0') => Packet::Connect(&p[2..]),
            Some(b'1') => Packet::Disconnect,
            Some(b'2') => {
                let (id, rest) = split_number(&p[2..]);
                Packet::Event(id, rest)
            }
            Some(b'3') => match split_number(&p[2..]) {
                (Some(id), rest) => Packet::Ack(id, rest),
                (None, _) => Packet::Other(p),
            },
            Some(b'4') => Packet::ConnectError(&p[2..]),
            _ => Packet::Other(p),
        },
        _ => Packet::Other(p),
    }
}

/// Appends an EVENT packet `42<ack>["<event>",<args_json>]` to `out`.
pub fn event_packet(out: &mut Vec<u8>, ack: Option<u64>, event: &str, args_json: &str) {
    out.extend_from_slice(b"42");
    if let Some(id) = ack {
        out.extend_from_slice(id.to_string().as_bytes());
    }
    out.extend_from_slice(b"[\"");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\",");
    out.extend_from_slice(args_json.as_bytes());
    out.push(b']');
}

/// A JSON string literal for `s`.
pub fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Reads the `sid` and `pingInterval` out of an open packet's JSON.
fn parse_open(json: &[u8]) -> io::Result<(String, u64)> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| err(format!("bad open packet: {e}")))?;
    let sid = v
        .get("sid")
        .and_then(|s| s.as_str())
        .ok_or_else(|| err("open packet without sid"))?
        .to_owned();
    let ping = v.get("pingInterval").and_then(|p| p.as_u64()).unwrap_or(0);
    Ok((sid, ping))
}

/// A connected socket.io client (namespace `/`).
pub struct Client {
    /// The WebSocket.
    pub ws: Ws,
    /// Engine.IO session id.
    pub sid: String,
    /// The server's ping interval (ms).
    pub ping_interval_ms: u64,
    /// Engine.IO pings answered so far.
    pub pings: u64,
    next_ack: u64,
}

/// One HTTP/1.1 request on a keep-alive connection; returns the status and the body.
async fn http_request(
    stream: &mut TcpStream,
    method: &str,
    host: &str,
    target: &str,
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    let mut req =
        format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n");
    if method == "POST" {
        req.push_str("Content-Type: text/plain;charset=UTF-8\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut out = req.into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out).await?;
    let mut buf = Vec::with_capacity(1024);
    let head_len = ws::read_head(stream, &mut buf).await?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(err("malformed HTTP response")),
    }
    let status = resp.code.unwrap_or(0);
    let mut content_length = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h.value.eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("content-encoding") {
            return Err(err("compressed polling responses are not supported"));
        }
    }
    let mut rest = buf[head_len..].to_vec();
    let body = if chunked {
        read_chunked(stream, &mut rest).await?
    } else {
        let len = content_length.ok_or_else(|| err("HTTP response without length"))?;
        while rest.len() < len {
            read_more(stream, &mut rest).await?;
        }
        rest.truncate(len);
        rest
    };
    Ok((status, body))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<()> {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed in an HTTP body",
        ));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut pos = 0;
    loop {
        let line_end = loop {
            if let Some(i) = memchr::memmem::find(&buf[pos..], b"\r\n") {
                break pos + i;
            }
            read_more(stream, buf).await?;
        };
        let size_str = std::str::from_utf8(&buf[pos..line_end]).map_err(|_| err("bad chunk"))?;
        let size_hex = size_str.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| err("bad chunk size"))?;
        let data_start = line_end + 2;
        while buf.len() < data_start + size + 2 {
            read_more(stream, buf).await?;
        }
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&buf[data_start..data_start + size]);
        pos = data_start + size + 2;
    }
}

impl Client {
    /// Connects to namespace `/` of `target` from `src`, WebSocket straight away or through the
    /// polling handshake and upgrade; `auth` is the CONNECT payload (JSON object) if any.
    pub async fn connect(
        src: Option<IpAddr>,
        target: &Target,
        mode: Mode,
        auth: Option<&str>,
        read_capacity: usize,
    ) -> io::Result<Self> {
        match mode {
            Mode::Ws => Self::connect_ws(src, target, auth, read_capacity).await,
            Mode::Polling => Self::connect_polling(src, target, auth, read_capacity).await,
        }
    }

    async fn connect_ws(
        src: Option<IpAddr>,
        target: &Target,
        auth: Option<&str>,
        read_capacity: usize,
    ) -> io::Result<Self> {
        let mut tcp = ws::tcp_connect(src, target.addr).await?;
        let pq = format!("{}?EIO=4&transport=websocket", target.path);
        let left = ws::client_handshake(&mut tcp, &target.host(), &pq).await?;
        let ws = Ws::new(tcp, left, true, read_capacity);
        let mut c = Self {
            ws,
            sid: String::new(),
            ping_interval_ms: 0,
            pings: 0,
            next_ack: 1,
        };
        // Engine.IO open.
        let open = c.next_text().await?;
        match classify(&open) {
            Packet::Open(json) => {
                let (sid, ping) = parse_open(json)?;
                c.sid = sid;
                c.ping_interval_ms = ping;
            }
            _ => return Err(err("expected the Engine.IO open packet")),
        }
        c.namespace_connect(auth).await?;
        Ok(c)
    }

    async fn connect_polling(
        src: Option<IpAddr>,
        target: &Target,
        auth: Option<&str>,
        read_capacity: usize,
    ) -> io::Result<Self> {
        let host = target.host();
        let mut http = ws::tcp_connect(src, target.addr).await?;
        let (status, body) = http_request(
            &mut http,
            "GET",
            &host,
            &format!("{}?EIO=4&transport=polling", target.path),
            b"",
        )
        .await?;
        if status != 200 {
            return Err(err(format!("polling handshake: HTTP {status}")));
        }
        let (sid, ping) = match body.split(|b| *b == 0x1e).next().map(classify) {
            Some(Packet::Open(json)) => parse_open(json)?,
            _ => return Err(err("polling handshake: no open packet")),
        };
        let sid_target = format!("{}?EIO=4&transport=polling&sid={sid}", target.path);
        let mut connect = b"40".to_vec();
        if let Some(a) = auth {
            connect.extend_from_slice(a.as_bytes());
        }
        let (status, _) = http_request(&mut http, "POST", &host, &sid_target, &connect).await?;
        if status != 200 {
            return Err(err(format!("polling CONNECT post: HTTP {status}")));
        }
        // The CONNECT answer arrives on the next poll (perhaps with other packets).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut pings = 0;
        loop {
            let (status, body) = http_request(&mut http, "GET", &host, &sid_target, b"").await?;
            if status != 200 {
                return Err(err(format!("polling GET: HTTP {status}")));
            }
            let mut connected = false;
            let mut pinged = false;
            for p in body.split(|b| *b == 0x1e) {
                match classify(p) {
                    Packet::Connect(_) => connected = true,
                    // A server may ping over polling before the upgrade (an engine may send its
                    // first ping with the CONNECT answer): answered on the same transport.
                    Packet::Ping => pinged = true,
                    Packet::ConnectError(e) => {
                        return Err(err(format!("connect_error {}", String::from_utf8_lossy(e))));
                    }
                    _ => {}
                }
            }
            if pinged {
                pings += 1;
                let (status, _) = http_request(&mut http, "POST", &host, &sid_target, b"3").await?;
                if status != 200 {
                    return Err(err(format!("polling pong post: HTTP {status}")));
                }
            }
            if connected {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(err("no CONNECT answer over polling"));
            }
        }
        // Upgrade: probe on a WebSocket with the same sid, then `5`.
        let mut tcp = ws::tcp_connect(src, target.addr).await?;
        let pq = format!("{}?EIO=4&transport=websocket&sid={sid}", target.path);
        let left = ws::client_handshake(&mut tcp, &host, &pq).await?;
        let ws = Ws::new(tcp, left, true, read_capacity);
        let mut c = Self {
            ws,
            sid,
            ping_interval_ms: ping,
            pings,
            next_ack: 1,
        };
        c.ws.send_text(b"2probe").await?;
        loop {
            let p = c.next_text().await?;
            if p == b"3probe" {
                break;
            }
            match classify(&p) {
                Packet::Ping => {
                    c.pings += 1;
                    c.ws.send_text(b"3").await?;
                }
                Packet::Noop => {}
                _ => return Err(err("unexpected packet during the upgrade probe")),
            }
        }
        c.ws.send_text(b"5").await?;
        // The polling connection is no longer used.
        let _ = http.set_zero_linger();
        drop(http);
        Ok(c)
    }

    /// Sends CONNECT for `/` and waits for the answer.
    async fn namespace_connect(&mut self, auth: Option<&str>) -> io::Result<()> {
        let mut p = b"40".to_vec();
        if let Some(a) = auth {
            p.extend_from_slice(a.as_bytes());
        }
        self.ws.send_text(&p).await?;
        loop {
            let t = self.next_text().await?;
            match classify(&t) {
                Packet::Connect(_) => return Ok(()),
                Packet::ConnectError(e) => {
                    return Err(err(format!("connect_error {}", String::from_utf8_lossy(e))));
                }
                Packet::Ping => {
                    self.pings += 1;
                    self.ws.send_text(b"3").await?;
                }
                _ => {}
            }
        }
    }

    /// The next text frame's payload (answering WebSocket pings; close is an error).
    pub async fn next_text(&mut self) -> io::Result<Vec<u8>> {
        loop {
            let Some(f) = self.ws.read_frame().await? else {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            };
            match f.op {
                opcode::TEXT => return Ok(self.ws.payload(&f).to_vec()),
                opcode::PING => {
                    let p = self.ws.payload(&f).to_vec();
                    self.ws.queue(opcode::PONG, &p);
                    self.ws.flush().await?;
                }
                opcode::CLOSE => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "server sent a close frame",
                    ));
                }
                _ => {}
            }
        }
    }

    /// Emits `event` with `args_json` and waits for its ack; returns the ack's payload
    /// (`[...]`). Other packets received meanwhile are ignored, pings answered.
    pub async fn request(&mut self, event: &str, args_json: &str) -> io::Result<Vec<u8>> {
        let id = self.next_ack;
        self.next_ack += 1;
        let mut p = Vec::with_capacity(64);
        event_packet(&mut p, Some(id), event, args_json);
        self.ws.send_text(&p).await?;
        loop {
            let t = self.next_text().await?;
            match classify(&t) {
                Packet::Ack(aid, body) if aid == id => return Ok(body.to_vec()),
                Packet::Ping => {
                    self.pings += 1;
                    self.ws.send_text(b"3").await?;
                }
                Packet::Disconnect | Packet::Close => {
                    return Err(err("disconnected while waiting for an ack"));
                }
                _ => {}
            }
        }
    }

    /// `join(room)`; fails unless the ack is `{ok: true, ...}`.
    pub async fn join(&mut self, room: &str) -> io::Result<()> {
        let ack = self.request("join", &json_str(room)).await?;
        if memchr::memmem::find(&ack, b"\"ok\":true").is_none() {
            return Err(err(format!(
                "join {room} refused: {}",
                String::from_utf8_lossy(&ack)
            )));
        }
        Ok(())
    }

    /// Reads and handles packets forever: answers pings, counts them; returns when the
    /// connection ends (the reason as an error) — the idle loop.
    pub async fn idle(&mut self, mut on_ping: impl FnMut()) -> io::Error {
        loop {
            let f = match self.ws.read_frame().await {
                Ok(Some(f)) => f,
                Ok(None) => {
                    return io::Error::new(io::ErrorKind::UnexpectedEof, "server closed");
                }
                Err(e) => return e,
            };
            let reply: Option<&[u8]> = match f.op {
                opcode::TEXT => match classify(self.ws.payload(&f)) {
                    Packet::Ping => {
                        self.pings += 1;
                        on_ping();
                        Some(b"3")
                    }
                    Packet::Close | Packet::Disconnect => {
                        return err("server disconnected the socket");
                    }
                    _ => None,
                },
                opcode::CLOSE => return err("server sent a close frame"),
                _ => None,
            };
            if let Some(r) = reply {
                self.ws.shrink(1024);
                if let Err(e) = self.ws.send_text(r).await {
                    return e;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_packets() {
        assert_eq!(classify(b"2"), Packet::Ping);
        assert_eq!(classify(b"2probe"), Packet::Other(b"2probe"));
        assert_eq!(
            classify(b"40{\"sid\":\"x\"}"),
            Packet::Connect(b"{\"sid\":\"x\"}")
        );
        assert_eq!(classify(b"42[\"a\",1]"), Packet::Event(None, b"[\"a\",1]"));
        assert_eq!(
            classify(b"4217[\"a\"]"),
            Packet::Event(Some(17), b"[\"a\"]")
        );
        assert_eq!(classify(b"4312[{}]"), Packet::Ack(12, b"[{}]"));
        assert_eq!(classify(b"44{}"), Packet::ConnectError(b"{}"));
        assert_eq!(classify(b"41"), Packet::Disconnect);
    }

    #[test]
    fn builds_event_packets() {
        let mut out = Vec::new();
        event_packet(&mut out, Some(3), "join", &json_str("lobby"));
        assert_eq!(out, b"423[\"join\",\"lobby\"]");
        out.clear();
        event_packet(&mut out, None, "message", "{}");
        assert_eq!(out, b"42[\"message\",{}]");
    }
}
