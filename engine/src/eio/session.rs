//! One Engine.IO session: its outgoing queue with its budgets, its heartbeat, its transport and how it ends.
//!
//! The state sits behind one short-held mutex that broadcasts, the session's task and polling requests share.
//! Nothing here allocates while the session is idle: the queues are empty `VecDeque`s until a packet arrives.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use bytes::Bytes;
use tokio::time::Instant;

use super::handshake::Handshake;
use super::packet::{Frame, Message, Packet, Protocol};
use super::reason::DisconnectReason;
use super::server::Engine;
use super::websocket::WsIo;
use crate::sid::Sid;

/// Which transport carries the session now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl Transport {
    /// Node's transport name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Polling => "polling",
            Self::WebSocket => "websocket",
        }
    }
}

/// Most inbound messages waiting for the session's task; beyond it the task stops reading the WebSocket and
/// polling POSTs wait, so a client cannot queue unbounded work.
pub(crate) const INBOUND_LIMIT: usize = 256;

/// Heartbeat bookkeeping (Node's `pingIntervalTimer`/`pingTimeoutTimer`).
#[derive(Debug)]
pub(crate) struct Heartbeat {
    /// When the timer fires next.
    pub deadline: Instant,
    /// v4: a ping was sent and its pong has not arrived.
    pub awaiting_pong: bool,
    /// v4: the timeout was already extended once for this ping because other packets arrived.
    pub refreshed: bool,
}

/// How a pending long-poll ends when the session closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PollEnd {
    /// The client closed: a pending GET gets a noop (`6`).
    Noop,
    /// The server closed the session in order (Node's `socket.close()`): queued packets are still delivered,
    /// then a pending GET gets a close packet (`1`), a later one a noop and the close packet.
    Close,
    /// The session ended at once (ping timeout, server shutdown): only a GET pending at that moment gets `1`;
    /// later requests find no session.
    CloseNow,
    /// Nothing more is written (slow consumer, transport error).
    Nothing,
}

#[derive(Debug)]
pub(crate) struct State {
    pub transport: Transport,
    /// A WebSocket for this session is being upgraded.
    pub upgrading: bool,
    /// That WebSocket answered the probe: polls return at once (`6`) until the upgrade ends.
    pub probed: bool,
    /// Set once when the session starts closing.
    pub closing: Option<(DisconnectReason, PollEnd)>,
    /// The session's task finished closing it.
    pub closed: bool,
    pub outbox: VecDeque<Frame>,
    /// Packets and bytes queued and not yet written (in-flight writes included).
    pub queued_packets: usize,
    pub queued_bytes: usize,
    pub inbound: VecDeque<Message>,
    /// Messages queued into `inbound` so far, and those the session's task has handled: a POST answers once
    /// its messages were handled (as Node, which handles them before answering), which also holds back a
    /// client that posts faster than its handlers run.
    pub inbound_queued: u64,
    pub inbound_handled: u64,
    /// A POST waiting for its messages to be handled.
    pub poster: Option<Waker>,
    pub driver: Option<Waker>,
    pub poller: Option<Waker>,
    /// A polling GET is pending.
    pub polling: bool,
    /// A POST is being read.
    pub posting: bool,
    /// The WebSocket that finished an upgrade, for the session's task to take over (boxed: every session
    /// carries the slot, few ever fill it).
    pub handoff: Option<Box<WsIo>>,
    pub heartbeat: Heartbeat,
    /// Until a namespace is connected: when the session is closed for not connecting one (`connectTimeout`).
    pub connect_deadline: Option<Instant>,
}

/// Why a packet could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The session is closing or closed.
    Closed,
    /// The queue went over its budget: the session is now closing as a slow consumer.
    SlowConsumer,
}

/// An Engine.IO session.
pub struct Session {
    /// The session id (`sid` of the open packet).
    pub id: Sid,
    /// The protocol revision the client asked for.
    pub protocol: Protocol,
    /// v3 polling clients that sent `b64=1` cannot receive binary payloads.
    pub(crate) supports_binary: bool,
    pub(crate) engine: Arc<Engine>,
    /// The request that opened the session, for the sockets' `handshake`.
    pub handshake: Arc<Handshake>,
    state: Mutex<State>,
    pub(crate) client: crate::sio::client::Client,
}

