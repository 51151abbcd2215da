//! State shared by the socket handlers, the HTTP API and the admin endpoints of one node.

use std::sync::atomic::{AtomicBool, Ordering};

use adapter_redis::RedisCluster;
use adapter_redis::connection::ConnectionError;
use jsonwebtoken::DecodingKey;

use crate::config::Config;
use crate::metrics::Metrics;

/// Everything a handler of this node may need.
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// This replica's name.
    pub node_id: String,
    /// The node's metrics.
    pub metrics: Metrics,
    /// The JWT key when `--jwt-secret` is set.
    pub jwt_key: Option<DecodingKey>,
    /// The adapter state (Redis connection when clustered).
    pub cluster: RedisCluster,
    draining: AtomicBool,
}

impl AppState {
    /// Builds the state from the configuration (the Redis connection starts in the background).
    pub fn new(config: Config) -> Result<Self, ConnectionError> {
        let node_id = config.node_id();
        let jwt_key = config
            .jwt_secret
            .as_deref()
            .map(|s| DecodingKey::from_secret(s.as_bytes()));
        let mut metrics = Metrics::new(&node_id);
        let cluster = crate::adapter::cluster(&config, &mut metrics)?;
        Ok(Self {
            metrics,
            node_id,
            jwt_key,
            cluster,
            config,
            draining: AtomicBool::new(false),
        })
    }

    /// True once a graceful shutdown started: not ready, no new handshakes.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts draining.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }
}
