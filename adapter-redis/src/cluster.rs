//! [`RedisCluster`], the state every namespace adapter of a server shares: the Redis connection
//! (none for a server that runs alone), configuration, metrics, the details of local sockets that
//! other servers may fetch, and the cluster operations socketioxide has no API for.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use rmpv::Value;
use socketioxide_core::Sid;

use crate::connection::{Connection, ConnectionError};
use crate::metrics::AdapterMetrics;
use crate::protocol::Mode;
use crate::wire::{Handshake, RemoteSocketData};

/// A boxed future, for the object-safe [`ClusterOps`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Settings of the adapter.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Channel prefix (Node's `key`, default `socket.io`).
    pub prefix: String,
    /// Classic or sharded protocol.
    pub mode: Mode,
    /// How long cluster requests wait for every server (Node's `requestsTimeout`).
    pub request_timeout: Duration,
    /// Incremented for each socket disconnected because its outgoing buffer was full.
    pub slow_consumers: Counter,
    /// Incremented for each packet queued to a local socket.
    pub packets_sent: Counter,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            prefix: crate::wire::DEFAULT_KEY.to_owned(),
            mode: Mode::Classic,
            request_timeout: Duration::from_secs(5),
            slow_consumers: Counter::default(),
            packets_sent: Counter::default(),
        }
    }
}

/// A cluster operation that could not complete.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Redis is unreachable: the request was not sent.
    #[error("the cluster is unavailable: {0}")]
    Unavailable(#[from] ConnectionError),
    /// Not every server answered in time; `partial` holds what arrived.
    #[error("timeout reached: only {received} responses received out of {expected}")]
    Timeout {
        /// Answers received.
        received: usize,
        /// Answers expected.
        expected: usize,
    },
}

/// What this server tells others about one of its sockets when they fetch it.
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The handshake, as Node's `socket.handshake`.
    pub handshake: Handshake,
    /// Node's `socket.data`.
    pub data: Option<Value>,
}

/// Sockets fetched across the cluster; on timeout, the sockets that did arrive and the error.
#[derive(Debug)]
pub struct Fetched {
    /// Every socket that answered: local ones first, then those of the servers that answered in time.
    pub sockets: Vec<RemoteSocketData>,
    /// Set when some server did not answer in time (the list is then partial) or Redis is away.
    pub error: Option<ClusterError>,
}

/// Handler of server-side emits from other servers: gets `[event, ...args]`, returns the
/// acknowledgement argument (sent back only when the emitter asked for acknowledgements).
pub type ServerSideHandler = Arc<dyn Fn(Vec<Value>) -> Option<Value> + Send + Sync>;

/// Cluster operations of one namespace beyond socketioxide's API.
pub trait ClusterOps: Send + Sync {
    /// Every socket in any of `rooms` (all when empty) on every server, with handshake, rooms and
    /// `data`, as Node's `fetchSockets()`; sockets of Node servers included.
    fn fetch_sockets(&self, rooms: Vec<String>) -> BoxFuture<'_, Fetched>;

    /// Node's `serverSideEmit(event, ...args)`: `data` is `[event, ...args]`. With `ack`, waits that
    /// long for one acknowledgement per other server (`serverSideEmitWithAck`) and returns them.
    fn server_side_emit(
        &self,
        data: Vec<Value>,
        ack: Option<Duration>,
    ) -> BoxFuture<'_, Result<Vec<Value>, ClusterError>>;

    /// Tells the adapter a local socket joined `room`, so that the sharded `dynamic` mode can
    /// subscribe to the room's channel before the join is acknowledged. A no-op in other modes.
    fn room_joined(&self, room: String) -> BoxFuture<'_, ()>;
}

pub(crate) struct Shared {
    pub(crate) connection: Option<Connection>,
    pub(crate) config: ClusterConfig,
    pub(crate) metrics: Arc<AdapterMetrics>,
    pub(crate) namespaces: Mutex<HashMap<String, Arc<dyn ClusterOps>>>,
    pub(crate) sockets: RwLock<HashMap<Sid, SocketInfo>>,
    pub(crate) slow: Mutex<std::collections::HashSet<Sid>>,
    pub(crate) subscribed: std::sync::atomic::AtomicBool,
    pub(crate) server_side: RwLock<Option<ServerSideHandler>>,
}

