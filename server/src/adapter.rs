//! The adapter this server runs with: `adapter-redis` on every node, with a Redis connection when
//! `--redis-url` is set and without one otherwise, so one code path serves both.

use adapter_redis::{ClusterConfig, RedisCluster, StreamsConfig};
use adapter_redis::{Mode, ShardedSubscriptionMode};

use crate::config::{Config, RedisMode, SubscriptionMode};
use crate::metrics::Metrics;

/// Builds the adapter state from the configuration; registers its metrics.
pub fn cluster(
    config: &Config,
    metrics: &mut Metrics,
) -> Result<RedisCluster, adapter_redis::connection::ConnectionError> {
    let mode = match (config.redis_mode, config.redis_subscription_mode) {
        (RedisMode::Classic, _) => Mode::Classic,
        (RedisMode::Sharded, SubscriptionMode::Dynamic) => {
            Mode::Sharded(ShardedSubscriptionMode::Dynamic)
        }
        (RedisMode::Sharded, SubscriptionMode::Static) => {
            Mode::Sharded(ShardedSubscriptionMode::Static)
        }
        (RedisMode::Streams, _) => Mode::Streams,
    };
    let cluster_config = ClusterConfig {
        prefix: config.redis_prefix.clone(),
        mode,
        request_timeout: config.request_timeout,
        // Node's streams adapter names its stream like its channels by default (`socket.io`).
        streams: StreamsConfig {
            stream_name: config.redis_prefix.clone(),
            stream_count: config.redis_stream_count,
            max_len: config.redis_stream_max_len,
            ..StreamsConfig::default()
        },
    };
    let cluster = match &config.redis_url {
        Some(url) => RedisCluster::connect(url, cluster_config)?,
        None => RedisCluster::standalone(cluster_config),
    };
    cluster.metrics().register(metrics.registry_mut());
    Ok(cluster)
}
