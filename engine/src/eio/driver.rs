//! The one task of each session: heartbeat, the client's messages in order, and, on WebSocket, reading and
//! writing the connection.
//!
//! A single hand-written `poll` keeps the task small (no channels, no second task, no buffer while idle) and
//! lets a broadcast wake exactly one task per recipient. Writes take everything queued and put it on the wire
//! with one vectored write, so frames coalesce under load.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::AsyncWrite;
use tokio::time::{Instant, Sleep};

use super::packet::{self, Frame, Protocol};
use super::reason::DisconnectReason;
use super::session::{PollEnd, Session, register};
use super::websocket::{ReadOutcome, WsIo};
use crate::ws::frame::{self, Opcode, WsMessage};

/// How long a closing polling session waits for the client's next poll to deliver the close packet (Node's
/// `closeTimeout`).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a closing WebSocket session may take to flush what it still has to write.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Frames written per vectored write.
const MAX_IOVECS: usize = 64;

/// Client messages handled per poll before yielding to other tasks.
const MESSAGES_PER_POLL: usize = 16;

/// Reads per poll before yielding to other tasks.
const READS_PER_POLL: usize = 16;

/// Spawns the task of `session`, on `ws` when the session opened over WebSocket.
pub(crate) fn spawn(
    session: Arc<Session>,
    ws: Option<WsIo>,
    first: Option<BoxFuture<'static, ()>>,
) {
    tokio::spawn(Driver::new(session, ws, first).run());
}

/// Spawns the task of a session opened over WebSocket, once hyper hands over the upgraded connection.
pub(crate) fn spawn_upgrading(
    session: Arc<Session>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    max: usize,
    first: Option<BoxFuture<'static, ()>>,
) {
    tokio::spawn(async move {
        let ws = match on_upgrade.await {
            Ok(io) => Some(WsIo::new(io, max)),
            Err(_) => {
                session.close(DisconnectReason::TransportError);
                None
            }
        };
        Driver::new(session, ws, first).run().await;
    });
}

struct Driver {
    session: Arc<Session>,
    ws: Option<WsIo>,
    sleep: Pin<Box<Sleep>>,
    /// The socket.io handler of the message being processed; the next message waits for it.
    handler: Option<BoxFuture<'static, ()>>,
    /// Frames taken from the queue and being written.
    writing: VecDeque<Frame>,
    /// Bytes of the first frame of `writing` (header included) already written.
    head_written: usize,
    /// A WebSocket control frame to write before the next batch (pong to a WebSocket ping).
    control: Option<Bytes>,
    /// The close frame to end the connection with (an answer to the client's, or a protocol error's code);
    /// an empty one (Node's `ws.close()`) otherwise. Written once, last.
    close: Option<Bytes>,
    /// The session is closing: flush what may be flushed, then end.
    closing: bool,
}

impl Driver {
    fn new(session: Arc<Session>, ws: Option<WsIo>, first: Option<BoxFuture<'static, ()>>) -> Self {
        let deadline = session.lock().next_timer();
        Self {
            session,
            ws,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            handler: first,
            writing: VecDeque::new(),
            head_written: 0,
            control: None,
            close: None,
            closing: false,
        }
    }

