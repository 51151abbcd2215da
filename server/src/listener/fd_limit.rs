//! The file descriptor limit and the main port's connection limit derived from it.
//!
//! Out of descriptors, `accept` fails for every listener alike: the admin port would stop
//! answering liveness probes exactly when the replica is busiest. So the main port never holds
//! more connections than the limit minus a reserve kept for everything else: the admin port's
//! own connections, the refusal answers, Redis, and the process (standard streams, epoll, timers,
//! the listeners).

/// Most connections the admin port holds at once (probes and scrapes need few).
pub const ADMIN_MAX_CONNECTIONS: usize = 32;

/// Most connections over a limit that are answered `503` at the same time; further ones are
/// closed without an answer.
pub const REFUSAL_SLOTS: usize = 32;

/// Descriptors kept out of `--max-connections`: the admin port, the refusals, and 64 for Redis
/// connections and the process itself.
pub const RESERVED: u64 = (ADMIN_MAX_CONNECTIONS + REFUSAL_SLOTS) as u64 + 64;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (as Go's runtime does) and returns the
/// resulting soft limit, `None` when unlimited or unknown.
pub fn raise_nofile_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(soft), Some(hard)) = (limit.current, limit.maximum)
        && soft < hard
    {
        let raised = rustix::process::Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(from = soft, to = hard, "raised the file descriptor limit");
                return Some(hard);
            }
            Err(err) => tracing::debug!(%err, soft, hard, "cannot raise the file descriptor limit"),
        }
    }
    limit.current
}

/// The main port's connection limit: `configured` (clamped to the bound) or the bound, where
/// the bound is the descriptor limit minus [`RESERVED`], and at least half the limit. Returns
/// the limit and whether `configured` had to be lowered.
pub fn max_connections(configured: Option<u32>, nofile: Option<u64>) -> (usize, bool) {
    let bound = match nofile {
        Some(n) => n.saturating_sub(RESERVED).max(n / 2).max(1),
        None => u64::from(u32::MAX),
    };
    let bound = usize::try_from(bound).unwrap_or(usize::MAX);
    match configured {
        None => (bound, false),
        Some(c) => {
            let c = usize::try_from(c).unwrap_or(usize::MAX);
            (c.min(bound), c > bound)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_keeps_the_reserve() {
        assert_eq!(max_connections(None, Some(20_000)), (20_000 - 128, false));
        assert_eq!(max_connections(None, Some(1024)), (896, false));
        assert_eq!(max_connections(None, Some(256)), (128, false));
        // A tiny limit keeps half of it for the main port.
        assert_eq!(max_connections(None, Some(100)), (50, false));
        assert_eq!(max_connections(None, Some(1)), (1, false));
        assert_eq!(max_connections(None, None), (u32::MAX as usize, false));
    }

    #[test]
    fn a_configured_limit_is_clamped_to_the_descriptors() {
        assert_eq!(max_connections(Some(50), Some(1024)), (50, false));
        assert_eq!(max_connections(Some(5000), Some(1024)), (896, true));
        assert_eq!(max_connections(Some(5000), None), (5000, false));
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        let soft = raise_nofile_limit();
        assert_eq!(soft, hard);
    }
}