impl Session {
    pub(crate) fn new(
        engine: Arc<Engine>,
        protocol: Protocol,
        supports_binary: bool,
        transport: Transport,
        handshake: Arc<Handshake>,
    ) -> Self {
        let config = &engine.config;
        let first = match protocol {
            Protocol::V4 => config.ping_interval,
            Protocol::V3 => config.ping_interval + config.ping_timeout,
        };
        Self {
            id: Sid::new(),
            protocol,
            supports_binary,
            handshake,
            state: Mutex::new(State {
                transport,
                upgrading: false,
                probed: false,
                closing: None,
                closed: false,
                outbox: VecDeque::new(),
                queued_packets: 0,
                queued_bytes: 0,
                inbound: VecDeque::new(),
                inbound_queued: 0,
                inbound_handled: 0,
                poster: None,
                driver: None,
                poller: None,
                polling: false,
                posting: false,
                handoff: None,
                heartbeat: Heartbeat {
                    deadline: Instant::now() + first,
                    awaiting_pong: false,
                    refreshed: false,
                },
                connect_deadline: Some(Instant::now() + config.connect_timeout),
            }),
            client: crate::sio::client::Client::new(config.parser),
            engine,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug; the state stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The transport carrying the session now.
    pub fn transport(&self) -> Transport {
        self.lock().transport
    }

    /// Whether the session is closing or closed.
    pub fn is_closing(&self) -> bool {
        self.lock().closing.is_some()
    }

    /// Queues packets for the client, all or none.
    ///
    /// Over the packet or byte budget the session is closed at once as a slow consumer and its queue dropped:
    /// memory stays bounded, and the client reconnects knowing it missed messages. With `volatile`, the packets
    /// are dropped instead when the transport cannot write them right now (Node's `volatile` semantics).
    pub fn send(&self, frames: &[Frame], volatile: bool) -> Result<(), SendError> {
        let bytes: usize = frames.iter().map(Frame::len).sum();
        let config = &self.engine.config;
        let mut state = self.lock();
        if state.closing.is_some() {
            return Err(SendError::Closed);
        }
        if volatile && !state.writable_now() {
            return Ok(());
        }
        if state.queued_packets + frames.len() > config.max_buffer_packets
            || state.queued_bytes + bytes > config.max_buffer_bytes
        {
            state.outbox = VecDeque::new();
            state.closing = Some((DisconnectReason::SlowConsumer, PollEnd::Nothing));
            state.wake_all();
            return Err(SendError::SlowConsumer);
        }
        state.queued_packets += frames.len();
        state.queued_bytes += bytes;
        state.outbox.extend(frames.iter().cloned());
        state.wake_writer();
        Ok(())
    }

    /// Starts closing the session (the first reason wins). The session's task finishes the job.
    pub fn close(&self, reason: DisconnectReason) {
        let end = match reason {
            DisconnectReason::TransportClose => PollEnd::Noop,
            DisconnectReason::TransportError
            | DisconnectReason::SlowConsumer
            | DisconnectReason::ParseError => PollEnd::Nothing,
            DisconnectReason::PingTimeout | DisconnectReason::ServerShuttingDown => {
                PollEnd::CloseNow
            }
            _ => PollEnd::Close,
        };
        let mut state = self.lock();
        if state.closing.is_none() {
            if end == PollEnd::Nothing {
                state.outbox = VecDeque::new();
            }
            state.closing = Some((reason, end));
            state.wake_all();
        }
    }

    /// Handles one packet from the client (any transport). Messages go to the inbound queue for the session's
    /// task; heartbeats are answered here.
    pub(crate) fn on_packet(&self, packet: Packet) {
        let config = &self.engine.config;
        let mut state = self.lock();
        if state.closing.is_some() {
            return;
        }
        let now = Instant::now();
        let hb = &mut state.heartbeat;
        if self.protocol == Protocol::V4
            && hb.awaiting_pong
            && !hb.refreshed
            && !matches!(packet, Packet::Pong(_))
        {
            // Node: any packet while a pong is due extends the timeout once.
            hb.deadline = now + config.ping_timeout;
            hb.refreshed = true;
        }
        match packet {
            Packet::Ping(_) if self.protocol == Protocol::V3 => {
                // Node answers `3`, without echoing the data (even `2probe` on an open WebSocket).
                hb.deadline = now + config.ping_interval + config.ping_timeout;
                state.queued_packets += 1;
                state.queued_bytes += 1;
                state
                    .outbox
                    .push_back(Frame::Text(Bytes::from_static(b"3")));
                state.wake_writer();
            }
            Packet::Ping(_) => {
                // v4 clients never ping: Node closes with "invalid heartbeat direction".
                drop(state);
                self.close(DisconnectReason::TransportError);
            }
            Packet::Pong(_) if self.protocol == Protocol::V4 => {
                hb.awaiting_pong = false;
                hb.deadline = now + config.ping_interval;
                // The next ping is due before the pending ping timeout: the session's task re-arms its timer.
                if let Some(w) = &state.driver {
                    w.wake_by_ref();
                }
            }
            Packet::Pong(_) => {
                drop(state);
                self.close(DisconnectReason::TransportError);
            }
            Packet::Message(message) => {
                self.engine.stats.packet_in();
                state.inbound.push_back(message);
                state.inbound_queued += 1;
                if let Some(w) = &state.driver {
                    w.wake_by_ref();
                }
            }
            Packet::Close => {
                drop(state);
                self.close(DisconnectReason::TransportClose);
            }
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
        }
    }

    /// The session's timer fired (heartbeat or connect timeout). Returns when it should fire next, or `None`
    /// when the session timed out (it is then closing).
    pub(crate) fn on_heartbeat(&self) -> Option<Instant> {
        let config = &self.engine.config;
        let mut state = self.lock();
        let now = Instant::now();
        if state.closing.is_some() {
            return None;
        }
        if let Some(deadline) = state.connect_deadline
            && now >= deadline
        {
            drop(state);
            // No namespace within `connectTimeout`: Node's `client.close()`.
            self.close(DisconnectReason::ForcedClose);
            return None;
        }
        if now < state.heartbeat.deadline {
            // Moved by a pong or a v3 ping since the timer was set.
            return Some(state.next_timer());
        }
        if self.protocol == Protocol::V3 || state.heartbeat.awaiting_pong {
            drop(state);
            self.close(DisconnectReason::PingTimeout);
            return None;
        }
        state.heartbeat.awaiting_pong = true;
        state.heartbeat.refreshed = false;
        state.heartbeat.deadline = now + config.ping_timeout;
        state.queued_packets += 1;
        state.queued_bytes += 1;
        state
            .outbox
            .push_back(Frame::Text(Bytes::from_static(b"2")));
        state.wake_writer();
        Some(state.next_timer())
    }

    /// A namespace was connected: the connect timeout no longer applies.
    pub(crate) fn namespace_connected(&self) {
        self.lock().connect_deadline = None;
    }

    /// Marks `count` packets of `bytes` bytes as written.
    pub(crate) fn written(&self, count: usize, bytes: usize) {
        let mut state = self.lock();
        state.queued_packets = state.queued_packets.saturating_sub(count);
        state.queued_bytes = state.queued_bytes.saturating_sub(bytes);
    }
}

impl State {
    /// When the session's timer must fire next.
    pub(crate) fn next_timer(&self) -> Instant {
        match self.connect_deadline {
            Some(d) if d < self.heartbeat.deadline => d,
            _ => self.heartbeat.deadline,
        }
    }

    /// Whether a packet queued now would be written at once (Node's `transport.writable`).
    fn writable_now(&self) -> bool {
        match self.transport {
            _ if self.upgrading => false,
            Transport::Polling => self.polling && self.outbox.is_empty(),
            Transport::WebSocket => self.queued_packets == 0,
        }
    }

    pub(crate) fn wake_writer(&self) {
        let waker = match self.transport {
            Transport::Polling => self.poller.as_ref(),
            Transport::WebSocket => self.driver.as_ref(),
        };
        if let Some(w) = waker {
            w.wake_by_ref();
        }
    }

    pub(crate) fn wake_all(&self) {
        for w in [&self.driver, &self.poller, &self.poster]
            .into_iter()
            .flatten()
        {
            w.wake_by_ref();
        }
    }
}

/// Registers `waker` in `slot` unless the same task is already registered.
pub(crate) fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::EngineConfig;
    use crate::testing;

    fn config() -> EngineConfig {
        EngineConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            max_buffer_packets: 4,
            max_buffer_bytes: 100,
            ..EngineConfig::default()
        }
    }

