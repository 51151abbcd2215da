//! The WebSocket transport: the opening handshake, the connection's I/O, and the upgrade probe of a polling
//! session.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::packet::{self, Packet};
use super::session::{Session, Transport};
use crate::ws::frame::{self, FrameReader, Opcode, WsMessage};

/// Bytes read from sockets go through one scratch buffer per thread; a connection keeps only the bytes of an
/// incomplete frame.
const SCRATCH_SIZE: usize = 64 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; SCRATCH_SIZE]);
}

/// An upgraded connection and its frame reader.
pub struct WsIo {
    pub(crate) io: TokioIo<Upgraded>,
    pub(crate) reader: FrameReader,
}

impl std::fmt::Debug for WsIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsIo")
    }
}

/// What one read produced.
pub(crate) enum ReadOutcome {
    /// Nothing available now.
    Pending,
    /// The peer closed the connection (EOF or a close frame).
    Closed,
    /// The peer broke the WebSocket protocol: the close code to send.
    Failed(u16),
    /// Some messages were read.
    Read,
}

impl WsIo {
    pub(crate) fn new(io: Upgraded, max_message: usize) -> Self {
        Self {
            io: TokioIo::new(io),
            reader: FrameReader::new(max_message),
        }
    }

    /// Reads what the socket has now into the per-thread scratch buffer and decodes it into `out`.
    pub(crate) fn poll_read_messages(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<WsMessage>,
    ) -> ReadOutcome {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let mut buf = ReadBuf::new(&mut scratch[..]);
            match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                Poll::Pending => ReadOutcome::Pending,
                // A reset connection is a close, as Node reports it ("transport close").
                Poll::Ready(Err(_)) => ReadOutcome::Closed,
                Poll::Ready(Ok(())) if buf.filled().is_empty() => ReadOutcome::Closed,
                Poll::Ready(Ok(())) => match self.reader.feed(buf.filled(), out) {
                    Ok(()) => ReadOutcome::Read,
                    Err(err) => ReadOutcome::Failed(err.close_code()),
                },
            }
        })
    }

    /// Writes `data` completely (used for the few frames written outside the session's queue).
    pub(crate) async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let mut written = 0;
        while written < data.len() {
            let n = poll_fn(|cx| Pin::new(&mut self.io).poll_write(cx, &data[written..])).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += n;
        }
        poll_fn(|cx| Pin::new(&mut self.io).poll_flush(cx)).await
    }

    /// Writes a text frame.
    pub(crate) async fn write_text(&mut self, text: &[u8]) -> io::Result<()> {
        let mut header = [0u8; 10];
        let n = frame::header(Opcode::Text, text.len(), &mut header);
        let mut data = Vec::with_capacity(n + text.len());
        data.extend_from_slice(&header[..n]);
        data.extend_from_slice(text);
        self.write_all(&data).await
    }
}

/// Whether the request asks for a WebSocket upgrade.
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

/// The `101 Switching Protocols` answer, or `None` when the request is not a valid version 13 upgrade.
pub(crate) fn accept<B: From<Bytes>>(headers: &HeaderMap) -> Option<Response<B>> {
    if headers.get(header::SEC_WEBSOCKET_VERSION)?.as_bytes() != b"13" {
        return None;
    }
    let key = headers.get(header::SEC_WEBSOCKET_KEY)?;
    let accept = frame::accept_key(key.as_bytes());
    let mut res = Response::new(B::from(Bytes::new()));
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        header::HeaderValue::from_str(&accept).ok()?,
    );
    Some(res)
}

/// Runs the upgrade of a polling session to `ws`: answers `2probe` with `3probe`, makes the pending poll
/// return (`6`), and on `5` hands the connection to the session's task. Anything else, or no `5` within
/// `upgradeTimeout`, closes this WebSocket and leaves the session on polling.
pub(crate) async fn probe(session: Arc<Session>, mut ws: WsIo) {
    let timeout = session.engine.config.upgrade_timeout;
    let outcome = tokio::time::timeout(timeout, probe_exchange(&session, &mut ws)).await;
    let (upgraded, after) = match outcome {
        Ok(Some(after)) => (true, after),
        _ => (false, Vec::new()),
    };
    let mut state = session.lock();
    state.upgrading = false;
    state.probed = false;
    if upgraded && state.closing.is_none() {
        state.transport = Transport::WebSocket;
        session
            .engine
            .stats
            .polling_sessions
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = &session.engine.hooks {
            h.transport_upgraded(session.id);
        }
        state.handoff = Some(Box::new(ws));
        state.wake_all();
        drop(state);
        // What the client sent right after `5`, read together with it.
        for message in after {
            let packet = match message {
                WsMessage::Text(text) => packet::decode_text(text),
                WsMessage::Binary(data) => packet::decode_binary(session.protocol, data),
                _ => continue,
            };
            match packet {
                Ok(p) => session.on_packet(p),
                Err(_) => session.close(super::reason::DisconnectReason::ParseError),
            }
        }
    }
}

/// The probe exchange; when the client sent `5`, the messages that came after it in the same read.
async fn probe_exchange(session: &Arc<Session>, ws: &mut WsIo) -> Option<Vec<WsMessage>> {
    let mut messages = Vec::new();
    loop {
        let outcome = poll_fn(|cx| match ws.poll_read_messages(cx, &mut messages) {
            ReadOutcome::Pending => Poll::Pending,
            other => Poll::Ready(other),
        })
        .await;
        if !matches!(outcome, ReadOutcome::Read) {
            return None;
        }
        let mut read = std::mem::take(&mut messages).into_iter();
        while let Some(message) = read.next() {
            let packet = match message {
                WsMessage::Text(text) => packet::decode_text(text),
                WsMessage::Binary(data) => packet::decode_binary(session.protocol, data),
                WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                WsMessage::Close(_) => return None,
            };
            match packet {
                Ok(Packet::Ping(data)) if data.as_ref() == b"probe" => {
                    if ws.write_text(b"3probe").await.is_err() {
                        return None;
                    }
                    // A pending poll answers `6` while upgrading, so the client can finish the upgrade.
                    let mut state = session.lock();
                    state.probed = true;
                    if let Some(w) = &state.poller {
                        w.wake_by_ref();
                    }
                }
                Ok(Packet::Upgrade) => return Some(read.collect()),
                _ => return None,
            }
        }
    }
}
