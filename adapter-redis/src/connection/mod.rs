//! The Redis side of the adapter: one publisher and one subscriber connection shared by every
//! namespace of a server, reconnection, and the subscriptions to restore after each reconnect.
//!
//! Redis being away never blocks a caller: commands fail fast with an error while the client
//! reconnects in the background (a constant short delay, forever), and every subscription the
//! adapter asked for, including those asked for while Redis was down, is issued again as soon
//! as the connection is back.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fred::clients::{Client, SubscriberClient};
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::{Builder, Config, ReconnectPolicy};
use fred::types::Message;
use fred::types::config::Options;
use tokio::sync::broadcast;

use crate::metrics::AdapterMetrics;

mod streams;
pub(crate) use streams::{StreamReader, StreamRecord};

/// Delay between two reconnection attempts, in milliseconds.
const RECONNECT_DELAY_MS: u32 = 200;
/// Longest wait for one Redis command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the connection state is sampled for the `connected` gauge.
const STATE_SAMPLE: Duration = Duration::from_millis(100);
/// Messages buffered between the subscriber connection and the adapter tasks.
const MESSAGE_BUFFER: usize = 65_536;

/// A Redis failure, as seen by adapter callers.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The URL could not be parsed.
    #[error("invalid Redis URL: {0}")]
    Url(String),
    /// The connection is down; the command was not sent.
    #[error("redis connection is down")]
    Down,
    /// Redis has not yet confirmed this server's subscriptions: answers to a request would be lost,
    /// so none was sent.
    #[error("redis has not confirmed this server's subscriptions yet")]
    NotSubscribed,
    /// Redis is unreachable or refused the command.
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
}

/// What the subscriber connection should be subscribed to; replayed after every reconnect.
#[derive(Default)]
struct WantedSubscriptions {
    channels: BTreeSet<String>,
    patterns: BTreeSet<String>,
    shard_channels: BTreeSet<String>,
}

/// The pair of Redis connections of one server.
#[derive(Clone)]
pub struct Connection {
    publisher: Client,
    subscriber: SubscriberClient,
    wanted: Arc<Mutex<WantedSubscriptions>>,
    metrics: Arc<AdapterMetrics>,
    /// The settings the connections were built with, for the streams adapter's blocking reader.
    config: Config,
}

impl Connection {
    /// Configures (without connecting) the connections to `url`: `redis://`, `rediss://`, with user
    /// and password, or `redis-cluster://host:port?node=host:port` for a Redis Cluster.
    pub fn new(url: &str, metrics: Arc<AdapterMetrics>) -> Result<Self, ConnectionError> {
        let config = Config::from_url(url).map_err(|e| ConnectionError::Url(e.to_string()))?;
        let mut builder = Builder::from_config(config.clone());
        builder
            .with_config(|c| c.fail_fast = false)
            .with_connection_config(|c| {
                c.connection_timeout = COMMAND_TIMEOUT;
                c.internal_command_timeout = COMMAND_TIMEOUT;
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
            .set_policy(ReconnectPolicy::new_constant(0, RECONNECT_DELAY_MS));
        // fred preallocates every slot of each of a client's notification channels: only the
        // subscriber's message channel needs room for bursts (~40 MB resident with both large).
        let publisher = builder.build()?;
        builder.with_performance_config(|p| p.broadcast_channel_capacity = MESSAGE_BUFFER);
        Ok(Self {
            publisher,
            subscriber: builder.build_subscriber_client()?,
            wanted: Arc::default(),
            metrics,
            config,
        })
    }

    /// Starts both connections in the background and the task that restores subscriptions
    /// after each (re)connection. Returns at once, whether or not Redis is reachable.
    pub fn start(&self) {
        // The connections are driven by tasks fred spawns; their handles are not needed.
        drop(self.publisher.connect());
        drop(self.subscriber.connect());
        // Set once a connection was lost after being up: the next connection is a reconnect.
        let lost = Arc::new(AtomicBool::new(false));
        let ever_up = Arc::new(AtomicBool::new(false));

        let (this, lost_flag, ever) = (self.clone(), lost.clone(), ever_up.clone());
        let mut connections = self.subscriber.reconnect_rx();
        tokio::spawn(async move {
            while connections.recv().await.is_ok() {
                if lost_flag.swap(false, Ordering::AcqRel) {
                    this.metrics.reconnects.inc();
                }
                tracing::info!("redis subscriber connected; restoring subscriptions");
                this.resubscribe().await;
                ever.store(true, Ordering::Release);
                this.metrics.connected.set(i64::from(this.is_connected()));
            }
        });

        let (this, lost_flag, ever) = (self.clone(), lost.clone(), ever_up);
        let mut errors = self.subscriber.error_rx();
        tokio::spawn(async move {
            while let Ok((err, _)) = errors.recv().await {
                tracing::warn!(%err, "redis connection error");
                if ever.load(Ordering::Acquire) {
                    lost_flag.store(true, Ordering::Release);
                }
                this.metrics.connected.set(i64::from(this.is_connected()));
            }
        });

        // Connection state also changes without events (e.g. the publisher alone): sample it.
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(STATE_SAMPLE);
            loop {
                tick.tick().await;
                let up = this.is_connected();
                if !up && this.metrics.connected.get() == 1 {
                    lost.store(true, Ordering::Release);
                }
                this.metrics.connected.set(i64::from(up));
            }
        });
    }

