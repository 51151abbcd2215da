//! Per-socket state kept in the socket's extensions: who the user is and its rate limiter.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

/// A user as seen by other clients: `{id: <socket id>, name, userId?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The socket id.
    pub id: String,
    /// The display name, if any.
    pub name: Option<String>,
    /// The JWT `sub`, when the server requires tokens.
    #[serde(rename = "userId", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// State of one connected socket.
pub struct Session {
    /// The user this socket speaks for.
    pub user: User,
    limiter: DefaultDirectRateLimiter,
}

impl Session {
    /// Creates the session of `user` with a token bucket of `rate` events/s and `burst` tokens.
    pub fn new(user: User, rate: NonZeroU32, burst: NonZeroU32) -> Arc<Self> {
        let limiter = RateLimiter::direct(Quota::per_second(rate).allow_burst(burst));
        Arc::new(Self { user, limiter })
    }

    /// Takes one token; false when the socket exceeded its rate.
    pub fn allow_event(&self) -> bool {
        self.limiter.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let user = User {
            id: "s".into(),
            name: None,
            user_id: None,
        };
        let nz = |n| NonZeroU32::new(n).unwrap();
        let s = Session::new(user, nz(1), nz(3));
        assert!((0..3).all(|_| s.allow_event()));
        assert!(!s.allow_event());
    }

    #[test]
    fn user_serializes_without_absent_user_id() {
        let u = User {
            id: "abc".into(),
            name: Some("Ada".into()),
            user_id: None,
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            serde_json::json!({"id": "abc", "name": "Ada"})
        );
    }
}
