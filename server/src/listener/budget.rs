//! How many connections a listener may hold: a total, and per peer address a number of
//! connections that have not sent a whole request yet.
//!
//! Admission happens in the accept loop, before anything is read: a connection over a limit is
//! refused at once instead of holding a descriptor (or waiting in the kernel's backlog) while the
//! process runs out of them. Every admitted connection holds an [`Admission`]; dropping it (the
//! socket closed) frees its place.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::metrics::gauge::Gauge;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds its maximum of connections.
    MaxConnections,
    /// The peer address holds its maximum of unfinished connections.
    PeerPending,
}

impl Refusal {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::PeerPending => "peer_pending",
        }
    }

    /// The message of the 503 answer.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "Too many connections",
            Refusal::PeerPending => "Too many unfinished connections from this address",
        }
    }
}

/// The connection budget of one listener.
pub struct Budget {
    max: usize,
    open: AtomicUsize,
    gauge: Gauge,
    per_peer: Option<(u32, Arc<PeerTable>)>,
}

impl Budget {
    /// At most `max` open connections (mirrored in `gauge`), and with `per_peer` at most that
    /// many unfinished connections per peer address.
    pub fn new(max: usize, gauge: Gauge, per_peer: Option<u32>) -> Self {
        Self {
            max,
            open: AtomicUsize::new(0),
            gauge,
            per_peer: per_peer.map(|cap| (cap, Arc::new(PeerTable::default()))),
        }
    }

    /// Takes a place for a connection from `ip`, or says why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Admission, Refusal> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map_err(|_| Refusal::MaxConnections)?;
        let open = OpenSlot(self.clone());
        self.gauge.inc();
        let peer = match &self.per_peer {
            None => None,
            Some((cap, table)) => {
                Some(PeerTable::admit(table, ip, *cap).ok_or(Refusal::PeerPending)?)
            }
        };
        Ok(Admission { open, peer })
    }
}

/// A place in a [`Budget`]: the open slot and, when counted per peer, the peer slot.
pub struct Admission {
    /// Released when the connection closes.
    pub open: OpenSlot,
    /// Counted while the connection is unfinished (see `Tracker`).
    pub peer: Option<PeerSlot>,
}

/// One open connection; dropping it frees the place.
pub struct OpenSlot(Arc<Budget>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.gauge.dec();
    }
}

/// Unfinished connections per peer address.
#[derive(Default)]
pub struct PeerTable {
    counts: Mutex<HashMap<IpAddr, u32>>,
}

impl PeerTable {
    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, u32>> {
        // Counts stay consistent whatever panicked while the lock was held.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn admit(table: &Arc<Self>, ip: IpAddr, cap: u32) -> Option<PeerSlot> {
        let mut counts = table.lock();
        let n = counts.entry(ip).or_insert(0);
        if *n >= cap {
            if *n == 0 {
                counts.remove(&ip);
            }
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            table: table.clone(),
            ip,
            counted: true,
        })
    }

    fn add(&self, ip: IpAddr) {
        *self.lock().entry(ip).or_insert(0) += 1;
    }

    fn remove(&self, ip: IpAddr) {
        let mut counts = self.lock();
        if let Some(n) = counts.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&ip);
            }
        }
    }

    /// Unfinished connections of `ip`.
    #[cfg(test)]
    fn count(&self, ip: IpAddr) -> u32 {
        self.lock().get(&ip).copied().unwrap_or(0)
    }
}

/// A connection's entry in the [`PeerTable`]: counted while the connection is unfinished.
pub struct PeerSlot {
    table: Arc<PeerTable>,
    ip: IpAddr,
    counted: bool,
}

impl PeerSlot {
    /// Counts or stops counting the connection against its address.
    pub fn set_counted(&mut self, counted: bool) {
        if counted != self.counted {
            if counted {
                self.table.add(self.ip);
            } else {
                self.table.remove(self.ip);
            }
            self.counted = counted;
        }
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        self.set_counted(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn the_total_is_capped_and_freed_on_drop() {
        let gauge = Gauge::default();
        let budget = Arc::new(Budget::new(2, gauge.clone(), None));
        let a = budget.admit(A).ok();
        let b = budget.admit(B).ok();
        assert!(a.is_some() && b.is_some());
        assert_eq!(budget.admit(A).err(), Some(Refusal::MaxConnections));
        assert_eq!(gauge.get(), 2);
        drop(a);
        assert_eq!(gauge.get(), 1);
        assert!(budget.admit(A).is_ok());
        assert_eq!(gauge.get(), 1, "the admission above was dropped at once");
    }

    #[test]
    fn unfinished_connections_are_capped_per_address() {
        let budget = Arc::new(Budget::new(100, Gauge::default(), Some(2)));
        let mut first = budget.admit(A).ok();
        let _second = budget.admit(A).ok();
        assert_eq!(budget.admit(A).err(), Some(Refusal::PeerPending));
        assert!(budget.admit(B).is_ok(), "another address is not affected");
        // A refusal for the peer cap does not keep the open slot.
        assert_eq!(budget.open.load(Ordering::Acquire), 2);
        // The first connection finished its request: it no longer counts.
        if let Some(slot) = first.as_mut().and_then(|a| a.peer.as_mut()) {
            slot.set_counted(false);
        }
        let third = budget.admit(A).ok();
        assert!(third.is_some());
        let table = budget.per_peer.as_ref().map(|(_, t)| t.clone());
        let table = table.as_deref().map(|t| t.count(A));
        assert_eq!(table, Some(2));
        drop(first);
        drop(third);
        let table = budget.per_peer.as_ref().map(|(_, t)| t.count(A));
        assert_eq!(table, Some(1));
    }
}