/// The shared state of a server's adapters; pass it to `SocketIoBuilder::with_adapter`.
#[derive(Clone)]
pub struct RedisCluster {
    pub(crate) shared: Arc<Shared>,
}

impl RedisCluster {
    /// A server that runs alone: no Redis, every operation is local.
    pub fn standalone(config: ClusterConfig) -> Self {
        Self::with_connection(None, config, Arc::default())
    }

    /// A cluster member on the Redis at `url` (see [`Connection::new`] for the URL forms). The
    /// connection is made in the background: this returns at once, and the server works locally
    /// until Redis answers.
    pub fn connect(url: &str, config: ClusterConfig) -> Result<Self, ConnectionError> {
        let metrics = Arc::new(AdapterMetrics::default());
        let connection = Connection::new(url, metrics.clone())?;
        connection.start();
        Ok(Self::with_connection(Some(connection), config, metrics))
    }

    fn with_connection(
        connection: Option<Connection>,
        config: ClusterConfig,
        metrics: Arc<AdapterMetrics>,
    ) -> Self {
        let shared = Shared {
            connection,
            config,
            metrics,
            namespaces: Mutex::default(),
            sockets: RwLock::default(),
            slow: Mutex::default(),
            subscribed: std::sync::atomic::AtomicBool::new(false),
            server_side: RwLock::default(),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// The adapter's metrics.
    pub fn metrics(&self) -> &AdapterMetrics {
        &self.shared.metrics
    }

    /// Whether the server may take clients: always when alone; as a cluster member, once Redis
    /// confirmed its subscriptions the first time. A later Redis outage does not change it (the
    /// node keeps serving its own sockets; taking every replica out at once would be worse).
    pub fn is_ready(&self) -> bool {
        self.shared.connection.is_none()
            || self
                .shared
                .subscribed
                .load(std::sync::atomic::Ordering::Acquire)
    }

    /// The cluster operations of namespace `nsp`, once its adapter is initialised.
    pub fn namespace(&self, nsp: &str) -> Option<Arc<dyn ClusterOps>> {
        self.shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(nsp)
            .cloned()
    }

    /// Records what other servers see of local socket `sid` when they fetch it.
    pub fn set_socket_info(&self, sid: Sid, info: SocketInfo) {
        self.shared
            .sockets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sid, info);
    }

    /// Forgets socket `sid` (call on disconnect).
    pub fn remove_socket_info(&self, sid: Sid) {
        self.shared
            .sockets
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&sid);
        self.shared
            .slow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&sid);
    }

    /// Records that local socket `sid` has a full outgoing buffer; counts it the first time
    /// (returns true then). The caller disconnects it.
    pub fn note_slow_consumer(&self, sid: Sid) -> bool {
        self.shared.note_slow_consumer(sid)
    }

    /// Installs the handler of server-side emits from other servers.
    pub fn on_server_side_emit(
        &self,
        handler: impl Fn(Vec<Value>) -> Option<Value> + Send + Sync + 'static,
    ) {
        *self
            .shared
            .server_side
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(handler));
    }

    /// Closes the Redis connections.
    pub async fn close(&self) {
        if let Some(conn) = &self.shared.connection {
            conn.quit().await;
        }
    }
}

impl Shared {
    pub(crate) fn socket_info(&self, sid: Sid) -> Option<SocketInfo> {
        self.sockets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&sid)
            .cloned()
    }

    /// Marks `sid` as a slow consumer and counts it, the first time only (returns true then).
    pub(crate) fn note_slow_consumer(&self, sid: Sid) -> bool {
        let first = self
            .slow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sid);
        if first {
            self.config.slow_consumers.inc();
        }
        first
    }

    pub(crate) fn mark_subscribed(&self) {
        self.subscribed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn server_side_handler(&self) -> Option<ServerSideHandler> {
        self.server_side
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
