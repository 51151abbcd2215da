//! An adapter for the project's socket.io engine on Redis that speaks the wire protocol of the Node
//! `@socket.io/redis-adapter` 8.x, so that Rust and Node servers share one cluster, and that every
//! `@socket.io/redis-emitter` can reach it.
//!
//! - [`wire`]: the pure codec of both Node protocols (classic PUBLISH/SUBSCRIBE and sharded SPUBLISH/SSUBSCRIBE),
//!   bytes in, values out, tested against captured Node traffic;
//! - `protocol`: the operations servers exchange, mapped onto either protocol's channels and payloads;
//! - [`connection`]: the Redis connections, reconnection and resubscription;
//! - `requests`: request ids, expected answers and timeouts;
//! - `adapter`: the engine's [`engine::Adapter`] of one namespace, one job per file;
//! - [`cluster`]: [`RedisCluster`], the state a server's adapters share and the engine's
//!   [`engine::AdapterFactory`].
//!
//! ```ignore
//! let cluster = RedisCluster::connect("redis://127.0.0.1:6379", ClusterConfig::default())?;
//! let io = engine::Io::builder(config).adapter(Arc::new(cluster.clone())).namespace("/", handler).build();
//! ```
//!
//! ```
//! use adapter_redis::wire::{BroadcastMessage, ClassicChannels, DEFAULT_KEY};
//!
//! // What `io.to("room2").emit("hello", "room2-only")` publishes from a Node server.
//! let payload = [
//!     0x93, 0xa6, b'4', b'o', b'm', b'a', b's', b'0', 0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa4, b'd', b'a',
//!     b't', b'a', 0x92, 0xa5, b'h', b'e', b'l', b'l', b'o', 0xaa, b'r', b'o', b'o', b'm', b'2', b'-', b'o', b'n',
//!     b'l', b'y', 0xa3, b'n', b's', b'p', 0xa1, b'/', 0x83, 0xa5, b'r', b'o', b'o', b'm', b's', 0x91, 0xa5, b'r',
//!     b'o', b'o', b'm', b'2', 0xa6, b'e', b'x', b'c', b'e', b'p', b't', 0x90, 0xa5, b'f', b'l', b'a', b'g', b's',
//!     0x80,
//! ];
//! let msg = BroadcastMessage::decode(&payload)?;
//! assert_eq!(msg.uid, "4omas0");
//! assert_eq!(msg.packet.event_name(), Some("hello"));
//! assert_eq!(msg.opts.rooms, ["room2"]);
//! assert_eq!(msg.encode(), payload);
//!
//! let channels = ClassicChannels::new(DEFAULT_KEY, msg.packet.namespace());
//! assert_eq!(channels.broadcast_channel_for(&msg.opts.rooms), "socket.io#/#room2#");
//! # Ok::<(), adapter_redis::wire::WireError>(())
//! ```

mod adapter;
pub mod cluster;
pub mod connection;
pub mod metrics;
pub(crate) mod protocol;
pub(crate) mod requests;
pub mod wire;

pub use cluster::{ClusterConfig, RedisCluster, StreamsConfig};
pub use connection::ConnectionError;
pub use protocol::Mode;
pub use wire::ShardedSubscriptionMode;

pub use wire::{
    BroadcastFlags, BroadcastMessage, BroadcastOptions, ClassicChannels, Encoding, Packet,
    RawResponse, Request, RequestType, Response, ShardedBody, ShardedChannels, ShardedMessage,
    WireError,
};
