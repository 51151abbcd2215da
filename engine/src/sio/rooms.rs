//! The room index of one namespace: room name to local member sockets, sharded by room so that joins, leaves
//! and broadcasts to different rooms never contend on one lock.
//!
//! A socket's own-id room is not stored: `to(id)` finds the socket in the namespace's socket map instead, which
//! saves a map per connection.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, RwLock};

use super::socket::Socket;
use crate::sid::Sid;

const SHARDS: usize = 16;

type Members = HashMap<Sid, Arc<Socket>>;

/// Rooms and their local members.
pub(crate) struct RoomIndex {
    shards: [RwLock<HashMap<Arc<str>, Members>>; SHARDS],
    hasher: RandomState,
}

impl RoomIndex {
    pub fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::new())),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, room: &str) -> &RwLock<HashMap<Arc<str>, Members>> {
        let i = (self.hasher.hash_one(room) as usize) % SHARDS;
        &self.shards[i]
    }

    /// Adds `socket` to `room`; true when the room had no local member before.
    pub fn add(&self, room: &Arc<str>, socket: &Arc<Socket>) -> bool {
        let mut shard = self.shard(room).write().unwrap_or_else(|e| e.into_inner());
        let created = !shard.contains_key(room.as_ref());
        shard
            .entry(room.clone())
            .or_default()
            .insert(socket.id, socket.clone());
        created
    }

    /// Removes `sid` from `room`; true when the room has no local member left.
    pub fn remove(&self, room: &str, sid: &Sid) -> bool {
        let mut shard = self.shard(room).write().unwrap_or_else(|e| e.into_inner());
        let Some(members) = shard.get_mut(room) else {
            return false;
        };
        members.remove(sid);
        if members.is_empty() {
            shard.remove(room);
            return true;
        }
        false
    }

    /// Calls `f` with each local member of `room`.
    pub fn for_each(&self, room: &str, mut f: impl FnMut(&Arc<Socket>)) {
        let shard = self.shard(room).read().unwrap_or_else(|e| e.into_inner());
        if let Some(members) = shard.get(room) {
            members.values().for_each(&mut f);
        }
    }

    /// Number of local members of `room`.
    pub fn len(&self, room: &str) -> usize {
        let shard = self.shard(room).read().unwrap_or_else(|e| e.into_inner());
        shard.get(room).map_or(0, HashMap::len)
    }

    /// Every room with local members.
    pub fn rooms(&self) -> Vec<Arc<str>> {
        self.shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}
