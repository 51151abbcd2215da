//! Admin UI login sessions: kept in Redis as Node's `RedisStore` keeps them (`socket.io-admin#<sessionId>`, one
//! day), so a UI that reloads may reconnect to any replica, Rust or Node; without Redis, in this process.
//!
//! The store has its own small Redis client (not the adapter's connections, which carry the cluster's traffic):
//! a command waits at most two seconds and fails at once while Redis is away.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fred::clients::Client;
use fred::interfaces::{ClientLike, KeysInterface};
use fred::prelude::{Builder, Config, Expiration, ReconnectPolicy};

/// How long a session lives (Node's `sessionDuration`).
const SESSION_TTL: Duration = Duration::from_secs(86_400);
/// Node's `RedisStore` key prefix.
const KEY_PREFIX: &str = "socket.io-admin";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[error("admin UI session store: {0}")]
pub struct StoreError(#[from] fred::error::Error);

/// Where sessions live.
pub enum SessionStore {
    /// This process only (no `--redis-url`): session id -> expiry.
    Memory(Mutex<HashMap<String, Instant>>),
    /// Redis, shared by every replica.
    Redis(Client),
}

impl SessionStore {
    /// A Redis store on `redis_url` (connecting in the background), else an in-memory one.
    pub fn new(redis_url: Option<&str>) -> Self {
        let Some(url) = redis_url else {
            return Self::Memory(Mutex::default());
        };
        match redis_client(url) {
            Ok(client) => {
                // The connection is driven by a task fred spawns; commands fail fast until it is up.
                drop(client.connect());
                Self::Redis(client)
            }
            Err(err) => {
                // The adapter parsed the same URL before, so this is not expected; sessions still work locally.
                tracing::error!(%err, "admin UI sessions kept in memory: cannot configure Redis");
                Self::Memory(Mutex::default())
            }
        }
    }

    /// Whether `id` is a live session.
    pub async fn exists(&self, id: &str) -> Result<bool, StoreError> {
        match self {
            Self::Memory(map) => {
                let map = map.lock().unwrap_or_else(|e| e.into_inner());
                Ok(map.get(id).is_some_and(|expiry| *expiry > Instant::now()))
            }
            Self::Redis(client) => Ok(client.exists::<u32, _>(key(id)).await? == 1),
        }
    }

    /// Records session `id` for a day.
    pub async fn save(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Self::Memory(map) => {
                let now = Instant::now();
                let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
                map.retain(|_, expiry| *expiry > now);
                map.insert(id.to_owned(), now + SESSION_TTL);
                Ok(())
            }
            Self::Redis(client) => {
                // Node's RedisStore stores `true` with the same expiry.
                let ttl = SESSION_TTL.as_secs() as i64;
                client
                    .set::<(), _, _>(key(id), "true", Some(Expiration::EX(ttl)), None, false)
                    .await?;
                Ok(())
            }
        }
    }
}

fn key(id: &str) -> String {
    format!("{KEY_PREFIX}#{id}")
}

fn redis_client(url: &str) -> Result<Client, fred::error::Error> {
    let config = Config::from_url(url)?;
    Builder::from_config(config)
        .with_config(|c| c.fail_fast = true)
        .with_connection_config(|c| {
            c.connection_timeout = COMMAND_TIMEOUT;
            c.internal_command_timeout = COMMAND_TIMEOUT;
            c.max_command_attempts = 1;
        })
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
        .set_policy(ReconnectPolicy::new_constant(0, 500))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_sessions_exist_once_saved() -> Result<(), StoreError> {
        let store = SessionStore::new(None);
        assert!(!store.exists("0123456789abcdef").await?);
        store.save("0123456789abcdef").await?;
        assert!(store.exists("0123456789abcdef").await?);
        assert!(!store.exists("fedcba9876543210").await?);
        Ok(())
    }
}
