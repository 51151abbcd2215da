//! [`RedisCluster`], the state every namespace adapter of a server shares (the Redis connection, none for a
//! server that runs alone; configuration; metrics; the server-side emit handler), and the engine's
//! [`AdapterFactory`] that creates one adapter per namespace.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use engine::adapter::{Adapter, AdapterFactory, LocalNamespace};
use rmpv::Value;

use crate::adapter::RedisAdapter;
use crate::connection::{Connection, ConnectionError};
use crate::metrics::AdapterMetrics;
use crate::protocol::Mode;

/// The longest a shutdown waits for queued session writes ([`RedisCluster::close`]): a little more than one
/// Redis command timeout.
pub const SESSION_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Settings of the adapter.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Channel prefix (Node's `key`, default `socket.io`).
    pub prefix: String,
    /// Classic or sharded protocol.
    pub mode: Mode,
    /// How long cluster requests wait for every server (Node's `requestsTimeout`).
    pub request_timeout: Duration,
    /// The stream settings of [`Mode::Streams`].
    pub streams: StreamsConfig,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            prefix: crate::wire::DEFAULT_KEY.to_owned(),
            mode: Mode::Classic,
            request_timeout: Duration::from_secs(5),
            streams: StreamsConfig::default(),
        }
    }
}

/// The options of `@socket.io/redis-streams-adapter` that the streams mode exposes, with Node's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamsConfig {
    /// `streamName`: the stream (with `stream_count` > 1, the prefix of the streams).
    pub stream_name: String,
    /// `streamCount`: namespaces are spread over this many streams by a hash of their name.
    pub stream_count: u32,
    /// `maxLen`: the stream is trimmed to about this many entries (`MAXLEN ~`); the recovery window in events.
    pub max_len: u64,
    /// `sessionKeyPrefix`: where disconnected sockets' sessions are kept.
    pub session_prefix: String,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        use crate::wire::streams;
        Self {
            stream_name: streams::DEFAULT_STREAM_NAME.to_owned(),
            stream_count: 1,
            max_len: streams::DEFAULT_MAX_LEN,
            session_prefix: streams::DEFAULT_SESSION_PREFIX.to_owned(),
        }
    }
}

/// Handler of server-side emits from other servers: gets `[event, ...args]`, returns the
/// acknowledgement argument (sent back only when the emitter asked for acknowledgements).
pub(crate) type ServerSideHandler = Arc<dyn Fn(Vec<Value>) -> Option<Value> + Send + Sync>;

pub(crate) struct Shared {
    pub(crate) connection: Option<Connection>,
    pub(crate) config: ClusterConfig,
    pub(crate) metrics: Arc<AdapterMetrics>,
    /// This server's id on the wire (Node's `uid`).
    pub(crate) uid: String,
    /// The adapter of each namespace, for [`RedisCluster::sync_rooms`].
    pub(crate) namespaces: Mutex<HashMap<String, Weak<RedisAdapter>>>,
    pub(crate) subscribed: AtomicBool,
    pub(crate) server_side: RwLock<Option<ServerSideHandler>>,
}

/// The shared state of a server's adapters; the engine's adapter factory
/// (`Io::builder(config).adapter(Arc::new(cluster))`).
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
    /// until Redis answers. Must be called within a tokio runtime.
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
        // Node's uids are random too; 16 characters keep them apart from socket ids (20).
        let uid = engine::Sid::new().as_str()[..16].to_owned();
        let shared = Shared {
            connection,
            config,
            metrics,
            uid,
            namespaces: Mutex::default(),
            subscribed: AtomicBool::new(false),
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
        self.shared.connection.is_none() || self.shared.subscribed.load(Ordering::Acquire)
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

    /// Waits until the room channel subscriptions that namespace `nsp` asked for so far were confirmed by
    /// Redis (sharded `dynamic` mode; returns at once otherwise). A server that acknowledges a join only after
    /// this never misses a broadcast another server publishes to the room's channel afterwards.
    pub async fn sync_rooms(&self, nsp: &str) {
        let adapter = self
            .shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(nsp)
            .and_then(Weak::upgrade);
        if let Some(adapter) = adapter {
            adapter.sync_rooms().await;
        }
    }

    /// Closes the Redis connections, once the session writes queued so far (connection state recovery in
    /// streams mode: the sessions of the sockets a drain just closed) reached Redis, waiting at most
    /// [`SESSION_FLUSH_TIMEOUT`] for them.
    pub async fn close(&self) {
        let adapters: Vec<Arc<RedisAdapter>> = self
            .shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        let flushed = futures_util::future::join_all(
            adapters
                .iter()
                .map(|a| a.flush_sessions(SESSION_FLUSH_TIMEOUT)),
        )
        .await;
        if flushed.contains(&false) {
            tracing::warn!(
                timeout = ?SESSION_FLUSH_TIMEOUT,
                "session writes still pending at shutdown; some sessions may not recover"
            );
        }
        if let Some(conn) = &self.shared.connection {
            conn.quit().await;
        }
    }
}

impl AdapterFactory for RedisCluster {
    fn create(&self, namespace: LocalNamespace) -> Arc<dyn Adapter> {
        let adapter = RedisAdapter::start(self.shared.clone(), namespace);
        self.shared
            .namespaces
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(adapter.nsp().to_owned(), Arc::downgrade(&adapter));
        adapter
    }
}

impl Shared {
    pub(crate) fn mark_subscribed(&self) {
        self.subscribed.store(true, Ordering::Release);
    }

    pub(crate) fn server_side_handler(&self) -> Option<ServerSideHandler> {
        self.server_side
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
