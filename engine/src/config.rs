//! The engine's settings: Node's server options that the product exposes.

use std::time::Duration;

use crate::sio::parser::Parser;

/// Which transports clients may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

/// Connection state recovery (Node's `connectionStateRecovery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// `maxDisconnectionDuration`: how long a disconnected socket's session and missed packets are kept.
    pub max_disconnection: Duration,
    /// `skipMiddlewares`: a recovered socket skips the connect middleware.
    pub skip_middlewares: bool,
    /// Most packets the in-memory store keeps per namespace (older ones are dropped first).
    pub max_packets: usize,
}

impl Default for Recovery {
    fn default() -> Self {
        Self {
            max_disconnection: Duration::from_secs(120),
            skip_middlewares: true,
            max_packets: 10_000,
        }
    }
}

/// Engine settings (Node's `ServerOptions` names in the doc comments).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `path`: where Engine.IO answers, e.g. `/socket.io`.
    pub path: String,
    /// `pingInterval`.
    pub ping_interval: Duration,
    /// `pingTimeout`.
    pub ping_timeout: Duration,
    /// `connectTimeout`: time to connect to a namespace after the handshake.
    pub connect_timeout: Duration,
    /// `upgradeTimeout`: time to finish an upgrade once the probe started.
    pub upgrade_timeout: Duration,
    /// `maxHttpBufferSize`: largest message and polling body a client may send, in bytes.
    pub max_payload: u64,
    /// `transports`.
    pub transports: Transports,
    /// `allowEIO3`.
    pub allow_eio3: bool,
    /// The socket.io parser.
    pub parser: Parser,
    /// Outgoing packets a session may have queued; beyond it the session is closed as a slow consumer.
    pub max_buffer_packets: usize,
    /// Outgoing bytes a session may have queued; beyond it the session is closed as a slow consumer.
    pub max_buffer_bytes: usize,
    /// Connection state recovery, when on.
    pub recovery: Option<Recovery>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            path: "/socket.io".into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            connect_timeout: Duration::from_millis(45_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            transports: Transports {
                polling: true,
                websocket: true,
            },
            allow_eio3: false,
            parser: Parser::Default,
            max_buffer_packets: 1024,
            max_buffer_bytes: 4 * 1024 * 1024,
            recovery: None,
        }
    }
}
