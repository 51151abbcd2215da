//! The server side of RFC 6455 framing (pure, no I/O): reading client frames, writing server frames, and the
//! handshake's accept key.
//!
//! Why our own: an idle connection must hold no read buffer (the connection loop reads into a per-thread
//! scratch buffer and hands the bytes to [`FrameReader::feed`]), and a broadcast frame is encoded once and
//! shared, so the writer only needs a header ([`header`]) in front of a shared payload. General-purpose codecs
//! keep a buffer per connection and own the payload.

use base64::Engine as _;
use bytes::Bytes;

/// A frame's opcode (RFC 6455 section 5.2); the reserved opcodes are refused when reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// A further fragment of a text or binary message.
    Continuation,
    /// The first (or only) frame of a UTF-8 text message.
    Text,
    /// The first (or only) frame of a binary message.
    Binary,
    /// The closing handshake.
    Close,
    /// A ping, to be answered by a pong with the same payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    /// The opcode's 4-bit value on the wire.
    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xa,
        }
    }

    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            _ => return None,
        })
    }

    fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A complete message read from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text message, already checked to be UTF-8.
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping with its payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong with its payload.
    Pong(Bytes),
    /// A close frame with its status code, if any (the reason text is checked, then dropped: nothing uses it).
    Close(Option<u16>),
}

/// Why the client's bytes end the connection; [`WsError::close_code`] is the code to close with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A message longer than the reader's maximum.
    #[error("message exceeds the maximum size")]
    TooBig,
    /// A text message or close reason that is not UTF-8.
    #[error("invalid UTF-8 in a text message or close reason")]
    InvalidUtf8,
    /// Any other violation of RFC 6455.
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
}

impl WsError {
    /// The close status code Node's `ws` sends for this error: 1009 (message too big), 1007 (invalid payload
    /// data), 1002 (protocol error).
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::TooBig => 1009,
            WsError::InvalidUtf8 => 1007,
            WsError::Protocol(_) => 1002,
        }
    }
}

/// A parsed frame header.
struct Header {
    fin: bool,
    opcode: Opcode,
    mask: [u8; 4],
    /// Header length in bytes, mask included.
    header_len: usize,
    /// Payload length in bytes.
    len: usize,
}

impl Header {
    fn total(&self) -> usize {
        // Cannot overflow: `len` was checked against the reader's maximum, and the caller refuses a maximum
        // that leaves no room for a header (see `FrameReader::new`).
        self.header_len.saturating_add(self.len)
    }
}

/// The result of looking at the start of a frame.
enum Parse {
    /// At least this many bytes (from the frame's start) are needed to read the header.
    Need(usize),
    /// The header is complete and valid.
    Frame(Header),
}

/// Where a complete frame's bytes are.
enum Source<'a> {
    /// The payload, still masked, in the caller's input.
    Borrowed(&'a [u8]),
    /// The whole frame, header included, collected over several calls; its payload is unmasked in place.
    Owned(Vec<u8>),
}

/// Reads the client's frames from the bytes the connection receives, however they are split.
///
/// Between calls it keeps only the bytes of an incomplete frame and the payload of an incomplete fragmented
/// message; both are released (not just cleared) once complete, so an idle connection holds no heap memory.
/// After `feed` returns an error the connection must be closed; the reader's state is then meaningless.
#[derive(Debug)]
pub struct FrameReader {
    /// The largest message accepted, in payload bytes (fragments summed).
    max_message: usize,
    /// The raw (masked) bytes of an incomplete frame, header included; never more than one frame.
    partial: Vec<u8>,
    /// The unmasked payload of an incomplete fragmented message.
    message: Vec<u8>,
    /// The opcode (text or binary) of the fragmented message in progress.
    fragmented: Option<Opcode>,
}

/// The largest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;

impl FrameReader {
    /// A reader refusing messages longer than `max_message` bytes (clamped so a frame's size always fits a
    /// `usize`).
    pub fn new(max_message: usize) -> Self {
        FrameReader {
            max_message: max_message.min(usize::MAX - MAX_HEADER),
            partial: Vec::new(),
            message: Vec::new(),
            fragmented: None,
        }
    }

