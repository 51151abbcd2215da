//! WebSocket framing.
