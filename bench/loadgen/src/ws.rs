//! A minimal WebSocket (RFC 6455) endpoint over a tokio `TcpStream`, written for the benchmark's
//! hot paths: frames are parsed in place from one read buffer (many frames per `read()`), no
//! allocation per frame, client frames masked with a per-connection random key.
//!
//! Only what socket.io over WebSocket uses: unfragmented text/binary frames, close, ping and pong.
//! Both ends are here: [`client_handshake`] and [`server_handshake`].

use std::io;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The GUID of RFC 6455 section 1.3.
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest frame payload accepted (socket.io's default `maxHttpBufferSize` is 1 MB).
pub const MAX_FRAME: usize = 4 << 20;

/// Frame opcodes.
pub mod opcode {
    /// Text frame.
    pub const TEXT: u8 = 0x1;
    /// Binary frame.
    pub const BINARY: u8 = 0x2;
    /// Close frame.
    pub const CLOSE: u8 = 0x8;
    /// Ping frame.
    pub const PING: u8 = 0x9;
    /// Pong frame.
    pub const PONG: u8 = 0xA;
}

/// An error with a message, as an `io::Error`.
pub fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// `Sec-WebSocket-Accept` for a key.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Opens a TCP connection to `dst`, from `src` (any port) when given, with `TCP_NODELAY`.
pub async fn tcp_connect(src: Option<IpAddr>, dst: SocketAddr) -> io::Result<TcpStream> {
    let socket = if dst.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = src {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(dst).await?;
    stream.set_nodelay(true)?;
    // Closing resets the connection instead of leaving a TIME_WAIT here: the generator opens and
    // drops tens of thousands of connections per workload.
    stream.set_zero_linger()?;
    Ok(stream)
}

/// Reads an HTTP head (up to the blank line) into `buf`; returns the head's length (the rest of
/// `buf` is what followed it).
pub async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut scanned: usize = 0;
    loop {
        if let Some(pos) = memchr::memmem::find(&buf[scanned.saturating_sub(3)..], b"\r\n\r\n") {
            return Ok(scanned.saturating_sub(3) + pos + 4);
        }
        scanned = buf.len();
        if buf.len() > 64 * 1024 {
            return Err(err("HTTP head over 64 KiB"));
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed in the HTTP head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Performs the client side of the opening handshake on `stream` for `path_and_query` (e.g.
/// `/socket.io/?EIO=4&transport=websocket`); returns the bytes the server sent after its head.
pub async fn client_handshake(
    stream: &mut TcpStream,
    host: &str,
    path_and_query: &str,
) -> io::Result<Vec<u8>> {
    let nonce: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    let key = base64::engine::general_purpose::STANDARD.encode(nonce);
    let req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let head_len = read_head(stream, &mut buf).await?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(err("malformed WebSocket handshake response")),
    }
    if resp.code != Some(101) {
        let body = String::from_utf8_lossy(&buf[head_len..]);
        return Err(err(format!(
            "WebSocket handshake refused: HTTP {} {}",
            resp.code.unwrap_or(0),
            body.chars().take(200).collect::<String>()
        )));
    }
    let expected = accept_key(&key);
    let accept = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|h| h.value);
    if accept != Some(expected.as_bytes()) {
        return Err(err("wrong Sec-WebSocket-Accept"));
    }
    Ok(buf[head_len..].to_vec())
}

/// Reads a WebSocket upgrade request on `stream` and answers `101`; returns the request target
/// (path and query) and the bytes the client sent after its head.
pub async fn server_handshake(stream: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(512);
    let head_len = read_head(stream, &mut buf).await?;
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf[..head_len]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(err("malformed HTTP request")),
    }
    let target = req.path.unwrap_or("/").to_owned();
    let key = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::to_owned);
    let Some(key) = key else {
        stream
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await?;
        return Err(err("not a WebSocket upgrade"));
    };
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    );
    stream.write_all(resp.as_bytes()).await?;
    Ok((target, buf[head_len..].to_vec()))
}