    /// True when no frame or fragmented message is in progress (and so no buffer is held).
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty() && self.fragmented.is_none()
    }

    /// Reads `input`, appending each completed message to `out`.
    ///
    /// Frames complete within `input` are read from it directly (an unfragmented message costs one allocation,
    /// its payload); only the tail of an incomplete frame is copied and kept. A header is checked as soon as it
    /// is complete, so a frame announcing more than the maximum fails before any of its payload is stored.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<WsMessage>) -> Result<(), WsError> {
        // First finish the frame an earlier call started.
        while !self.partial.is_empty() {
            let need = match self.parse(&self.partial)? {
                Parse::Need(n) => n,
                Parse::Frame(h) if self.partial.len() >= h.total() => {
                    let frame = std::mem::take(&mut self.partial);
                    self.on_frame(&h, Source::Owned(frame), out)?;
                    break;
                }
                Parse::Frame(h) => h.total(),
            };
            if !self.fill(need, &mut input) {
                return Ok(());
            }
        }
        while !input.is_empty() {
            let need = match self.parse(input)? {
                Parse::Need(n) => n,
                Parse::Frame(h) if input.len() >= h.total() => {
                    let (frame, rest) = input.split_at(h.total());
                    self.on_frame(&h, Source::Borrowed(&frame[h.header_len..]), out)?;
                    input = rest;
                    continue;
                }
                Parse::Frame(h) => h.total(),
            };
            // `input` is shorter than `need`, which is a header size or a checked frame size: bounded.
            debug_assert!(input.len() < need);
            self.partial = input.to_vec();
            return Ok(());
        }
        Ok(())
    }

    /// Moves bytes from `input` into `partial` until it holds `need` bytes; false if `input` ran out first.
    fn fill(&mut self, need: usize, input: &mut &[u8]) -> bool {
        let missing = need.saturating_sub(self.partial.len());
        let take = missing.min(input.len());
        let len = self.partial.len();
        if len + take > self.partial.capacity() {
            // Grow geometrically (few copies when a large frame trickles in) but never past the frame's size,
            // which the header check bounded.
            let target = (len + take).max(self.partial.capacity() * 2).min(need);
            self.partial.reserve_exact(target - len);
        }
        self.partial.extend_from_slice(&input[..take]);
        *input = &input[take..];
        self.partial.len() >= need
    }

    /// Reads and checks the header at the start of `buf`.
    fn parse(&self, buf: &[u8]) -> Result<Parse, WsError> {
        let [b0, b1, ..] = *buf else {
            return Ok(Parse::Need(2));
        };
        if b0 & 0x70 != 0 {
            return Err(WsError::Protocol(
                "reserved bits set without a negotiated extension",
            ));
        }
        let opcode = Opcode::from_bits(b0 & 0x0f).ok_or(WsError::Protocol("reserved opcode"))?;
        let fin = b0 & 0x80 != 0;
        if b1 & 0x80 == 0 {
            return Err(WsError::Protocol("client frame not masked"));
        }
        let len7 = b1 & 0x7f;
        if opcode.is_control() {
            if !fin {
                return Err(WsError::Protocol("fragmented control frame"));
            }
            if len7 > 125 {
                return Err(WsError::Protocol("control frame payload over 125 bytes"));
            }
        } else if opcode == Opcode::Continuation && self.fragmented.is_none() {
            return Err(WsError::Protocol(
                "continuation frame without a message in progress",
            ));
        } else if opcode != Opcode::Continuation && self.fragmented.is_some() {
            return Err(WsError::Protocol("new message inside a fragmented message"));
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header_len = 2 + ext + 4;
        if buf.len() < header_len {
            return Ok(Parse::Need(header_len));
        }
        let len = match ext {
            2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
            8 => {
                let mut bytes = [0; 8];
                bytes.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(bytes);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol(
                        "payload length with the most significant bit set",
                    ));
                }
                len
            }
            _ => u64::from(len7),
        };
        let len = usize::try_from(len).map_err(|_| WsError::TooBig)?;
        if !opcode.is_control() && self.message.len().saturating_add(len) > self.max_message {
            return Err(WsError::TooBig);
        }
        let mut mask = [0; 4];
        mask.copy_from_slice(&buf[header_len - 4..header_len]);
        Ok(Parse::Frame(Header {
            fin,
            opcode,
            mask,
            header_len,
            len,
        }))
    }

    /// Handles a complete, checked frame.
    fn on_frame(
        &mut self,
        h: &Header,
        src: Source<'_>,
        out: &mut Vec<WsMessage>,
    ) -> Result<(), WsError> {
        match h.opcode {
            Opcode::Text | Opcode::Binary if h.fin => {
                let payload = unmasked(h, src);
                out.push(data_message(h.opcode, payload)?);
            }
            Opcode::Text | Opcode::Binary | Opcode::Continuation => {
                if h.opcode != Opcode::Continuation {
                    self.fragmented = Some(h.opcode);
                }
                let payload = match &src {
                    Source::Borrowed(p) => p,
                    Source::Owned(frame) => &frame[h.header_len..],
                };
                let start = self.message.len();
                self.message.extend_from_slice(payload);
                unmask(&mut self.message[start..], h.mask);
                if h.fin {
                    let opcode = self.fragmented.take().unwrap_or(Opcode::Binary);
                    // `take` leaves `Vec::new()`: the buffer goes with the message.
                    let payload = Bytes::from(std::mem::take(&mut self.message));
                    out.push(data_message(opcode, payload)?);
                }
            }
            Opcode::Ping => out.push(WsMessage::Ping(unmasked(h, src))),
            Opcode::Pong => out.push(WsMessage::Pong(unmasked(h, src))),
            Opcode::Close => out.push(close_message(&unmasked(h, src))?),
        }
        Ok(())
    }
}

