//! Connection state recovery on one server: the packets a disconnected socket may have missed and the sessions
//! waiting to be recovered, bounded by count and age.
//!
//! Better than Node's in-memory store in three ways: a session can be recovered once only (Node's can be
//! restored twice from the same offset, with stale state); a client that received no event yet (no offset) still
//! recovers everything sent since it connected; and volatile events carry the latest offset, so a volatile event
//! whose last argument happens to be a string no longer spoils the client's offset.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rmpv::Value;
use tokio::time::Instant;

use super::{BroadcastOptions, PersistedSession, RestoredSession};
use crate::config::Recovery;
use crate::sio::packet::{Packet, PacketKind};

struct Stored {
    offset: String,
    at: Instant,
    rooms: Vec<String>,
    except: Vec<String>,
    data: Vec<Value>,
}

struct Waiting {
    session: PersistedSession,
    at: Instant,
}

#[derive(Default)]
struct State {
    packets: VecDeque<Stored>,
    sessions: HashMap<String, Waiting>,
    next: u64,
}

/// The recovery store of one namespace.
pub struct RecoveryStore {
    config: Recovery,
    /// Distinguishes this process's offsets from those of an earlier run.
    epoch: u64,
    state: Mutex<State>,
}

impl RecoveryStore {
    /// An empty store.
    pub fn new(config: Recovery) -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            config,
            epoch,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expire(&self, state: &mut State, now: Instant) {
        let max = self.config.max_disconnection;
        while state.packets.front().is_some_and(|p| {
            now.duration_since(p.at) > max || state.packets.len() > self.config.max_packets
        }) {
            state.packets.pop_front();
        }
        state
            .sessions
            .retain(|_, w| now.duration_since(w.at) <= max);
    }

    /// The offset of the latest stored packet.
    pub fn latest_offset(&self) -> Option<String> {
        self.lock().packets.back().map(|p| p.offset.clone())
    }

    /// Prepares a broadcast: an event without ack and not volatile is stored and gets its offset as last argument;
    /// a volatile event gets the latest offset (not stored).
    pub fn on_broadcast(&self, packet: &mut Packet, opts: &BroadcastOptions) {
        if packet.kind != PacketKind::Event || packet.id.is_some() {
            return;
        }
        let Some(Value::Array(data)) = &mut packet.data else {
            return;
        };
        let now = Instant::now();
        let mut state = self.lock();
        if opts.volatile {
            if let Some(latest) = state.packets.back() {
                data.push(Value::from(latest.offset.as_str()));
            }
            return;
        }
        state.next += 1;
        let offset = format!("{:x}-{:x}", self.epoch, state.next);
        data.push(Value::from(offset.as_str()));
        state.packets.push_back(Stored {
            offset,
            at: now,
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
            data: data.clone(),
        });
        self.expire(&mut state, now);
    }

    /// Keeps a disconnected socket's session.
    pub fn persist(&self, session: PersistedSession) {
        let now = Instant::now();
        let mut state = self.lock();
        self.expire(&mut state, now);
        state
            .sessions
            .insert(session.pid.clone(), Waiting { session, at: now });
    }

    /// Takes a session back (once) with the packets it missed after `offset`, or, without an offset, after the
    /// offset current when it connected. `None` when the session or the offset is gone.
    pub fn restore(&self, pid: &str, offset: Option<&str>) -> Option<RestoredSession> {
        let now = Instant::now();
        let mut state = self.lock();
        self.expire(&mut state, now);
        let waiting = state.sessions.remove(pid)?;
        let session = waiting.session;
        let from = offset
            .map(str::to_owned)
            .or_else(|| session.connected_offset.clone());
        let start = match &from {
            Some(offset) => state.packets.iter().position(|p| &p.offset == offset)? + 1,
            // Connected before anything was stored: everything still stored is newer, unless the store dropped
            // packets since (then it is not known what was missed).
            None if state.next as usize == state.packets.len() => 0,
            None => return None,
        };
        let missed = state
            .packets
            .iter()
            .skip(start)
            .filter(|p| includes(&session.rooms, &p.rooms, &p.except))
            .map(|p| p.data.clone())
            .collect();
        Some(RestoredSession { session, missed })
    }
}