    fn outbox(s: &Session) -> Vec<Frame> {
        s.lock().outbox.iter().cloned().collect()
    }

    fn text(t: &'static str) -> Frame {
        Frame::Text(Bytes::from_static(t.as_bytes()))
    }

    #[tokio::test(start_paused = true)]
    async fn first_ping_after_ping_interval_then_timeout_without_pong() {
        let (io, _) = testing::io(config());
        let s = testing::session(&io, Protocol::V4);
        let opened = Instant::now();
        assert_eq!(s.lock().next_timer(), opened + Duration::from_millis(300));
        // Not before the interval.
        assert_eq!(s.on_heartbeat(), Some(opened + Duration::from_millis(300)));
        assert!(outbox(&s).is_empty());
        tokio::time::advance(Duration::from_millis(300)).await;
        let next = s.on_heartbeat();
        assert_eq!(outbox(&s), vec![text("2")]);
        assert_eq!(next, Some(opened + Duration::from_millis(500)));
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(s.on_heartbeat(), None);
        assert_eq!(
            s.lock().closing,
            Some((DisconnectReason::PingTimeout, PollEnd::CloseNow))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pong_rearms_the_ping_interval_from_the_pong() {
        let (io, _) = testing::io(config());
        let s = testing::session(&io, Protocol::V4);
        tokio::time::advance(Duration::from_millis(300)).await;
        s.on_heartbeat();
        tokio::time::advance(Duration::from_millis(150)).await;
        s.on_packet(Packet::Pong(Bytes::new()));
        let pong_at = Instant::now();
        assert_eq!(s.lock().next_timer(), pong_at + Duration::from_millis(300));
        assert!(s.lock().closing.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn v3_client_pings_and_times_out_after_interval_plus_timeout() {
        let (io, _) = testing::io(config());
        let s = testing::session(&io, Protocol::V3);
        tokio::time::advance(Duration::from_millis(400)).await;
        s.on_packet(Packet::Ping(Bytes::from_static(b"probe")));
        assert_eq!(outbox(&s), vec![text("3")]);
        tokio::time::advance(Duration::from_millis(499)).await;
        assert!(s.on_heartbeat().is_some());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(s.on_heartbeat(), None);
    }

    #[tokio::test]
    async fn v4_client_ping_is_a_transport_error() {
        let (io, _) = testing::io(config());
        let s = testing::session(&io, Protocol::V4);
        s.on_packet(Packet::Ping(Bytes::new()));
        assert_eq!(
            s.lock().closing.map(|c| c.0),
            Some(DisconnectReason::TransportError)
        );
    }

    #[tokio::test]
    async fn queue_budgets_close_a_slow_consumer_and_free_its_queue() {
        let (io, _) = testing::io(config());
        let s = testing::session(&io, Protocol::V4);
        let f = Frame::Text(Bytes::from(vec![b'4'; 30]));
        for _ in 0..3 {
            assert_eq!(s.send(std::slice::from_ref(&f), false), Ok(()));
        }
        // 4 x 30 bytes is over the 100-byte budget.
        assert_eq!(
            s.send(std::slice::from_ref(&f), false),
            Err(SendError::SlowConsumer)
        );
        assert!(outbox(&s).is_empty());
        assert_eq!(
            s.lock().closing.map(|c| c.0),
            Some(DisconnectReason::SlowConsumer)
        );
        assert_eq!(
            s.send(std::slice::from_ref(&f), false),
            Err(SendError::Closed)
        );

        let s = testing::session(&io, Protocol::V4);
        let small = text("4x");
        for _ in 0..4 {
            assert_eq!(s.send(std::slice::from_ref(&small), false), Ok(()));
        }
        assert_eq!(
            s.send(std::slice::from_ref(&small), false),
            Err(SendError::SlowConsumer)
        );
    }

    #[tokio::test]
    async fn volatile_packets_are_dropped_when_the_transport_cannot_write_now() {
        let (io, _) = testing::io(config());
        let s = testing::session(&io, Protocol::V4);
        // No poll pending: a volatile packet is dropped, a normal one queued.
        assert_eq!(s.send(&[text("4a")], true), Ok(()));
        assert!(outbox(&s).is_empty());
        s.lock().polling = true;
        assert_eq!(s.send(&[text("4b")], true), Ok(()));
        assert_eq!(s.send(&[text("4c")], true), Ok(()));
        assert_eq!(outbox(&s), vec![text("4b")]);
    }

    #[tokio::test]
    async fn an_idle_session_holds_no_queue_memory() {
        let (io, _) = testing::io(config());
        let s = testing::session(&io, Protocol::V4);
        let state = s.lock();
        assert_eq!(state.outbox.capacity(), 0);
        assert_eq!(state.inbound.capacity(), 0);
    }
}
