//! The project's own Engine.IO (v4, and v3 on request) and socket.io (v5) server engine.
//!
//! Why it exists: the borrowed engine (socketioxide/engineioxide) cost 1.7x Node's memory per idle connection,
//! spent its fan-out CPU on per-socket channels and task wake-ups, and deviated from Node's protocol where it
//! mattered (an immediate first ping, a close packet on ping timeout, no way to disconnect a slow consumer, no
//! hook for connection state recovery). The measurements are in `bench/results/`.
//!
//! Layers, bottom up, each in its own folder:
//! - [`value`]: the JSON dialect of `JSON.parse`/`JSON.stringify` on [`rmpv::Value`];
//! - [`eio`]: Engine.IO packets and polling payloads;
//! - [`ws`]: WebSocket frames;
//! - [`sio`]: socket.io packets and the two parsers (default with binary attachments, MessagePack).

pub mod eio;
pub mod sio;
pub mod value;
pub mod ws;
