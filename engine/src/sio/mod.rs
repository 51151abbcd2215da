//! socket.io v5 (and v4 for socket.io-client 2.x): packets and parsers (pure), namespaces, sockets, rooms,
//! acknowledgements and broadcasts.

pub mod ack;
pub mod broadcast;
pub mod describe;
pub mod namespace;
pub mod packet;
pub mod parser;
pub(crate) mod rooms;
pub mod socket;

pub(crate) mod client;