/// Appends one frame with `payload` to `out`; masked (as a client must) when `mask` is set.
pub fn encode_frame(out: &mut Vec<u8>, op: u8, payload: &[u8], mask: Option<[u8; 4]>) {
    out.push(0x80 | op);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            let start = out.len();
            out.extend_from_slice(payload);
            for (i, b) in out[start..].iter_mut().enumerate() {
                *b ^= key[i & 3];
            }
        }
        None => out.extend_from_slice(payload),
    }
}

/// One parsed frame: its opcode and where its (unmasked) payload lies in the read buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The opcode.
    pub op: u8,
    start: usize,
    end: usize,
}

/// A WebSocket connection: the stream, a read buffer parsed in place and a write buffer.
pub struct Ws {
    /// The TCP stream.
    pub stream: TcpStream,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    /// Frames to be written by the next [`Ws::flush`].
    pub wbuf: Vec<u8>,
    mask: Option<[u8; 4]>,
}

impl Ws {
    /// Wraps a stream after the handshake; `leftover` are bytes already read past the HTTP head.
    /// `client` selects masking of outgoing frames; `read_capacity` the initial read buffer.
    pub fn new(stream: TcpStream, leftover: Vec<u8>, client: bool, read_capacity: usize) -> Self {
        let mut rbuf = leftover;
        let rend = rbuf.len();
        let cap = read_capacity.max(rend + 256);
        rbuf.resize(cap, 0);
        let mask = client.then(|| std::array::from_fn(|_| fastrand::u8(..)));
        Self {
            stream,
            rbuf,
            rstart: 0,
            rend,
            wbuf: Vec::new(),
            mask,
        }
    }

    /// The payload of a frame returned by [`Ws::read_frame`] (valid until the next read).
    pub fn payload(&self, f: &Frame) -> &[u8] {
        &self.rbuf[f.start..f.end]
    }

    /// Parses one complete frame from the buffered bytes, if any.
    fn parse(&mut self) -> io::Result<Option<Frame>> {
        let avail = &self.rbuf[self.rstart..self.rend];
        if avail.len() < 2 {
            return Ok(None);
        }
        let b0 = avail[0];
        let b1 = avail[1];
        if b0 & 0x80 == 0 {
            return Err(err("fragmented WebSocket frames are not supported"));
        }
        if b0 & 0x70 != 0 {
            return Err(err("WebSocket extension bits set"));
        }
        let op = b0 & 0x0f;
        let masked = b1 & 0x80 != 0;
        let (len, mut hdr) = match b1 & 0x7f {
            126 => {
                if avail.len() < 4 {
                    return Ok(None);
                }
                (usize::from(u16::from_be_bytes([avail[2], avail[3]])), 4)
            }
            127 => {
                if avail.len() < 10 {
                    return Ok(None);
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&avail[2..10]);
                let len = usize::try_from(u64::from_be_bytes(b)).unwrap_or(usize::MAX);
                (len, 10)
            }
            n => (usize::from(n), 2),
        };
        if len > MAX_FRAME {
            return Err(err(format!("frame of {len} bytes is over the limit")));
        }
        let key = if masked {
            if avail.len() < hdr + 4 {
                return Ok(None);
            }
            let k = [avail[hdr], avail[hdr + 1], avail[hdr + 2], avail[hdr + 3]];
            hdr += 4;
            Some(k)
        } else {
            None
        };
        if avail.len() < hdr + len {
            return Ok(None);
        }
        let start = self.rstart + hdr;
        let end = start + len;
        if let Some(k) = key {
            for (i, b) in self.rbuf[start..end].iter_mut().enumerate() {
                *b ^= k[i & 3];
            }
        }
        self.rstart = end;
        Ok(Some(Frame { op, start, end }))
    }