    async fn run(mut self) {
        poll_fn(|cx| self.poll(cx)).await;
        // Boxed: the closing write and its timer would otherwise be part of every session's task while idle.
        Box::pin(self.finish()).await;
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let mut progress = false;

            // Closing: the transport gets what it should still get, then the task ends.
            let (closing, handoff) = {
                let mut state = self.session.lock();
                register(&mut state.driver, cx.waker());
                let next = state.next_timer();
                if state.closing.is_none() && next < self.sleep.deadline() {
                    // A pong moved the next ping earlier than the pending timer.
                    self.sleep.as_mut().reset(next);
                }
                (state.closing, state.handoff.take())
            };
            if let Some(ws) = handoff.map(|ws| *ws) {
                self.ws = Some(ws);
                progress = true;
            }
            if let Some((reason, end)) = closing {
                if !self.closing {
                    self.closing = true;
                    self.close_sockets(reason);
                    let grace = if self.ws.is_some() {
                        FLUSH_TIMEOUT
                    } else {
                        CLOSE_TIMEOUT
                    };
                    self.sleep.as_mut().reset(Instant::now() + grace);
                }
                return self.poll_close(cx, end);
            }

            // Heartbeat.
            if self.sleep.as_mut().poll(cx).is_ready() {
                match self.session.on_heartbeat() {
                    Some(next) => self.sleep.as_mut().reset(next),
                    None => continue,
                }
                progress = true;
            }

            // The message being handled, then the next ones in order.
            if let Some(handler) = &mut self.handler
                && handler.as_mut().poll(cx).is_ready()
            {
                self.handler = None;
                progress = true;
            }
            let mut handled = 0;
            while self.handler.is_none() {
                if handled == MESSAGES_PER_POLL {
                    // Fairness: other sessions (the recipients of what this one sends) get to run.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let Some(message) = self.session.lock().inbound.pop_front() else {
                    break;
                };
                handled += 1;
                progress = true;
                if let Some(mut handler) = crate::sio::client::on_message(&self.session, message)
                    && handler.as_mut().poll(cx).is_pending()
                {
                    self.handler = Some(handler);
                }
                let mut state = self.session.lock();
                state.inbound_handled += 1;
                if let Some(w) = &state.poster {
                    w.wake_by_ref();
                }
            }

            if self.ws.is_some() {
                match self.poll_read(cx) {
                    Poll::Ready(true) => progress = true,
                    Poll::Ready(false) => continue,
                    Poll::Pending => {}
                }
                match self.poll_write(cx) {
                    Poll::Ready(Ok(wrote)) => progress |= wrote,
                    Poll::Ready(Err(())) => {
                        self.session.close(DisconnectReason::TransportClose);
                        continue;
                    }
                    Poll::Pending => {}
                }
            }

            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// The socket.io side of the close. Node handles each packet as it arrives, so what the client sent before
    /// the transport closed counts first: a DISCONNECT followed by a close is a `client namespace disconnect`,
    /// an event sent just before the close still reaches its handler. Usually nothing is left and the sockets
    /// finish at once; otherwise the handler in progress and the messages still queued run to completion, in
    /// order, in a task of their own (at most [`super::session::INBOUND_LIMIT`] messages), and the sockets
    /// finish after them.
    fn close_sockets(&mut self, reason: DisconnectReason) {
        let current = self.handler.take();
        let backlog = std::mem::take(&mut self.session.lock().inbound);
        if current.is_none() && backlog.is_empty() {
            crate::sio::client::on_close(&self.session, reason);
            return;
        }
        let session = self.session.clone();
        tokio::spawn(async move {
            if let Some(handler) = current {
                handler.await;
            }
            for message in backlog {
                if let Some(handler) = crate::sio::client::on_message(&session, message) {
                    handler.await;
                }
            }
            crate::sio::client::on_close(&session, reason);
        });
    }

    /// Reads and handles what the WebSocket has. `Ready(true)`: something was read; `Ready(false)`: the
    /// session is now closing.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(ws) = &mut self.ws else {
            return Poll::Pending;
        };
        let mut read = false;
        let mut messages = Vec::new();
        for _ in 0..READS_PER_POLL {
            if self.session.lock().inbound.len() >= super::session::INBOUND_LIMIT {
                // Back-pressure: read again once the handlers caught up (the loop polls again after each).
                break;
            }
            match ws.poll_read_messages(cx, &mut messages) {
                ReadOutcome::Pending => break,
                ReadOutcome::Closed => {
                    self.session.close(DisconnectReason::TransportClose);
                    return Poll::Ready(false);
                }
                ReadOutcome::Failed(code) => {
                    self.close = Some(frame::close_frame(code));
                    self.session.close(DisconnectReason::TransportError);
                    return Poll::Ready(false);
                }
                ReadOutcome::Read => read = true,
            }
            for message in messages.drain(..) {
                let decoded = match message {
                    WsMessage::Text(text) => packet::decode_text(text),
                    WsMessage::Binary(data) => packet::decode_binary(self.session.protocol, data),
                    WsMessage::Ping(data) => {
                        self.control = Some(frame::control_frame(Opcode::Pong, &data));
                        continue;
                    }
                    WsMessage::Pong(_) => continue,
                    WsMessage::Close(_) => {
                        self.close = Some(frame::close_frame(1000));
                        self.session.close(DisconnectReason::TransportClose);
                        return Poll::Ready(false);
                    }
                };
                match decoded {
                    Ok(p) => self.session.on_packet(p),
                    Err(_) => {
                        self.session.close(DisconnectReason::ParseError);
                        return Poll::Ready(false);
                    }
                }
            }
        }
        if read {
            Poll::Ready(true)
        } else {
            Poll::Pending
        }
    }

    /// Writes queued frames. `Ready(Ok(true))`: wrote something and may write more; `Ready(Ok(false))`: nothing
    /// queued; `Ready(Err)`: the connection failed.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, ()>> {
        let Some(ws) = &mut self.ws else {
            return Poll::Ready(Ok(false));
        };
        if let Some(control) = &self.control {
            match Pin::new(&mut ws.io).poll_write(cx, control) {
                Poll::Ready(Ok(n)) if n == control.len() => self.control = None,
                // A control frame is tiny: a partial write of it means the peer is gone or stuck.
                Poll::Ready(Ok(_)) | Poll::Ready(Err(_)) => return Poll::Ready(Err(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.writing.is_empty() {
            let mut state = self.session.lock();
            if state.outbox.is_empty() {
                return Poll::Ready(Ok(false));
            }
            self.writing = std::mem::take(&mut state.outbox);
            self.head_written = 0;
        }
        let v3 = self.session.protocol == Protocol::V3;
        let count = self.writing.len().min(MAX_IOVECS);
        let mut headers = [[0u8; 11]; MAX_IOVECS];
        let mut lens = [0usize; MAX_IOVECS];
        for (i, f) in self.writing.iter().take(count).enumerate() {
            lens[i] = frame_header(f, v3, &mut headers[i]);
        }
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(count * 2);
        let mut skip = self.head_written;
        for (i, f) in self.writing.iter().take(count).enumerate() {
            let header = &headers[i][..lens[i]];
            let payload = frame_payload(f);
            if skip >= header.len() {
                let s = skip - header.len();
                skip = 0;
                slices.push(IoSlice::new(&payload[s..]));
            } else {
                slices.push(IoSlice::new(&header[skip..]));
                skip = 0;
                slices.push(IoSlice::new(payload));
            }
        }
        let n = match Pin::new(&mut ws.io).poll_write_vectored(cx, &slices) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) | Poll::Ready(Ok(0)) => return Poll::Ready(Err(())),
            Poll::Ready(Ok(n)) => n,
        };
        drop(slices);
        // Advance over what was written.
        let mut left = n + self.head_written;
        let mut done = 0;
        let mut done_bytes = 0;
        for (len, f) in lens.iter().zip(&self.writing).take(count) {
            let total = len + frame_payload(f).len();
            if left < total {
                break;
            }
            left -= total;
            done += 1;
            done_bytes += f.len();
        }
        self.writing.drain(..done);
        self.head_written = left;
        if self.writing.is_empty() {
            // Release the batch's memory while idle.
            self.writing = VecDeque::new();
        }
        self.session.engine.stats.sent(done, n);
        self.session.written(done, done_bytes);
        Poll::Ready(Ok(true))
    }

    /// Closing: WebSocket sessions flush what is queued (nothing for errors and slow consumers) and a close
    /// frame; polling sessions wait for a pending or next poll to take the close packet, at most
    /// [`CLOSE_TIMEOUT`].
    fn poll_close(&mut self, cx: &mut Context<'_>, end: PollEnd) -> Poll<()> {
        if self.ws.is_some() {
            if end != PollEnd::Nothing {
                loop {
                    match self.poll_write(cx) {
                        Poll::Ready(Ok(true)) => {}
                        Poll::Ready(Ok(false)) | Poll::Ready(Err(())) => break,
                        // A peer that does not read does not hold the close up for long.
                        Poll::Pending => {
                            if self.sleep.as_mut().poll(cx).is_pending() {
                                return Poll::Pending;
                            }
                            break;
                        }
                    }
                }
            }
            return Poll::Ready(());
        }
        let state = self.session.lock();
        let delivered = state.closed;
        drop(state);
        if delivered || end != PollEnd::Close || self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Ends the session: a last close frame on WebSocket, the session leaves the registry, a pending poll ends.
    async fn finish(mut self) {
        if let Some(ws) = &mut self.ws {
            // Node's `ws.close()` without a code: an empty close frame (the client sees 1005).
            let close = self
                .close
                .take()
                .unwrap_or_else(|| frame::control_frame(Opcode::Close, &[]));
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.write_all(&close)).await;
        }
        self.ws = None;
        {
            let mut state = self.session.lock();
            state.closed = true;
            state.outbox = VecDeque::new();
            state.inbound = VecDeque::new();
            state.wake_all();
        }
        let reason = self
            .session
            .lock()
            .closing
            .map_or(DisconnectReason::TransportClose, |(r, _)| r);
        self.session.engine.remove(&self.session, reason);
    }
}

/// The WebSocket frame header of `f` (v3 binary messages carry a `0x04` type byte, written as part of the
/// header so the payload stays shared).
fn frame_header(f: &Frame, v3: bool, out: &mut [u8; 11]) -> usize {
    let mut h = [0u8; 10];
    match f {
        Frame::Text(b) => {
            let n = frame::header(Opcode::Text, b.len(), &mut h);
            out[..n].copy_from_slice(&h[..n]);
            n
        }
        Frame::Binary(b) if v3 => {
            let n = frame::header(Opcode::Binary, b.len() + 1, &mut h);
            out[..n].copy_from_slice(&h[..n]);
            out[n] = 4;
            n + 1
        }
        Frame::Binary(b) => {
            let n = frame::header(Opcode::Binary, b.len(), &mut h);
            out[..n].copy_from_slice(&h[..n]);
            n
        }
    }
}

fn frame_payload(f: &Frame) -> &[u8] {
    match f {
        Frame::Text(b) | Frame::Binary(b) => b,
    }
}
