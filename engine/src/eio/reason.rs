//! Why a session or a socket ended, named as Node names it.

use std::fmt;

/// The reason a socket was disconnected, as Node's `disconnect` event names it (plus `slow consumer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The connection was closed (the client left, or the network dropped it).
    TransportClose,
    /// The connection failed (a protocol error of the transport, an overlapping poll).
    TransportError,
    /// No pong within `pingTimeout` (v4), or no ping within `pingInterval + pingTimeout` (v3).
    PingTimeout,
    /// The connection was closed for a protocol error of the socket.io layer (an undecodable packet), or by
    /// the server.
    ForcedClose,
    /// The client sent a valid packet in the wrong state (for a namespace it did not join, a second CONNECT).
    ForcedServerClose,
    /// The server disconnected the socket from its namespace (the connection stays).
    ServerNamespaceDisconnect,
    /// The client left the namespace (the connection stays).
    ClientNamespaceDisconnect,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client sent a packet that could not be parsed.
    ParseError,
    /// The socket's outgoing queue went over its budget (`--max-buffer`, `--max-buffer-bytes`).
    SlowConsumer,
}

impl DisconnectReason {
    /// Node's name for the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::PingTimeout => "ping timeout",
            Self::ForcedClose => "forced close",
            Self::ForcedServerClose => "forced server close",
            Self::ServerNamespaceDisconnect => "server namespace disconnect",
            Self::ClientNamespaceDisconnect => "client namespace disconnect",
            Self::ServerShuttingDown => "server shutting down",
            Self::ParseError => "parse error",
            Self::SlowConsumer => "slow consumer",
        }
    }

    /// Every reason, for metrics that pre-register their labels.
    pub const ALL: [DisconnectReason; 10] = [
        Self::TransportClose,
        Self::TransportError,
        Self::PingTimeout,
        Self::ForcedClose,
        Self::ForcedServerClose,
        Self::ServerNamespaceDisconnect,
        Self::ClientNamespaceDisconnect,
        Self::ServerShuttingDown,
        Self::ParseError,
        Self::SlowConsumer,
    ];

    /// Whether Node's connection state recovery keeps the session for this reason.
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            Self::TransportError
                | Self::TransportClose
                | Self::ForcedClose
                | Self::PingTimeout
                | Self::ServerShuttingDown
                | Self::ForcedServerClose
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