/// A completed text or binary message; text is checked here, once the whole message is known.
fn data_message(opcode: Opcode, payload: Bytes) -> Result<WsMessage, WsError> {
    if opcode == Opcode::Text {
        std::str::from_utf8(&payload).map_err(|_| WsError::InvalidUtf8)?;
        Ok(WsMessage::Text(payload))
    } else {
        Ok(WsMessage::Binary(payload))
    }
}

/// Reads a close frame's payload: empty, or a valid status code and a UTF-8 reason.
fn close_message(payload: &[u8]) -> Result<WsMessage, WsError> {
    match payload {
        [] => Ok(WsMessage::Close(None)),
        [_] => Err(WsError::Protocol("close frame with a one-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // The codes a peer may send (RFC 6455 section 7.4, as `ws` checks them).
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(WsError::Protocol("invalid close code"));
            }
            std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(WsMessage::Close(Some(code)))
        }
    }
}

/// The frame's payload, unmasked, as `Bytes`: one exact allocation for a borrowed payload, none for a frame
/// already collected in a buffer (the buffer becomes the message).
fn unmasked(h: &Header, src: Source<'_>) -> Bytes {
    match src {
        Source::Borrowed(payload) => {
            let mut data = payload.to_vec();
            unmask(&mut data, h.mask);
            Bytes::from(data)
        }
        Source::Owned(mut frame) => {
            unmask(&mut frame[h.header_len..], h.mask);
            Bytes::from(frame).slice(h.header_len..)
        }
    }
}

/// XORs `data` with the masking key (the key restarts at each frame's payload).
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = data.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let mut bytes = [0; 4];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (byte, m) in chunks.into_remainder().iter_mut().zip(mask) {
        *byte ^= m;
    }
}

/// Writes a server frame header (FIN set, unmasked) for a payload of `payload_len` bytes into `out` and
/// returns its length (2, 4 or 10); the payload follows in the same vectored write.
pub fn header(opcode: Opcode, payload_len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x80 | opcode.bits();
    if payload_len < 126 {
        out[1] = payload_len as u8;
        2
    } else if let Ok(len) = u16::try_from(payload_len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
        10
    }
}