/// Whether a packet sent to `rooms` minus `except` reached a socket in `session_rooms` (Node's rule).
pub(crate) fn includes(session_rooms: &[String], rooms: &[String], except: &[String]) -> bool {
    let included = rooms.is_empty() || session_rooms.iter().any(|r| rooms.contains(r));
    let excluded = session_rooms.iter().any(|r| except.contains(r));
    included && !excluded
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn store(max_packets: usize) -> RecoveryStore {
        RecoveryStore::new(Recovery {
            max_disconnection: Duration::from_secs(10),
            skip_middlewares: true,
            max_packets,
        })
    }

    fn event(name: &str) -> Packet {
        Packet::event("/", name, vec![])
    }

    fn to(room: &str) -> BroadcastOptions {
        BroadcastOptions {
            rooms: vec![room.into()],
            ..Default::default()
        }
    }

    fn session(connected_offset: Option<String>) -> PersistedSession {
        PersistedSession {
            sid: "sid".into(),
            pid: "pid".into(),
            rooms: vec!["sid".into(), "r".into()],
            data: Value::Nil,
            connected_offset,
        }
    }

    fn offset_of(p: &Packet) -> String {
        p.data
            .as_ref()
            .unwrap()
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[tokio::test]
    async fn missed_packets_of_the_sessions_rooms_after_the_offset_once() {
        let s = store(100);
        let mut a = event("a");
        s.on_broadcast(&mut a, &to("r"));
        let seen = offset_of(&a);
        for (name, room) in [("b", "r"), ("c", "other"), ("d", "sid")] {
            s.on_broadcast(&mut event(name), &to(room));
        }
        s.persist(session(None));
        let r = s.restore("pid", Some(&seen)).unwrap();
        let names: Vec<_> = r
            .missed
            .iter()
            .map(|d| d[0].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["b", "d"]);
        // Once only.
        assert!(s.restore("pid", Some(&seen)).is_none());
    }

    #[tokio::test]
    async fn a_client_without_offset_recovers_from_its_connect() {
        let s = store(100);
        s.on_broadcast(&mut event("before"), &to("r"));
        let at_connect = s.latest_offset();
        s.on_broadcast(&mut event("after"), &to("r"));
        s.persist(session(at_connect));
        let r = s.restore("pid", None).unwrap();
        assert_eq!(r.missed.len(), 1);
        assert_eq!(r.missed[0][0].as_str(), Some("after"));
    }

    #[tokio::test]
    async fn volatile_events_carry_the_latest_offset_and_are_not_stored() {
        let s = store(100);
        let mut a = event("a");
        s.on_broadcast(&mut a, &to("r"));
        let mut v = Packet::event("/", "v", vec![Value::from("looks like an offset")]);
        s.on_broadcast(
            &mut v,
            &BroadcastOptions {
                volatile: true,
                ..to("r")
            },
        );
        assert_eq!(offset_of(&v), offset_of(&a));
        s.persist(session(None));
        assert!(
            s.restore("pid", Some(&offset_of(&v)))
                .unwrap()
                .missed
                .is_empty()
        );
    }

    #[tokio::test]
    async fn bounded_by_count_and_an_unknown_offset_does_not_recover() {
        let s = store(2);
        let mut first = event("1");
        s.on_broadcast(&mut first, &to("r"));
        for n in ["2", "3"] {
            s.on_broadcast(&mut event(n), &to("r"));
        }
        s.persist(session(None));
        assert!(s.restore("pid", Some(&offset_of(&first))).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_expire_after_the_max_disconnection() {
        let s = store(10);
        s.persist(session(None));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(s.restore("pid", None).is_none());
    }
}
