//! The adapter's Prometheus metrics, registered by the server under its own registry.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The kind of a malformed message (a bounded label).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MalformedLabel {
    /// What was wrong: `broadcast`, `request`, `response`, `channel`.
    pub kind: &'static str,
}

/// Counters and gauges of one server's adapter.
#[derive(Default)]
pub struct AdapterMetrics {
    /// 1 while both Redis connections are up.
    pub connected: Gauge,
    /// Messages published.
    pub published: Counter,
    /// Messages received from Redis.
    pub received: Counter,
    /// Failed publishes (Redis away or refusing).
    pub publish_errors: Counter,
    /// Reconnections to Redis after a loss.
    pub reconnects: Counter,
    /// Cluster requests that timed out before every node answered.
    pub request_timeouts: Counter,
    /// Servers of the namespace seen at the last count (PUBSUB NUMSUB).
    pub nodes: Gauge,
    /// Malformed messages dropped, by kind.
    pub malformed: Family<MalformedLabel, Counter>,
}

impl AdapterMetrics {
    /// Registers every metric in `registry` (names prefixed `adapter_`).
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("adapter");
        r.register(
            "connected",
            "1 while the Redis connections are up",
            self.connected.clone(),
        );
        r.register(
            "published",
            "Messages published to Redis",
            self.published.clone(),
        );
        r.register(
            "received",
            "Messages received from Redis",
            self.received.clone(),
        );
        r.register(
            "publish_errors",
            "Failed publishes",
            self.publish_errors.clone(),
        );
        r.register(
            "reconnects",
            "Reconnections to Redis",
            self.reconnects.clone(),
        );
        r.register(
            "request_timeouts",
            "Cluster requests that timed out",
            self.request_timeouts.clone(),
        );
        r.register("nodes", "Servers seen in the namespace", self.nodes.clone());
        r.register(
            "malformed",
            "Malformed messages dropped",
            self.malformed.clone(),
        );
    }
}
