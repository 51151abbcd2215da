//! The hyper service of one connection: hands requests to the axum router and tells the
//! connection's [`Tracker`] when a request arrived, when its body ended, when the response was
//! sent and when the connection was upgraded.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tower::ServiceExt;

use super::PeerAddr;
use super::tracker::Tracker;

/// Serves one connection's requests with the router.
#[derive(Clone)]
pub struct ConnService {
    router: Router,
    tracker: Arc<Tracker>,
    peer: SocketAddr,
}

impl ConnService {
    /// The service of the connection from `peer`.
    pub fn new(router: Router, tracker: Arc<Tracker>, peer: SocketAddr) -> Self {
        Self {
            router,
            tracker,
            peer,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let body_done = http_body::Body::is_end_stream(req.body());
        self.tracker.on_request(body_done);
        let (mut parts, body) = req.into_parts();
        // Handlers (the handshake) see the peer address as `ConnectInfo<PeerAddr>`.
        parts.extensions.insert(ConnectInfo(PeerAddr(self.peer)));
        let body = Body::new(RequestBody {
            inner: body,
            tracker: (!body_done).then(|| self.tracker.clone()),
        });
        let router = self.router.clone();
        let tracker = self.tracker.clone();
        Box::pin(async move {
            let res = match router.oneshot(Request::from_parts(parts, body)).await {
                Ok(res) => res,
                Err(never) => match never {},
            };
            if res.status() == StatusCode::SWITCHING_PROTOCOLS {
                tracker.on_upgrade();
            }
            Ok(res.map(|inner| ResponseBody {
                inner,
                tracker: Some(tracker),
            }))
        })
    }
}

/// A request body that reports its end (or its being dropped) to the tracker.
struct RequestBody {
    inner: Incoming,
    /// Taken once the end is reported.
    tracker: Option<Arc<Tracker>>,
}

impl RequestBody {
    fn ended(&mut self) {
        if let Some(tracker) = self.tracker.take() {
            tracker.on_body_end();
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(poll, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended();
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.ended();
    }
}

/// A response body that reports its end (or its being dropped) to the tracker.
pub struct ResponseBody {
    inner: Body,
    tracker: Option<Arc<Tracker>>,
}

impl ResponseBody {
    fn ended(&mut self) {
        if let Some(tracker) = self.tracker.take() {
            tracker.on_response_end();
        }
    }
}

impl http_body::Body for ResponseBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let poll = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(poll, Poll::Ready(None)) {
            self.ended();
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        self.ended();
    }
}
