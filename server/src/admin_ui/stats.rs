//! `server_stats` every two seconds, as Node's instrument sends it: who this server is, its client counts, its
//! namespaces, and `aggregatedEvents`, the counts per second of `rawConnection`, `rawDisconnection` (with the
//! close reason as `subType`), `packetsIn`, `packetsOut`, `bytesIn` and `bytesOut`.
//!
//! The counts are sampled once a second from counters (the engine's own, and two the hooks keep), so nothing is
//! added per packet. Every server broadcasts its stats to the admin namespace through the adapter: a UI on any
//! replica lists every replica.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::{DisconnectReason, Io};
use rmpv::Value;

use super::serialize::map;

const SAMPLE: Duration = Duration::from_secs(1);
/// Samples per `server_stats` (Node emits every 2 s).
const SAMPLES_PER_EMIT: u32 = 2;

/// Connections opened and closed (per reason), counted by the hooks.
#[derive(Debug, Default)]
pub struct RawEvents {
    connections: AtomicU64,
    disconnections: [AtomicU64; DisconnectReason::ALL.len()],
}

impl RawEvents {
    /// An Engine.IO connection opened.
    pub fn connection(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// An Engine.IO connection closed for `reason`.
    pub fn disconnection(&self, reason: DisconnectReason) {
        if let Some(i) = DisconnectReason::ALL.iter().position(|r| *r == reason) {
            self.disconnections[i].fetch_add(1, Relaxed);
        }
    }
}

/// Who this server is in the dashboard.
#[derive(Debug, Clone)]
pub struct Identity {
    /// `serverId`: the flag, else the node id.
    pub server_id: String,
    /// `hostname`.
    pub hostname: String,
    /// `pid`.
    pub pid: u32,
    /// When the process started serving (`uptime` counts from it).
    pub started: Instant,
}

/// One counter's reading.
#[derive(Clone, Copy)]
enum Counter {
    Connections,
    Disconnections(usize),
    PacketsIn,
    PacketsOut,
    BytesIn,
    BytesOut,
}

impl Counter {
    fn all() -> impl Iterator<Item = Counter> {
        [
            Counter::Connections,
            Counter::PacketsIn,
            Counter::PacketsOut,
            Counter::BytesIn,
            Counter::BytesOut,
        ]
        .into_iter()
        .chain((0..DisconnectReason::ALL.len()).map(Counter::Disconnections))
    }

    fn read(self, io: &Io, raw: &RawEvents) -> u64 {
        let s = io.stats();
        match self {
            Counter::Connections => raw.connections.load(Relaxed),
            Counter::Disconnections(i) => raw.disconnections[i].load(Relaxed),
            Counter::PacketsIn => s.packets_in.load(Relaxed),
            Counter::PacketsOut => s.packets_out.load(Relaxed),
            Counter::BytesIn => s.bytes_in.load(Relaxed),
            Counter::BytesOut => s.bytes_out.load(Relaxed),
        }
    }

    /// Node's `type` and `subType`.
    fn names(self) -> (&'static str, Option<&'static str>) {
        match self {
            Counter::Connections => ("rawConnection", None),
            Counter::Disconnections(i) => {
                ("rawDisconnection", Some(DisconnectReason::ALL[i].as_str()))
            }
            Counter::PacketsIn => ("packetsIn", None),
            Counter::PacketsOut => ("packetsOut", None),
            Counter::BytesIn => ("bytesIn", None),
            Counter::BytesOut => ("bytesOut", None),
        }
    }
}

/// Samples the counters every second and broadcasts `server_stats` every two, until the process ends.
pub fn spawn(io: Io, namespace: String, identity: Identity, raw: std::sync::Arc<RawEvents>) {
    tokio::spawn(async move {
        let counters: Vec<Counter> = Counter::all().collect();
        let mut last: Vec<u64> = counters.iter().map(|c| c.read(&io, &raw)).collect();
        let mut pending: Vec<Value> = Vec::new();
        let mut tick = tokio::time::interval(SAMPLE);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0u32.. {
            tick.tick().await;
            let second = epoch_millis() / 1000 * 1000;
            for (i, counter) in counters.iter().enumerate() {
                let now = counter.read(&io, &raw);
                let delta = now.saturating_sub(last[i]);
                last[i] = now;
                if delta > 0 {
                    pending.push(aggregated(second, *counter, delta));
                }
            }
            if n % SAMPLES_PER_EMIT != 0 {
                continue;
            }
            let Some(admin) = io.of(&namespace) else {
                return;
            };
            let stats = server_stats(&io, &identity, std::mem::take(&mut pending));
            if let Err(err) = admin.broadcast().emit("server_stats", vec![stats]).await {
                tracing::debug!(%err, "admin UI: server_stats not broadcast");
            }
        }
    });
}

fn aggregated(second: u64, counter: Counter, count: u64) -> Value {
    let (kind, sub) = counter.names();
    let mut fields = vec![
        ("timestamp", Value::from(second)),
        ("type", Value::from(kind)),
    ];
    if let Some(sub) = sub {
        fields.push(("subType", Value::from(sub)));
    }
    fields.push(("count", Value::from(count)));
    map(fields)
}

/// The `server_stats` payload.
pub fn server_stats(io: &Io, identity: &Identity, aggregated: Vec<Value>) -> Value {
    let stats = io.stats();
    let mut namespaces: Vec<(String, usize)> = io
        .namespaces()
        .iter()
        .map(|ns| (ns.name().to_owned(), ns.socket_count()))
        .collect();
    namespaces.sort();
    map(vec![
        ("serverId", Value::from(identity.server_id.as_str())),
        ("hostname", Value::from(identity.hostname.as_str())),
        ("pid", Value::from(identity.pid)),
        (
            "uptime",
            Value::from(identity.started.elapsed().as_secs_f64()),
        ),
        ("clientsCount", Value::from(stats.open_sessions())),
        (
            "pollingClientsCount",
            Value::from(stats.polling_sessions.load(Relaxed)),
        ),
        ("aggregatedEvents", Value::Array(aggregated)),
        (
            "namespaces",
            Value::Array(
                namespaces
                    .into_iter()
                    .map(|(name, count)| {
                        map(vec![
                            ("name", Value::from(name)),
                            ("socketsCount", Value::from(count)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

fn epoch_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
