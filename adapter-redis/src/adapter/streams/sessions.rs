//! Sessions in Redis, as Node's streams adapter keeps them (so a session persisted by a Node server restores on a
//! Rust server and the other way round): `SET <prefix><pid> <session> PX <maxDisconnectionDuration>`; restore
//! checks the offset's format, takes the session once (`MULTI GET DEL EXEC`), checks that the offset is still in
//! the stream, and replays the later entries of the namespace that reached the session's rooms (`XRANGE`, at most
//! 100 reads). Writes go through the namespace's [`SessionQueue`]; this file is its Redis side and the restore.
//!
//! Better than Node: a client that received no event yet (no offset) recovers from the offset current when it
//! connected, which the session carries; a session is restored once only (Node's check of the offset and its
//! `GET`/`DEL` run side by side, and a failed restore after the `GET` loses the session anyway, as here); and a
//! connected socket's session is in Redis too (marked `live` with its server's uid), so its client recovers
//! after that server crashed. A live session whose server still runs belongs to a connected socket: presenting
//! its pid gets a new session (as before the socket disconnects with Node), and its server writes it again
//! within a refresh interval.

use std::time::Duration;

use engine::Sid;
use engine::adapter::{
    AdapterError, BroadcastOptions, LocalNamespace, PersistedSession, RestoredSession,
};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::super::RedisAdapter;
use super::super::outbound::unavailable;
use super::Streams;
use super::session_queue::{Backend, SessionQueue, Settings, Write};
use crate::connection::{Connection, ConnectionError};
use crate::wire::streams::{MAX_RESTORE_READS, missed_event};
use crate::wire::{EntryId, SessionRecord, StreamEntry};

/// The longest a restore waits for this server's queued session writes (one Redis command timeout).
const QUEUED_WRITES_WAIT: Duration = Duration::from_secs(2);

/// The session queue of namespace `local`, writing to Redis through `conn`.
pub(in crate::adapter) fn start_session_queue(
    conn: Connection,
    local: LocalNamespace,
    settings: Settings,
) -> SessionQueue {
    SessionQueue::start(RedisSessions { conn, local }, settings)
}

/// The namespace's local sockets and Redis, for the session queue.
struct RedisSessions {
    conn: Connection,
    local: LocalNamespace,
}

impl Backend for RedisSessions {
    fn session(&self, sid: &Sid) -> Option<PersistedSession> {
        self.local.get()?.socket(sid.as_str())?.session()
    }

    fn sockets(&self) -> Vec<Sid> {
        let mut sids = Vec::new();
        if let Some(ns) = self.local.get() {
            ns.for_each_target(&BroadcastOptions::default(), |s| sids.push(s.id));
        }
        sids
    }

    fn write(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), String>> {
        async move {
            // Commands reach the connection in the order they are first polled: `join_all` polls in order.
            let results = futures_util::future::join_all(writes.into_iter().map(|w| async move {
                match w {
                    Write::Set { key, value, ttl } => self.conn.set_px(&key, value, ttl).await,
                    Write::Del { key } => self.conn.del(&key).await,
                }
            }))
            .await;
            results
                .into_iter()
                .find_map(Result::err)
                .map_or(Ok(()), |err| Err(err.to_string()))
        }
        .boxed()
    }
}

impl RedisAdapter {
    /// Takes session `pid` back with the events it missed after `offset` (after its connect offset without one).
    pub(in crate::adapter) async fn restore_from_stream_store(
        &self,
        streams: &Streams,
        pid: &str,
        offset: Option<String>,
    ) -> Result<Option<RestoredSession>, AdapterError> {
        if offset
            .as_deref()
            .is_some_and(|o| EntryId::parse(o).is_none())
        {
            return Ok(None);
        }
        let conn = self
            .connected()
            .ok_or_else(|| unavailable(ConnectionError::Down))?;
        // This server's own queued writes first: a socket that just left here has its final session (or its
        // deletion, after a namespace disconnect) in Redis before it is looked up.
        if let Some(queue) = &streams.sessions
            && !queue.flush(QUEUED_WRITES_WAIT).await
        {
            return Err(unavailable(ConnectionError::Down));
        }
        let key = SessionRecord::key(&streams.session_prefix, pid);
        let Some(stored) = conn.take(&key).await.map_err(unavailable)? else {
            return Ok(None);
        };
        let record = match SessionRecord::decode(&stored) {
            Ok(record) => record,
            Err(err) => {
                tracing::debug!(%err, "unreadable session");
                return Ok(None);
            }
        };
        if let Some(owner) = &record.live
            && self.still_connected(&conn, owner, &record).await?
        {
            tracing::debug!("a session presented while its socket is connected: not recovered");
            return Ok(None);
        }
        let Some(from) = offset
            .or_else(|| record.connected_offset.clone())
            .as_deref()
            .and_then(EntryId::parse)
        else {
            return Ok(None);
        };
        // `0-0`: the stream was empty when the socket connected; everything in it is newer.
        if from != (EntryId { ms: 0, seq: 0 }) {
            let at = from.to_string();
            if conn
                .xrange(&streams.stream, &at, &at)
                .await
                .map_err(unavailable)?
                .is_empty()
            {
                return Ok(None);
            }
        }
        let mut missed = Vec::new();
        let mut cursor = from;
        for _ in 0..MAX_RESTORE_READS {
            let records = conn
                .xrange(&streams.stream, &cursor.next().to_string(), "+")
                .await
                .map_err(unavailable)?;
            if records.is_empty() {
                break;
            }
            for record_entry in records {
                if let Some(id) = EntryId::parse(&record_entry.id) {
                    cursor = id;
                }
                if let Ok(Some(entry)) = StreamEntry::from_fields(&record_entry.fields)
                    && let Some(event) =
                        missed_event(&record_entry.id, &entry, &self.nsp, &record.rooms)
                {
                    missed.push(event);
                }
            }
        }
        Ok(Some(RestoredSession {
            session: PersistedSession {
                sid: record.sid,
                pid: record.pid,
                rooms: record.rooms,
                data: record.data,
                connected_offset: record.connected_offset,
            },
            missed,
        }))
    }

    /// Whether the socket of a live session is still connected: here, when this server wrote it; elsewhere, while
    /// its server runs (a killed server's connections are gone from Redis at once, and with them its
    /// subscriptions).
    async fn still_connected(
        &self,
        conn: &Connection,
        owner: &str,
        record: &SessionRecord,
    ) -> Result<bool, AdapterError> {
        if owner == self.shared.uid {
            return Ok(self
                .local
                .get()
                .and_then(|ns| ns.socket(&record.sid))
                .is_some_and(|s| s.pid() == Some(record.pid.as_str())));
        }
        conn.has_subscribers(&self.protocol.server_channel(owner))
            .await
            .map_err(unavailable)
    }
}