    /// Whether both connections are up.
    pub fn is_connected(&self) -> bool {
        self.publisher.is_connected() && self.subscriber.is_connected()
    }

    /// A receiver of every message that arrives on the subscriber connection.
    pub fn messages(&self) -> broadcast::Receiver<Message> {
        self.subscriber.message_rx()
    }

    /// Subscribes to channels (SUBSCRIBE), now if possible and after every reconnect.
    /// Returns whether Redis confirmed it now.
    pub async fn subscribe(&self, channels: Vec<String>) -> bool {
        self.lock_wanted(|w| w.channels.extend(channels.iter().cloned()));
        match self.subscriber.subscribe(channels).await {
            Ok(()) => self.processed().await,
            Err(err) => {
                tracing::warn!(%err, "SUBSCRIBE failed; will retry after reconnect");
                false
            }
        }
    }

    /// Subscribes to patterns (PSUBSCRIBE), now if possible and after every reconnect.
    /// Returns whether Redis confirmed it now.
    pub async fn psubscribe(&self, patterns: Vec<String>) -> bool {
        self.lock_wanted(|w| w.patterns.extend(patterns.iter().cloned()));
        match self.subscriber.psubscribe(patterns).await {
            Ok(()) => self.processed().await,
            Err(err) => {
                tracing::warn!(%err, "PSUBSCRIBE failed; will retry after reconnect");
                false
            }
        }
    }

    /// Subscribes to shard channels (SSUBSCRIBE), now if possible and after every reconnect.
    /// Returns whether Redis confirmed every one now.
    pub async fn ssubscribe(&self, channels: Vec<String>) -> bool {
        self.lock_wanted(|w| w.shard_channels.extend(channels.iter().cloned()));
        let mut all = true;
        for channel in channels {
            if let Err(err) = self.subscriber.ssubscribe(channel).await {
                tracing::warn!(%err, "SSUBSCRIBE failed; will retry after reconnect");
                all = false;
            }
        }
        all && self.processed().await
    }

