//! The HTTP long-polling transport: a GET waits for what the server has queued, a POST carries the client's
//! packets.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};

use super::packet::{Frame, Protocol};
use super::payload;
use super::reason::DisconnectReason;
use super::session::{PollEnd, Session, Transport, register};

/// A GET: answers with everything queued, waiting until something is (or the session closes).
pub(crate) async fn get<B: From<Bytes>>(session: Arc<Session>) -> Response<B> {
    {
        let mut state = session.lock();
        if state.polling {
            // Node: "overlap from client" closes the session; the second request gets a bare 400.
            drop(state);
            session.close(DisconnectReason::TransportError);
            return status(StatusCode::BAD_REQUEST);
        }
        state.polling = true;
    }
    // A client that goes away while its poll is pending ends the session, as in Node.
    let guard = PendingPoll(&session);
    let mut first_poll = true;
    let mut arrived_closed = false;
    let (frames, taken) = poll_fn(|cx| {
        let mut state = session.lock();
        if std::mem::replace(&mut first_poll, false) {
            arrived_closed = state.closing.is_some();
        }
        if state.transport != Transport::Polling {
            // The upgrade finished while this poll was pending.
            return Poll::Ready((vec![text(b"1")], false));
        }
        if let Some((_, end)) = state.closing {
            let frames = match end {
                // The server closes: queued packets go first; then a poll pending at the close gets `1`, a
                // later one `6` and `1` (Node's orderly close).
                PollEnd::Close if !state.outbox.is_empty() => {
                    return Poll::Ready((std::mem::take(&mut state.outbox).into(), true));
                }
                PollEnd::Close if arrived_closed => vec![text(b"6"), text(b"1")],
                PollEnd::Close | PollEnd::CloseNow => vec![text(b"1")],
                // The client closed: a pending poll ends with a noop.
                PollEnd::Noop => vec![text(b"6")],
                PollEnd::Nothing => vec![text(b"1")],
            };
            state.closed = true;
            if let Some(w) = &state.driver {
                w.wake_by_ref();
            }
            return Poll::Ready((frames, false));
        }
        if !state.outbox.is_empty() {
            return Poll::Ready((std::mem::take(&mut state.outbox).into(), true));
        }
        if state.probed {
            return Poll::Ready((vec![text(b"6")], false));
        }
        register(&mut state.poller, cx.waker());
        Poll::Pending
    })
    .await;
    guard.disarm();
    if taken {
        let bytes: usize = frames.iter().map(Frame::len).sum();
        session.written(frames.len(), bytes);
    }
    let (body, content_type) =
        payload::encode_payload(session.protocol, &frames, session.supports_binary);
    session.engine.stats.sent(frames.len(), body.len());
    let mut res = Response::new(B::from(body));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// Ends the session when a pending poll is dropped before it answered (the client went away).
struct PendingPoll<'a>(&'a Arc<Session>);

impl PendingPoll<'_> {
    fn disarm(self) {
        self.0.lock().polling = false;
        std::mem::forget(self);
    }
}

impl Drop for PendingPoll<'_> {
    fn drop(&mut self) {
        self.0.lock().polling = false;
        self.0.close(DisconnectReason::TransportClose);
    }
}

/// A POST: decodes the payload and hands its packets to the session.
pub(crate) async fn post<B, ReqBody>(
    session: Arc<Session>,
    content_type: Option<&str>,
    body: ReqBody,
) -> Response<B>
where
    B: From<Bytes>,
    ReqBody: hyper::body::Body<Data = Bytes> + Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if content_type == Some("application/octet-stream") && session.protocol == Protocol::V4 {
        session.close(DisconnectReason::TransportError);
        return status(StatusCode::BAD_REQUEST);
    }
    {
        let mut state = session.lock();
        if state.posting {
            drop(state);
            session.close(DisconnectReason::TransportError);
            return status(StatusCode::BAD_REQUEST);
        }
        state.posting = true;
    }
    let limit = usize::try_from(session.engine.config.max_payload).unwrap_or(usize::MAX);
    let collected = Limited::new(body, limit).collect().await;
    session.lock().posting = false;
    let data = match collected {
        Ok(c) => c.to_bytes(),
        Err(err) => {
            if err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return status(StatusCode::PAYLOAD_TOO_LARGE);
            }
            // The client went away mid-body.
            session.close(DisconnectReason::TransportClose);
            return status(StatusCode::BAD_REQUEST);
        }
    };
    session.engine.stats.received(data.len());
    match payload::decode_payload(session.protocol, data) {
        Ok(packets) => {
            for packet in packets {
                session.on_packet(packet);
            }
        }
        Err(_) => session.close(DisconnectReason::ParseError),
    }
    // Answer once the session's task handled these messages (or the session closed).
    let target = session.lock().inbound_queued;
    poll_fn(|cx| {
        let mut state = session.lock();
        if state.closing.is_some() || state.inbound_handled >= target {
            state.poster = None;
            return Poll::Ready(());
        }
        register(&mut state.poster, cx.waker());
        Poll::Pending
    })
    .await;
    let mut res = Response::new(B::from(Bytes::from_static(b"ok")));
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    res
}

fn text(t: &'static [u8]) -> Frame {
    Frame::Text(Bytes::from_static(t))
}

fn status<B: From<Bytes>>(status: StatusCode) -> Response<B> {
    let mut res = Response::new(B::from(Bytes::new()));
    *res.status_mut() = status;
    res
}
