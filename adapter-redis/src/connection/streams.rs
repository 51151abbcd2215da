//! The Redis commands of the streams protocol: `XADD`, `XRANGE`, the session `SET`/`DEL`/`MULTI GET DEL`, and the
//! blocking `XREAD` on a connection of its own (a blocking read on the shared connection would hold up every
//! publish behind it for up to five seconds).

use std::time::Duration;

use bytes::Bytes;
use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface, StreamsInterface, TransactionInterface};
use fred::prelude::{Builder, ReconnectPolicy};
use fred::types::Expiration;
use fred::types::Value as RedisValue;
use fred::types::config::Options;

use super::{COMMAND_TIMEOUT, Connection, ConnectionError, RECONNECT_DELAY_MS, fast};

/// One stream entry as Redis returns it: its id and its field/value pairs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamRecord {
    pub id: String,
    pub fields: Vec<(Bytes, Bytes)>,
}

impl Connection {
    /// `XADD <stream> MAXLEN ~ <max_len> * <fields...>`: the new entry's id. Fails fast while Redis is away.
    pub(crate) async fn xadd(
        &self,
        stream: &str,
        max_len: u64,
        fields: Vec<(&'static str, String)>,
    ) -> Result<String, ConnectionError> {
        let client = self.publisher.with_options(&fast());
        let cap = (
            "MAXLEN",
            "~",
            i64::try_from(max_len).unwrap_or(i64::MAX),
            None,
        );
        let result: Result<String, _> = client.xadd(stream, false, cap, "*", fields).await;
        match result {
            Ok(id) => {
                self.metrics.published.inc();
                Ok(id)
            }
            Err(err) => {
                self.metrics.publish_errors.inc();
                Err(err.into())
            }
        }
    }

    /// `XRANGE <stream> <start> <end>`.
    pub(crate) async fn xrange(
        &self,
        stream: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<StreamRecord>, ConnectionError> {
        let client = self.publisher.with_options(&fast());
        let reply: RedisValue = client.xrange(stream, start, end, None).await?;
        Ok(records(reply))
    }

    /// The id of the stream's latest entry (`XREVRANGE <stream> + - COUNT 1`); `None` for an empty stream.
    pub(crate) async fn last_id(&self, stream: &str) -> Result<Option<String>, ConnectionError> {
        let client = self.publisher.with_options(&fast());
        let reply: RedisValue = client.xrevrange(stream, "+", "-", Some(1)).await?;
        Ok(records(reply).pop().map(|r| r.id))
    }

    /// `SET <key> <value> PX <ttl>`.
    pub(crate) async fn set_px(
        &self,
        key: &str,
        value: String,
        ttl: Duration,
    ) -> Result<(), ConnectionError> {
        let client = self.publisher.with_options(&fast());
        let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
        let _: RedisValue = client
            .set(key, value, Some(Expiration::PX(ms)), None, false)
            .await?;
        Ok(())
    }

    /// `DEL <key>`.
    pub(crate) async fn del(&self, key: &str) -> Result<(), ConnectionError> {
        let client = self.publisher.with_options(&fast());
        let _: RedisValue = client.del(key).await?;
        Ok(())
    }

    /// `MULTI GET <key> DEL <key> EXEC`: takes the value once (Node's GETDEL for Redis before 6.2).
    pub(crate) async fn take(&self, key: &str) -> Result<Option<Bytes>, ConnectionError> {
        let trx = self.publisher.multi();
        let _: RedisValue = trx.get(key).await?;
        let _: RedisValue = trx.del(key).await?;
        let reply: Vec<RedisValue> = trx.exec(true).await?;
        Ok(reply
            .into_iter()
            .next()
            .and_then(|v| v.as_bytes().map(Bytes::copy_from_slice)))
    }

    /// A connection of its own for the blocking `XREAD`, connected in the background and reconnecting forever.
    pub(crate) fn stream_reader(&self) -> Result<StreamReader, ConnectionError> {
        let mut builder = Builder::from_config(self.config.clone());
        builder
            .with_config(|c| c.fail_fast = false)
            .with_connection_config(|c| {
                c.connection_timeout = COMMAND_TIMEOUT;
                c.internal_command_timeout = COMMAND_TIMEOUT;
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = READ_TIMEOUT)
            .set_policy(ReconnectPolicy::new_constant(0, RECONNECT_DELAY_MS));
        let client = builder.build()?;
        drop(client.connect());
        Ok(StreamReader { client })
    }
}

/// Longest wait for one blocking read: the block time and a margin for the round trip.
const READ_TIMEOUT: Duration = Duration::from_millis(crate::wire::streams::BLOCK_MS + 3_000);

/// The blocking reader's connection.
pub(crate) struct StreamReader {
    client: Client,
}

impl StreamReader {
    /// `XREAD BLOCK <block> COUNT <count> STREAMS <stream> <after>`: the entries after `after` (none when the
    /// block time passed without any).
    pub(crate) async fn read(
        &self,
        stream: &str,
        after: &str,
        count: u64,
        block_ms: u64,
    ) -> Result<Vec<StreamRecord>, ConnectionError> {
        if !self.client.is_connected() {
            return Err(ConnectionError::Down);
        }
        let client = self.client.with_options(&Options {
            timeout: Some(READ_TIMEOUT),
            max_attempts: Some(1),
            fail_fast: true,
            ..Options::default()
        });
        let reply: RedisValue = client
            .xread(Some(count), Some(block_ms), stream, after)
            .await?;
        // `[[stream, [entries...]]]`, or nil after the block time.
        let RedisValue::Array(streams) = reply else {
            return Ok(Vec::new());
        };
        Ok(streams
            .into_iter()
            .filter_map(|s| match s {
                RedisValue::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .flat_map(records)
            .collect())
    }

    /// Closes the connection.
    pub(crate) async fn quit(&self) {
        let _ = self.client.quit().await;
    }
}

/// The entries of an `XRANGE`/`XREAD` reply (`[[id, [field, value, ...]], ...]`); malformed items are skipped.
fn records(reply: RedisValue) -> Vec<StreamRecord> {
    let RedisValue::Array(items) = reply else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| {
            let RedisValue::Array(mut pair) = item else {
                return None;
            };
            if pair.len() != 2 {
                return None;
            }
            let values = pair.pop()?;
            let id = pair.pop()?.as_string()?;
            let RedisValue::Array(values) = values else {
                return None;
            };
            let bytes = |v: &RedisValue| v.as_bytes().map(Bytes::copy_from_slice);
            let fields = values
                .chunks_exact(2)
                .filter_map(|kv| Some((bytes(&kv[0])?, bytes(&kv[1])?)))
                .collect();
            Some(StreamRecord { id, fields })
        })
        .collect()
}
