//! Engine-wide counters (connections, packets and bytes in and out): relaxed atomics, cheap enough to keep on
//! always; metrics and the admin UI read them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters since the engine started.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Engine.IO sessions opened.
    pub connections: AtomicU64,
    /// Engine.IO sessions closed.
    pub disconnections: AtomicU64,
    /// Open sessions whose transport is polling.
    pub polling_sessions: AtomicU64,
    /// Packets received from clients.
    pub packets_in: AtomicU64,
    /// Packets written to clients.
    pub packets_out: AtomicU64,
    /// Bytes received from clients (message payloads and polling bodies).
    pub bytes_in: AtomicU64,
    /// Bytes written to clients.
    pub bytes_out: AtomicU64,
}

impl EngineStats {
    pub(crate) fn packet_in(&self) {
        self.packets_in.fetch_add(1, Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
    }

    pub(crate) fn sent(&self, packets: usize, bytes: usize) {
        self.packets_out.fetch_add(packets as u64, Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> u64 {
        self.connections
            .load(Relaxed)
            .saturating_sub(self.disconnections.load(Relaxed))
    }
}
