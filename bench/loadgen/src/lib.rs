//! The benchmark's load generator: an open-loop socket.io client fleet (Engine.IO v4 + socket.io
//! v5 over WebSocket, or the long-polling handshake then the upgrade) with the workloads of
//! issue 5 — idle connections, room fan-out and the connect storm — and the readings of `/proc`
//! the driver uses. See `bench/README.md`.

pub mod common;
pub mod eio;
pub mod fanout;
pub mod hist;
pub mod idle;
pub mod procfs;
pub mod ws;
