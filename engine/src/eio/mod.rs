//! Engine.IO (v4, and v3 for socket.io-client 2.x): packets and payloads (pure), the session with its queue
//! budgets and heartbeat, the session's task, the two transports and the request routing.

pub mod error;
pub mod handshake;
pub mod packet;
pub mod payload;
pub mod reason;
pub mod session;
pub mod stats;

pub(crate) mod driver;
pub(crate) mod polling;
pub(crate) mod server;
pub(crate) mod websocket;