    /// Whether Redis has processed every command sent so far on the subscriber connection: fred
    /// resolves (P|S)SUBSCRIBE without waiting for Redis' answer (measured: right after it returns,
    /// PUBSUB NUMSUB sometimes does not count the subscription yet), so a PING on the same
    /// connection, answered in order, is the confirmation. On a Redis Cluster the PING may go
    /// to another node than a shard channel's, so there it is only a best effort.
    async fn processed(&self) -> bool {
        match self.subscriber.ping::<fred::types::Value>(None).await {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(%err, "PING after subscribing failed; will retry");
                false
            }
        }
    }

    /// Waits until both connections are up (polling; for start-up, not for tests).
    pub async fn connected(&self) {
        while !self.is_connected() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops shard channel subscriptions (SUNSUBSCRIBE).
    pub async fn sunsubscribe(&self, channels: Vec<String>) {
        self.lock_wanted(|w| {
            channels.iter().for_each(|c| {
                w.shard_channels.remove(c);
            })
        });
        for channel in channels {
            if let Err(err) = self.subscriber.sunsubscribe(channel).await {
                tracing::debug!(%err, "SUNSUBSCRIBE failed");
            }
        }
    }

    /// PUBLISH (or SPUBLISH when `sharded`); fails fast while Redis is away.
    pub async fn publish(
        &self,
        sharded: bool,
        channel: &str,
        payload: Bytes,
    ) -> Result<(), ConnectionError> {
        let client = self.publisher.with_options(&fast());
        let result: Result<i64, _> = if sharded {
            client.spublish(channel, payload).await
        } else {
            client.publish(channel, payload).await
        };
        match result {
            Ok(_) => {
                self.metrics.published.inc();
                Ok(())
            }
            Err(err) => {
                self.metrics.publish_errors.inc();
                Err(err.into())
            }
        }
    }

    /// The number of subscribers of `channel` (PUBSUB NUMSUB, or SHARDNUMSUB when `sharded`),
    /// summed over every master of a Redis Cluster: the number of servers of a namespace.
    pub async fn subscriber_count(
        &self,
        sharded: bool,
        channel: &str,
    ) -> Result<u64, ConnectionError> {
        let count = self.numsub(sharded, channel).await?;
        self.metrics
            .nodes
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        Ok(count)
    }

    /// Whether anyone subscribes to (classic) `channel`: whether the server that alone subscribes to it runs.
    pub(crate) async fn has_subscribers(&self, channel: &str) -> Result<bool, ConnectionError> {
        Ok(self.numsub(false, channel).await? > 0)
    }

    async fn numsub(&self, sharded: bool, channel: &str) -> Result<u64, ConnectionError> {
        let client = self.publisher.with_options(&fast());
        let reply: Vec<fred::types::Value> = if sharded {
            client.pubsub_shardnumsub(channel).await?
        } else {
            client.pubsub_numsub(channel).await?
        };
        // The reply alternates channel names and counts.
        Ok(reply
            .iter()
            .skip(1)
            .step_by(2)
            .filter_map(|v| v.as_u64())
            .sum())
    }

    /// Closes both connections.
    pub async fn quit(&self) {
        let _ = self.subscriber.quit().await;
        let _ = self.publisher.quit().await;
    }

    async fn resubscribe(&self) {
        let (channels, patterns, shard) = self.lock_wanted(|w| {
            let all = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
            (all(&w.channels), all(&w.patterns), all(&w.shard_channels))
        });
        if !channels.is_empty()
            && let Err(err) = self.subscriber.subscribe(channels).await
        {
            tracing::warn!(%err, "re-SUBSCRIBE failed");
        }
        if !patterns.is_empty()
            && let Err(err) = self.subscriber.psubscribe(patterns).await
        {
            tracing::warn!(%err, "re-PSUBSCRIBE failed");
        }
        for channel in shard {
            if let Err(err) = self.subscriber.ssubscribe(channel).await {
                tracing::warn!(%err, "re-SSUBSCRIBE failed");
            }
        }
    }

    fn lock_wanted<T>(&self, f: impl FnOnce(&mut WantedSubscriptions) -> T) -> T {
        let mut guard = self
            .wanted
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}

/// Command options: fail at once when the connection is down, bounded wait otherwise.
pub(crate) fn fast() -> Options {
    Options {
        fail_fast: true,
        timeout: Some(COMMAND_TIMEOUT),
        max_attempts: Some(1),
        ..Options::default()
    }
}
