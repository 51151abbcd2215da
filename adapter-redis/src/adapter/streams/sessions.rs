//! Sessions of disconnected sockets in Redis, and their restore with the events they missed, as Node's streams
//! adapter does it (so a session persisted by a Node server restores on a Rust server and the other way round):
//! `SET <prefix><pid> <session> PX <maxDisconnectionDuration>`; restore checks the offset's format, takes the
//! session once (`MULTI GET DEL EXEC`), checks that the offset is still in the stream, and replays the later
//! entries of the namespace that reached the session's rooms (`XRANGE`, at most 100 reads).
//!
//! Better than Node: a client that received no event yet (no offset) recovers from the offset current when it
//! connected, which the session carries; and a session is restored once only (Node's check of the offset and its
//! `GET`/`DEL` run side by side, and a failed restore after the `GET` loses the session anyway, as here).

use engine::adapter::{AdapterError, PersistedSession, RestoredSession};

use super::super::RedisAdapter;
use super::super::outbound::unavailable;
use super::Streams;
use crate::connection::ConnectionError;
use crate::wire::streams::{MAX_RESTORE_READS, missed_event};
use crate::wire::{EntryId, SessionRecord, StreamEntry};

impl RedisAdapter {
    /// Keeps a disconnected socket's session in Redis for the namespace's `maxDisconnectionDuration`.
    pub(in crate::adapter) async fn persist_in_stream_store(
        &self,
        streams: &Streams,
        session: PersistedSession,
    ) {
        let (Some(conn), Some(ttl)) = (
            self.connection(),
            self.local
                .get()
                .and_then(|ns| ns.recovery().map(|r| r.max_disconnection)),
        ) else {
            return;
        };
        let key = SessionRecord::key(&streams.session_prefix, &session.pid);
        let record = SessionRecord {
            sid: session.sid,
            pid: session.pid,
            rooms: session.rooms,
            data: session.data,
            connected_offset: session.connected_offset,
        };
        if let Err(err) = conn.set_px(&key, record.encode(), ttl).await {
            tracing::warn!(%err, "cannot persist a session for recovery: it will not be recovered");
        }
    }

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
}
