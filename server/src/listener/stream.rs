//! Accepted TCP streams whose reads and writes may not wait forever.
//!
//! Writes: a client that stops reading fills its kernel socket buffer; the transport's next write
//! then blocks indefinitely, and with it the closing of the session (Engine.IO waits for the
//! writer), so the socket would linger with its buffers. A write pending for longer than the
//! write timeout (ping interval + ping timeout) fails: the transport ends, the session closes and
//! the socket's memory is released.
//!
//! Reads: while the connection waits for the client (see [`Tracker`]), a read still pending at
//! the tracker's deadline fails with `TimedOut`, and hyper closes the connection. Upgraded
//! connections have no read deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use super::budget::OpenSlot;
use super::tracker::Tracker;

/// A TCP stream with a read deadline from its [`Tracker`] and a write stall timeout.
pub struct GuardedStream {
    inner: TcpStream,
    write_timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
    tracker: Arc<Tracker>,
    /// The armed read deadline and its timer.
    read_timer: Option<(Instant, Pin<Box<Sleep>>)>,
    /// Frees the connection's place in the listener's budget when the stream is dropped.
    _slot: Option<OpenSlot>,
}

impl GuardedStream {
    /// Wraps an accepted stream.
    pub fn new(
        inner: TcpStream,
        write_timeout: Duration,
        tracker: Arc<Tracker>,
        slot: Option<OpenSlot>,
    ) -> Self {
        Self {
            inner,
            write_timeout,
            stalled: None,
            tracker,
            read_timer: None,
            _slot: slot,
        }
    }

    /// Runs a write-side poll; starts the stall timer when it is pending, clears it on progress.
    fn guard<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let timeout = self.write_timeout;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "peer stopped reading",
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    /// A read is pending: fails it once the tracker's deadline has passed, else arms the timer.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.tracker.is_upgraded() {
            // The common case on a busy server: keep WebSocket reads free of any bookkeeping.
            self.read_timer = None;
            return Poll::Pending;
        }
        self.tracker.register_reader(cx.waker());
        let Some((deadline, kind)) = self.tracker.deadline() else {
            self.read_timer = None;
            return Poll::Pending;
        };
        let timer = match &mut self.read_timer {
            Some((armed, timer)) => {
                if *armed != deadline {
                    timer.as_mut().reset(deadline);
                    *armed = deadline;
                }
                timer
            }
            slot @ None => {
                &mut slot
                    .insert((deadline, Box::pin(tokio::time::sleep_until(deadline))))
                    .1
            }
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.read_timer = None;
                self.tracker.record_timeout(kind);
                tracing::debug!(timeout = kind.label(), "closing a connection: HTTP timeout");
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} timeout", kind.label()),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        self.tracker.on_close();
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.tracker.on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => self.poll_deadline(cx),
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tracker::{TimeoutCounters, Timeouts};
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    async fn pair(timeouts: Timeouts, write_timeout: Duration) -> (GuardedStream, TcpStream) {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let peer = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = tcp.accept().await.unwrap();
        let tracker = Arc::new(Tracker::new(timeouts, TimeoutCounters::default(), None));
        (
            GuardedStream::new(stream, write_timeout, tracker, None),
            peer,
        )
    }

    const SLOW: Timeouts = Timeouts {
        header: Duration::from_secs(60),
        body: Duration::from_secs(60),
        keep_alive: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn a_write_to_a_peer_that_never_reads_times_out() {
        // The peer connects and never reads.
        let (mut stream, _peer) = pair(SLOW, Duration::from_millis(300)).await;
        let chunk = vec![0u8; 1 << 20];
        let started = std::time::Instant::now();
        let err = loop {
            if let Err(err) = stream.write_all(&chunk).await {
                break err;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "writes never blocked"
            );
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_read_waiting_past_the_header_deadline_fails_and_is_counted() {
        let timeouts = Timeouts {
            header: Duration::from_millis(200),
            ..SLOW
        };
        let (mut stream, mut peer) = pair(timeouts, Duration::from_secs(60)).await;
        peer.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"GET / HT");
        let started = std::time::Instant::now();
        let err = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(stream.tracker.counters_for_test().header.get(), 1);
    }

    #[tokio::test]
    async fn an_upgraded_stream_has_no_read_deadline() {
        let timeouts = Timeouts {
            header: Duration::from_millis(50),
            body: Duration::from_millis(50),
            keep_alive: Duration::from_millis(50),
        };
        let (mut stream, mut peer) = pair(timeouts, Duration::from_secs(60)).await;
        stream.tracker.on_request(true);
        stream.tracker.on_upgrade();
        stream.tracker.on_response_end();
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(Duration::from_millis(400), stream.read(&mut buf)).await;
        assert!(read.is_err(), "the read ended: {read:?}");
        peer.write_all(b"ws").await.unwrap();
        assert_eq!(stream.read(&mut buf).await.unwrap(), 2);
    }
}
