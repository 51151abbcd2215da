//! WebSocket framing.

pub mod frame;
