//! Prometheus metrics of one node, served on the admin port.
//!
//! Labels are bounded: event names come from the contract (anything else is `unknown`) and
//! disconnect reasons from the engine's fixed list (Node's names); there is never a per-socket
//! label. The engine's own counters (packets and bytes in and out, open connections) are read at
//! each scrape.

use std::sync::{Arc, OnceLock};

use engine::Io;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Label set carrying one bounded string label named `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Why a socket disconnected.
    pub reason: &'static str,
}

/// Label set carrying one bounded string label named `event`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    /// A contract event name, or `unknown`.
    pub event: &'static str,
}

/// Label set naming a listener: `main` (socket.io and the API) or `admin`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    /// `main` or `admin`.
    pub listener: &'static str,
}

/// Label set of a refused connection: the listener and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabel {
    /// `main` or `admin`.
    pub listener: &'static str,
    /// `max_connections` or `peer_pending`.
    pub reason: &'static str,
}

/// Label set of an HTTP timeout: the listener and which timeout.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TimeoutLabel {
    /// `main` or `admin`.
    pub listener: &'static str,
    /// `header`, `body` or `keep_alive`.
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    node_id: String,
}

/// Every metric the node exports.
pub struct Metrics {
    registry: Registry,
    /// Sockets currently connected to namespace `/`.
    pub connected_clients: Gauge,
    /// Sockets that completed the namespace connection.
    pub connections: Counter,
    /// Disconnections by reason.
    pub disconnections: Family<ReasonLabel, Counter>,
    /// Client events received, by event name.
    pub events_received: Family<EventLabel, Counter>,
    /// Accepted `POST /api/v1/emit` calls.
    pub api_emits: Counter,
    /// Client events refused by the rate limiter.
    pub rate_limited: Counter,
    /// Sockets disconnected because their outgoing buffer was full.
    pub slow_consumer_disconnects: Counter,
    /// Handshakes refused (authentication, bad auth payload, draining).
    pub handshakes_refused: Counter,
    /// HTTP API calls refused for a missing or wrong key.
    pub api_auth_failures: Counter,
    /// TCP connections open, per listener (upgraded WebSockets included).
    pub open_connections: Family<ListenerLabel, Gauge>,
    /// The connection limit of each listener.
    pub max_connections: Family<ListenerLabel, Gauge>,
    /// Connections closed at once on accept, by listener and reason.
    pub connections_refused: Family<RefusedLabel, Counter>,
    /// Connections closed by an HTTP timeout, by listener and timeout.
    pub http_timeouts: Family<TimeoutLabel, Counter>,
    /// Failed `accept` calls (out of file descriptors and the like), per listener.
    pub accept_errors: Family<ListenerLabel, Counter>,
    engine: Arc<OnceLock<EngineHandle>>,
}

/// The engine whose counters are exported.
struct EngineHandle(Io);

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EngineHandle")
    }
}

/// Reads the engine's counters at each scrape.
#[derive(Debug)]
struct EngineCollector(Arc<OnceLock<EngineHandle>>);

impl Collector for EngineCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(EngineHandle(io)) = self.0.get() else {
            return Ok(());
        };
        let s = io.stats();
        let counters = [
            (
                "packets_sent",
                "Engine.IO packets written to clients",
                &s.packets_out,
            ),
            (
                "packets_received",
                "Engine.IO messages received from clients",
                &s.packets_in,
            ),
            ("bytes_sent", "Bytes written to clients", &s.bytes_out),
            ("bytes_received", "Bytes received from clients", &s.bytes_in),
        ];
        for (name, help, value) in counters {
            let c = ConstCounter::new(value.load(Relaxed));
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let gauges = [
            (
                "engine_connections",
                "Open Engine.IO connections",
                s.open_sessions(),
            ),
            (
                "polling_connections",
                "Open Engine.IO connections on long-polling",
                s.polling_sessions.load(Relaxed),
            ),
        ];
        for (name, help, value) in gauges {
            let g = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

impl Metrics {
    /// Creates and registers every metric, with `node_id` in the build info.
    pub fn new(node_id: &str) -> Self {
        let mut registry = Registry::with_prefix("sio");
        let m = Self {
            connected_clients: Gauge::default(),
            connections: Counter::default(),
            disconnections: Family::default(),
            events_received: Family::default(),
            api_emits: Counter::default(),
            rate_limited: Counter::default(),
            slow_consumer_disconnects: Counter::default(),
            handshakes_refused: Counter::default(),
            api_auth_failures: Counter::default(),
            open_connections: Family::default(),
            max_connections: Family::default(),
            connections_refused: Family::default(),
            http_timeouts: Family::default(),
            accept_errors: Family::default(),
            registry: Registry::default(),
            engine: Arc::new(OnceLock::new()),
        };
        registry.register_collector(Box::new(EngineCollector(m.engine.clone())));
        registry.register(
            "connected_clients",
            "Connected sockets",
            m.connected_clients.clone(),
        );
        registry.register("connections", "Socket connections", m.connections.clone());
        registry.register(
            "disconnections",
            "Socket disconnections by reason",
            m.disconnections.clone(),
        );
        registry.register(
            "events_received",
            "Client events received",
            m.events_received.clone(),
        );
        registry.register("api_emits", "HTTP API emits", m.api_emits.clone());
        registry.register(
            "rate_limited",
            "Events refused by the rate limiter",
            m.rate_limited.clone(),
        );
        registry.register(
            "slow_consumer_disconnects",
            "Sockets disconnected because their outgoing buffer stayed full",
            m.slow_consumer_disconnects.clone(),
        );
        registry.register(
            "handshakes_refused",
            "Refused handshakes",
            m.handshakes_refused.clone(),
        );
        registry.register(
            "api_auth_failures",
            "HTTP API calls refused for a missing or wrong key",
            m.api_auth_failures.clone(),
        );
        registry.register(
            "open_connections",
            "Open TCP connections per listener, upgraded WebSockets included",
            m.open_connections.clone(),
        );
        registry.register(
            "max_connections",
            "Connection limit per listener",
            m.max_connections.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed on accept, by reason",
            m.connections_refused.clone(),
        );
        registry.register(
            "http_timeouts",
            "Connections closed by an HTTP timeout",
            m.http_timeouts.clone(),
        );
        registry.register(
            "accept_errors",
            "Failed accept calls",
            m.accept_errors.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                node_id: node_id.to_owned(),
            })
            .set(1);
        registry.register("build_info", "Build information", build);
        Self { registry, ..m }
    }

    /// Exports the counters of `io`'s engine (called once at start).
    pub fn register_engine(&self, io: Io) {
        let _ = self.engine.set(EngineHandle(io));
    }

    /// The registry, to register more metrics (the adapter's) at start.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// Renders the Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_prefix() {
        let m = Metrics::new("node-a");
        m.register_engine(engine::Io::builder(engine::EngineConfig::default()).build());
        m.events_received
            .get_or_create(&EventLabel { event: "join" })
            .inc();
        m.disconnections
            .get_or_create(&ReasonLabel {
                reason: "transport close",
            })
            .inc();
        let text = m.render();
        for name in [
            "sio_connected_clients",
            "sio_connections_total",
            "sio_disconnections_total{reason=\"transport close\"} 1",
            "sio_events_received_total{event=\"join\"} 1",
            "sio_packets_sent_total",
            "sio_bytes_received_total",
            "sio_engine_connections",
            "sio_api_emits_total",
            "sio_rate_limited_total",
            "sio_slow_consumer_disconnects_total",
            "sio_api_auth_failures_total",
            "sio_build_info{version=",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
