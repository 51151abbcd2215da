//! The namespace's stream reader: `XREAD BLOCK 5000 COUNT 100` on a connection of its own, from the stream's
//! latest entry when the server starts, then always from the last id read. After a Redis outage it resumes from
//! that id, so every entry still in the stream reaches this server once (Node starts from `$` and may skip the
//! entries appended while it reconnects). Entries of this server and of other namespaces are skipped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use engine::sio::packet::Packet;

use super::super::RedisAdapter;
use super::super::convert::opts_from_wire;
use crate::connection::{StreamReader, StreamRecord};
use crate::metrics::MalformedLabel;
use crate::protocol::{Incoming, Op};
use crate::wire::streams::{BLOCK_MS, READ_COUNT};
use crate::wire::{self, StreamEntry};

/// Pause after a failed read before the next attempt.
const RETRY: Duration = Duration::from_millis(200);

/// Starts the reader of `adapter`'s namespace; it ends when the adapter is dropped.
pub(super) fn start(adapter: &Arc<RedisAdapter>) {
    let Some(conn) = adapter.shared.connection.clone() else {
        return;
    };
    let reader = match conn.stream_reader() {
        Ok(reader) => reader,
        Err(err) => {
            tracing::error!(%err, "cannot create the stream reader connection: namespace stays local");
            return;
        }
    };
    let weak = Arc::downgrade(adapter);
    tokio::spawn(async move {
        run(weak, conn, &reader).await;
        reader.quit().await;
    });
}

async fn run(weak: Weak<RedisAdapter>, conn: crate::connection::Connection, reader: &StreamReader) {
    let stream = match weak
        .upgrade()
        .and_then(|a| a.streams.as_ref().map(|s| s.stream.clone()))
    {
        Some(stream) => stream,
        None => return,
    };
    // Where to start: the stream's latest entry, once Redis answers.
    let mut last = loop {
        if weak.strong_count() == 0 {
            return;
        }
        match conn.last_id(&stream).await {
            Ok(id) => break id.unwrap_or_else(|| "0-0".to_owned()),
            Err(err) => {
                tracing::debug!(%err, "stream position not known yet");
                tokio::time::sleep(RETRY).await;
            }
        }
    };
    match weak.upgrade() {
        Some(this) => {
            if let Some(streams) = &this.streams {
                let mut latest = streams.latest.lock().unwrap_or_else(|p| p.into_inner());
                if latest.is_none() {
                    *latest = crate::wire::EntryId::parse(&last);
                }
            }
            this.stream_positioned.store(true, Ordering::Release);
            this.mark_ready_if_complete();
        }
        None => return,
    }
    let mut failing = false;
    loop {
        if weak.strong_count() == 0 {
            return;
        }
        match reader.read(&stream, &last, READ_COUNT, BLOCK_MS).await {
            Ok(records) => {
                if failing {
                    tracing::info!(from = %last, "reading the stream again");
                    failing = false;
                }
                let Some(this) = weak.upgrade() else {
                    return;
                };
                for record in records {
                    last = record.id.clone();
                    this.on_entry(record).await;
                }
            }
            Err(err) => {
                if !failing {
                    tracing::warn!(%err, from = %last, "stream read failed; retrying from the last id read");
                    failing = true;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

impl RedisAdapter {
    /// Applies one entry of the stream.
    async fn on_entry(&self, record: StreamRecord) {
        self.shared.metrics.received.inc();
        if let Some(streams) = &self.streams {
            streams.saw(&record.id);
        }
        let entry = match StreamEntry::from_fields(&record.fields) {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err(err) => return self.malformed_stream(&err),
        };
        let Some(Incoming::Op { uid, op }) = self.protocol.decode_entry(entry) else {
            return;
        };
        match op {
            Op::Broadcast {
                data,
                opts,
                request_id: None,
            } => {
                let packet = match Packet::try_from(wire::Packet::event(self.nsp.clone(), data)) {
                    Ok(packet) => packet,
                    Err(err) => return self.malformed_stream(&err),
                };
                self.deliver_with_offset(packet, &opts_from_wire(&opts), Some(&record.id));
            }
            op => self.apply(uid.unwrap_or_default(), op).await,
        }
    }

    fn malformed_stream(&self, err: &dyn std::fmt::Display) {
        self.shared
            .metrics
            .malformed
            .get_or_create(&MalformedLabel { kind: "stream" })
            .inc();
        if self.log_once("stream") {
            tracing::warn!(%err, "malformed stream entry skipped (logged once)");
        } else {
            tracing::debug!(%err, "malformed stream entry skipped");
        }
    }
}