    /// Makes room for at least `need` more bytes after the buffered ones.
    fn make_room(&mut self, need: usize) {
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        if self.rbuf.len() - self.rend >= need {
            return;
        }
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rend -= self.rstart;
            self.rstart = 0;
        }
        if self.rbuf.len() - self.rend < need {
            let new_len = (self.rend + need).max(self.rbuf.len() * 2);
            self.rbuf.resize(new_len, 0);
        }
    }

    /// Reads more bytes from the stream into the buffer (cancel-safe); `Ok(false)` at EOF.
    pub async fn fill(&mut self) -> io::Result<bool> {
        let pending = self.rend - self.rstart;
        // At least enough room for the frame being assembled, and a useful amount more.
        self.make_room(1024.max(pending + 1).min(MAX_FRAME + 16));
        let n = self.stream.read(&mut self.rbuf[self.rend..]).await?;
        self.rend += n;
        Ok(n > 0)
    }

    /// The next buffered frame, without reading; `Ok(None)` when more bytes are needed.
    pub fn next_buffered(&mut self) -> io::Result<Option<Frame>> {
        self.parse()
    }

    /// Reads until a frame is complete; `Ok(None)` at a clean EOF between frames.
    pub async fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some(f) = self.parse()? {
                return Ok(Some(f));
            }
            if !self.fill().await? {
                if self.rstart == self.rend {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a frame",
                ));
            }
        }
    }

    /// Queues a frame in the write buffer.
    pub fn queue(&mut self, op: u8, payload: &[u8]) {
        encode_frame(&mut self.wbuf, op, payload, self.mask);
    }

    /// Queues already encoded bytes (frames) in the write buffer.
    pub fn queue_raw(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// Writes the write buffer out.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
            if self.wbuf.capacity() > 64 * 1024 {
                self.wbuf.shrink_to(4096);
            }
        }
        Ok(())
    }

    /// Queues and writes one text frame.
    pub async fn send_text(&mut self, payload: &[u8]) -> io::Result<()> {
        self.queue(opcode::TEXT, payload);
        self.flush().await
    }

    /// Shrinks the read buffer back to `cap` when it is empty and larger.
    pub fn shrink(&mut self, cap: usize) {
        if self.rstart == self.rend && self.rbuf.len() > cap {
            self.rstart = 0;
            self.rend = 0;
            self.rbuf.truncate(cap);
            self.rbuf.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn client_framing_against_tungstenite_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            // Echo three messages of different length classes, then close.
            for _ in 0..3 {
                let m = ws.next().await.unwrap().unwrap();
                ws.send(m).await.unwrap();
            }
            ws.send(Message::Text("bye".into())).await.unwrap();
        });
        let mut tcp = tcp_connect(None, addr).await.unwrap();
        let left = client_handshake(&mut tcp, "127.0.0.1", "/x").await.unwrap();
        let mut ws = Ws::new(tcp, left, true, 64);
        let sizes = [5usize, 300, 70_000];
        for n in sizes {
            let p = vec![b'a' + (n % 26) as u8; n];
            ws.send_text(&p).await.unwrap();
            let f = ws.read_frame().await.unwrap().unwrap();
            assert_eq!(f.op, opcode::TEXT);
            assert_eq!(ws.payload(&f), &p[..]);
        }
        let f = ws.read_frame().await.unwrap().unwrap();
        assert_eq!(ws.payload(&f), b"bye");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn server_framing_against_tungstenite_client() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let (target, left) = server_handshake(&mut tcp).await.unwrap();
            assert_eq!(target, "/p?q=1");
            let mut ws = Ws::new(tcp, left, false, 64);
            let f = ws.read_frame().await.unwrap().unwrap();
            let p = ws.payload(&f).to_vec();
            // Two frames in one write.
            ws.queue(opcode::TEXT, &p);
            ws.queue(opcode::TEXT, b"second");
            ws.flush().await.unwrap();
        });
        let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/p?q=1"))
            .await
            .unwrap();
        client.send(Message::Text("hello".into())).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::Text("hello".into())
        );
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::Text("second".into())
        );
        server.await.unwrap();
    }
}