/// A complete server control frame. The payload is cut to 125 bytes, the most a control frame may carry
/// (the engine's pings and close reasons are far shorter).
pub fn control_frame(opcode: Opcode, payload: &[u8]) -> Bytes {
    let payload = &payload[..payload.len().min(125)];
    let mut head = [0; 10];
    let n = header(opcode, payload.len(), &mut head);
    let mut frame = Vec::with_capacity(n + payload.len());
    frame.extend_from_slice(&head[..n]);
    frame.extend_from_slice(payload);
    Bytes::from(frame)
}

/// A close frame carrying `code` and no reason.
pub fn close_frame(code: u16) -> Bytes {
    control_frame(Opcode::Close, &code.to_be_bytes())
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key` (RFC 6455 section 4.2.2): base64 of the
/// SHA-1 of the key followed by the protocol's GUID.
pub fn accept_key(sec_websocket_key: &[u8]) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(sec_websocket_key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn client_frame(b0: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut f = vec![b0];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xffff => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    const M: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn read(max: usize, input: &[u8]) -> Result<Vec<WsMessage>, WsError> {
        let mut r = FrameReader::new(max);
        let mut out = Vec::new();
        r.feed(input, &mut out)?;
        Ok(out)
    }

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 section 5.7: a single-frame masked text message "Hello".
        let frame = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        assert_eq!(
            read(100, &frame),
            Ok(vec![WsMessage::Text(Bytes::from_static(b"Hello"))])
        );
    }

    #[test]
    fn fragmented_with_interleaved_ping() {
        let mut input = client_frame(0x01, b"Hel", M);
        input.extend(client_frame(0x89, b"p", [1, 2, 3, 4]));
        input.extend(client_frame(0x00, b"lo", [9, 9, 9, 9]));
        input.extend(client_frame(0x80, "😀".as_bytes(), M));
        assert_eq!(
            read(100, &input),
            Ok(vec![
                WsMessage::Ping(Bytes::from_static(b"p")),
                WsMessage::Text(Bytes::from("Hello😀")),
            ])
        );
    }

    #[test]
    fn lengths_16_and_64_bit() {
        let mid = vec![7u8; 300];
        let big = vec![9u8; 70_000];
        let mut input = client_frame(0x82, &mid, M);
        input.extend(client_frame(0x82, &big, M));
        assert_eq!(
            read(100_000, &input),
            Ok(vec![
                WsMessage::Binary(Bytes::from(mid)),
                WsMessage::Binary(Bytes::from(big))
            ])
        );
    }

    #[test]
    fn too_big_fails_on_the_header() {
        // Only the header of a 1,001-byte frame: refused before any payload arrives.
        let frame = client_frame(0x82, &[0; 1001], M);
        let mut r = FrameReader::new(1000);
        assert_eq!(r.feed(&frame[..8], &mut Vec::new()), Err(WsError::TooBig));
        // Fragments are summed.
        let mut input = client_frame(0x02, &[0; 600], M);
        input.extend(client_frame(0x80, &[0; 401], M));
        assert_eq!(read(1000, &input), Err(WsError::TooBig));
        assert_eq!(read(1001, &input).map(|m| m.len()), Ok(1));
        assert_eq!(WsError::TooBig.close_code(), 1009);
    }

    #[test]
    fn protocol_errors() {
        let unmasked = [0x81, 0x01, b'a'];
        assert_eq!(
            read(100, &unmasked),
            Err(WsError::Protocol("client frame not masked"))
        );
        let cases: [(Vec<u8>, u16); 9] = [
            (client_frame(0xc1, b"a", M), 1002),                   // RSV1
            (client_frame(0x83, b"a", M), 1002),                   // reserved opcode
            (client_frame(0x80, b"a", M), 1002),                   // continuation first
            (client_frame(0x09, b"a", M), 1002),                   // fragmented ping
            (client_frame(0x89, &[0; 126], M), 1002),              // long ping
            (client_frame(0x88, &[3], M), 1002),                   // one-byte close
            (client_frame(0x88, &1005u16.to_be_bytes(), M), 1002), // reserved close code
            (client_frame(0x81, &[0xff], M), 1007),                // bad UTF-8
            (client_frame(0x88, &[3, 0xe8, 0xff], M), 1007),       // bad close reason
        ];
        for (frame, code) in cases {
            let err = read(1000, &frame).expect_err("must fail");
            assert_eq!(err.close_code(), code, "{frame:?}: {err}");
        }
        let mut nested = client_frame(0x01, b"a", M);
        nested.extend(client_frame(0x81, b"b", M));
        assert!(matches!(read(100, &nested), Err(WsError::Protocol(_))));
        let mut huge = vec![0x82, 0xff];
        huge.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0]);
        huge.extend_from_slice(&M);
        assert!(matches!(read(usize::MAX, &huge), Err(WsError::Protocol(_))));
    }

    #[test]
    fn close_frames() {
        assert_eq!(
            read(10, &client_frame(0x88, b"", M)),
            Ok(vec![WsMessage::Close(None)])
        );
        let mut p = 1000u16.to_be_bytes().to_vec();
        p.extend_from_slice(b"bye");
        assert_eq!(
            read(10, &client_frame(0x88, &p, M)),
            Ok(vec![WsMessage::Close(Some(1000))])
        );
        assert_eq!(
            read(10, &client_frame(0x88, &4000u16.to_be_bytes(), M)),
            Ok(vec![WsMessage::Close(Some(4000))])
        );
    }

    #[test]
    fn keeps_only_the_incomplete_frame_and_releases_it() {
        let mut input = client_frame(0x82, &[1; 10], M);
        let second = client_frame(0x82, &[2; 300], M);
        input.extend_from_slice(&second);
        let mut r = FrameReader::new(1000);
        let mut out = Vec::new();
        r.feed(&input[..20], &mut out).expect("valid");
        assert_eq!(out.len(), 1);
        assert!(!r.is_idle());
        assert_eq!(r.partial.len(), 20 - 16);
        r.feed(&input[20..], &mut out).expect("valid");
        assert_eq!(
            out,
            vec![
                WsMessage::Binary(Bytes::from(vec![1; 10])),
                WsMessage::Binary(Bytes::from(vec![2; 300])),
            ]
        );
        assert!(r.is_idle());
        assert_eq!(r.partial.capacity(), 0);
        assert_eq!(r.message.capacity(), 0);
        // A fragmented message's buffer is released once complete.
        let mut frag = client_frame(0x01, b"ab", M);
        frag.extend(client_frame(0x80, b"c", M));
        r.feed(&frag[..8], &mut out).expect("valid");
        assert!(!r.is_idle());
        r.feed(&frag[8..], &mut out).expect("valid");
        assert!(r.is_idle());
        assert_eq!(r.message.capacity(), 0);
        assert_eq!(
            out.last(),
            Some(&WsMessage::Text(Bytes::from_static(b"abc")))
        );
    }

    #[test]
    fn reader_is_small() {
        assert!(
            size_of::<FrameReader>() <= 64,
            "{}",
            size_of::<FrameReader>()
        );
    }

    #[test]
    fn server_headers() {
        let mut h = [0; 10];
        assert_eq!(header(Opcode::Text, 5, &mut h), 2);
        assert_eq!(h[..2], [0x81, 5]);
        assert_eq!(header(Opcode::Binary, 126, &mut h), 4);
        assert_eq!(h[..4], [0x82, 126, 0, 126]);
        assert_eq!(header(Opcode::Binary, 65_535, &mut h), 4);
        assert_eq!(header(Opcode::Text, 65_536, &mut h), 10);
        assert_eq!(h, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn control_frames() {
        assert_eq!(&close_frame(1000)[..], &[0x88, 2, 0x03, 0xe8]);
        assert_eq!(&control_frame(Opcode::Ping, b"x")[..], &[0x89, 1, b'x']);
        assert_eq!(control_frame(Opcode::Pong, &[0; 200]).len(), 2 + 125);
    }

    #[test]
    fn rfc_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
