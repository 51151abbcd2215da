//! Streams mode (`@socket.io/redis-streams-adapter`): the namespace's persistent operations go through a Redis
//! stream, whose entry ids are the connection state recovery offsets, and disconnected sockets' sessions are kept
//! in Redis, so a client can recover on any server of the cluster. One job per file:
//! - [`appender`]: this server's operations, appended in order; a broadcast reaches the local sockets once Redis
//!   gave its entry id (its offset), in the order the broadcasts were made;
//! - [`reader`]: the blocking `XREAD` loop that applies the other servers' (and emitters') entries, resuming from
//!   the last id it saw after a Redis outage;
//! - [`session_queue`]: the ordered, coalescing queue of session writes: connected sockets' sessions kept current
//!   (so that clients recover after a crash of this server), disconnected ones' final sessions, deletions;
//! - [`sessions`]: the queue's Redis side, restoring sessions, and the replay of missed events.

mod appender;
mod reader;
mod session_queue;
mod sessions;

use std::sync::{Arc, Mutex};

use engine::adapter::BroadcastOptions;
use engine::sio::packet::{Packet, PacketKind};
use rmpv::Value;

use super::RedisAdapter;
use crate::cluster::StreamsConfig;
use crate::wire::EntryId;
use crate::wire::streams::stream_name;

pub(super) use appender::{Append, Appender};
pub(super) use session_queue::{SessionQueue, Settings as SessionSettings};
pub(super) use sessions::start_session_queue;

/// The streams state of one namespace.
pub(crate) struct Streams {
    /// The namespace's stream.
    stream: String,
    max_len: u64,
    session_prefix: String,
    /// The latest entry id seen on the stream (appended here or read); `0-0` when the stream was empty when
    /// reading started; `None` until then.
    latest: Mutex<Option<EntryId>>,
    appender: Appender,
    /// The session writes, with connection state recovery on.
    pub(super) sessions: Option<SessionQueue>,
}

impl Streams {
    /// The state of namespace `nsp`; its appender task starts with [`start`].
    pub(super) fn new(
        config: &StreamsConfig,
        nsp: &str,
        sessions: Option<SessionQueue>,
    ) -> (Self, appender::Queue) {
        let (appender, queue) = Appender::new();
        let streams = Self {
            stream: stream_name(&config.stream_name, config.stream_count, nsp),
            max_len: config.max_len,
            session_prefix: config.session_prefix.clone(),
            latest: Mutex::new(None),
            appender,
            sessions,
        };
        (streams, queue)
    }

    /// Records an entry id seen on the stream.
    fn saw(&self, id: &str) {
        let Some(id) = EntryId::parse(id) else {
            return;
        };
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.is_none_or(|l| l < id) {
            *latest = Some(id);
        }
    }

    /// The latest offset (see [`Streams::latest`]).
    pub(super) fn latest_offset(&self) -> Option<String> {
        self.latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|id| id.to_string())
    }
}

/// Starts the appender and the reader of `adapter`'s namespace (streams mode with Redis only).
pub(super) fn start(adapter: &Arc<RedisAdapter>, queue: appender::Queue) {
    appender::start(adapter, queue);
    reader::start(adapter);
}

impl RedisAdapter {
    /// Queues one of this server's operations for the stream; when the queue is full, it is counted as a failed
    /// publish and its broadcast reaches the local sockets at once, without an offset.
    pub(super) fn append_to_stream(&self, streams: &Streams, item: appender::Append) {
        if let Err(item) = streams.appender.send(item) {
            self.shared.metrics.publish_errors.inc();
            tracing::debug!("stream queue full; operation not appended");
            if let Some((packet, opts)) = item.local {
                self.deliver_with_offset(packet, &opts, None);
            }
        }
    }

    /// Delivers a broadcast from the stream to the local sockets: with recovery on, an event without
    /// acknowledgement gets its entry id as last argument (a volatile one too, so its last argument is always an
    /// offset); without an id (Redis refused the entry) it goes out without one.
    pub(super) fn deliver_with_offset(
        &self,
        mut packet: Packet,
        opts: &BroadcastOptions,
        id: Option<&str>,
    ) {
        let Some(ns) = self.local.get() else {
            return;
        };
        if ns.recovery().is_some()
            && packet.kind == PacketKind::Event
            && packet.id.is_none()
            && let (Some(id), Some(Value::Array(data))) = (id, &mut packet.data)
        {
            data.push(Value::from(id));
        }
        ns.deliver(&packet, opts);
    }
}
