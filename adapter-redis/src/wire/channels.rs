//! Redis channel names: built from a key prefix and a namespace, and parsed back from a received channel.
//!
//! Classic (`createAdapter()`), with prefix `key` and namespace `nsp`:
//!
//! | channel | name |
//! |---|---|
//! | broadcast | `{key}#{nsp}#` (subscribed as the pattern `{key}#{nsp}#*`) |
//! | room broadcast | `{key}#{nsp}#{room}#` |
//! | requests | `{key}-request#{nsp}#` |
//! | responses | `{key}-response#{nsp}#` |
//! | own responses | `{key}-response#{nsp}#{uid}#` |
//!
//! Sharded (`createShardedAdapter()`): main `{key}#{nsp}#`, a node's response channel `{key}#{nsp}#{uid}#`, and a
//! room channel `{key}#{nsp}#{room}#` in the dynamic subscription modes.

use super::sharded::{ShardedBody, ShardedMessage};

/// The default key prefix of the Node adapters and emitters.
pub const DEFAULT_KEY: &str = "socket.io";

/// Which classic channel a message arrived on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClassicChannel {
    /// `{key}#{nsp}#`: a broadcast to zero or several rooms.
    Broadcast,
    /// `{key}#{nsp}#{room}#`: a broadcast to exactly this room (a socket id counts as a room).
    Room(String),
    /// `{key}-request#{nsp}#`.
    Request,
    /// `{key}-response#{nsp}#`.
    Response,
    /// `{key}-response#{nsp}#{uid}#`: responses for node `uid`.
    SpecificResponse(String),
}

/// The classic channel names of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClassicChannels {
    broadcast: String,
    request: String,
    response: String,
}

impl ClassicChannels {
    /// The channels for key prefix `key` (Node's default: [`DEFAULT_KEY`]) and namespace `nsp` (e.g. `/`).
    pub fn new(key: &str, nsp: &str) -> Self {
        Self {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            response: format!("{key}-response#{nsp}#"),
        }
    }

    /// `{key}#{nsp}#`.
    pub fn broadcast(&self) -> &str {
        &self.broadcast
    }

    /// `{key}#{nsp}#*`, the pattern a node PSUBSCRIBEs to for broadcasts.
    pub fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }

    /// `{key}#{nsp}#{room}#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.broadcast)
    }

    /// Where Node publishes a broadcast to `rooms`: the room channel when there is exactly one room, the broadcast
    /// channel otherwise.
    pub fn broadcast_channel_for(&self, rooms: &[String]) -> String {
        match rooms {
            [room] => self.room(room),
            _ => self.broadcast.clone(),
        }
    }

    /// `{key}-request#{nsp}#`.
    pub fn request(&self) -> &str {
        &self.request
    }

    /// `{key}-response#{nsp}#`.
    pub fn response(&self) -> &str {
        &self.response
    }

    /// `{key}-response#{nsp}#{uid}#`.
    pub fn specific_response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.response)
    }

    /// Where to publish a response to a request from node `requester_uid`: its own channel when the cluster runs
    /// with `publishOnSpecificResponseChannel`, the common one otherwise. (SERVER_SIDE_EMIT answers always go to
    /// the common one.)
    pub fn response_channel_for(&self, requester_uid: &str, specific: bool) -> String {
        if specific {
            self.specific_response(requester_uid)
        } else {
            self.response.clone()
        }
    }

    /// Which of this namespace's channels `channel` is; `None` for a channel of another prefix or namespace.
    ///
    /// As in Node, a room channel's room is everything between `{key}#{nsp}#` and the final `#` (room names may
    /// hold `#`).
    pub fn parse(&self, channel: &str) -> Option<ClassicChannel> {
        if channel == self.request {
            return Some(ClassicChannel::Request);
        }
        if channel == self.response {
            return Some(ClassicChannel::Response);
        }
        if let Some(uid) = channel
            .strip_prefix(&self.response)
            .and_then(|rest| rest.strip_suffix('#'))
        {
            return Some(ClassicChannel::SpecificResponse(uid.to_owned()));
        }
        let rest = channel.strip_prefix(&self.broadcast)?;
        if rest.is_empty() {
            return Some(ClassicChannel::Broadcast);
        }
        rest.strip_suffix('#')
            .map(|room| ClassicChannel::Room(room.to_owned()))
    }
}

/// Which sharded channel a message arrived on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ShardedChannel {
    /// `{key}#{nsp}#`.
    Main,
    /// `{key}#{nsp}#{uid}#` of this node: responses to its requests.
    OwnResponse,
    /// `{key}#{nsp}#{room}#`, a room channel (or another node's response channel).
    Room(String),
}

/// The sharded adapter's subscription mode: which rooms get a channel of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ShardedSubscriptionMode {
    /// Only the main and the response channel.
    Static,
    /// Also one channel per room that is not a socket id (Node's default).
    #[default]
    Dynamic,
    /// Also one channel per room, socket-id rooms included.
    DynamicPrivate,
}

impl ShardedSubscriptionMode {
    /// Whether a room has a channel of its own: subscribed by a node that creates the room (`is_socket_id`:
    /// the room is one of its own socket ids) and published to by a broadcast to that room alone
    /// (`is_socket_id`: [`sharded_treats_as_socket_id`]). The one rule of both sides.
    pub fn subscribes_to_room(self, is_socket_id: bool) -> bool {
        match self {
            Self::Static => false,
            Self::Dynamic => !is_socket_id,
            Self::DynamicPrivate => true,
        }
    }
}

/// Node's sharded routing heuristic (`looksLikeASocketId`): a room of 20 characters (UTF-16 code units, as
/// JavaScript counts) is taken for a socket id, and a broadcast to it alone goes to the main channel rather than
/// to a room channel in `dynamic` mode. A wire rule, not a socket-id validator: the engine's ids
/// ([`engine::Sid`], 20 base64url characters like Node's) always satisfy it, so no server needs a channel per
/// socket; whether a string is a socket id is [`engine::Sid::parse`].
pub fn sharded_treats_as_socket_id(room: &str) -> bool {
    room.encode_utf16().count() == 20
}

/// The sharded channel names of one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShardedChannels {
    main: String,
}

impl ShardedChannels {
    /// The channels for key prefix `key` (Node's default: [`DEFAULT_KEY`]) and namespace `nsp`.
    pub fn new(key: &str, nsp: &str) -> Self {
        Self {
            main: format!("{key}#{nsp}#"),
        }
    }

    /// `{key}#{nsp}#`.
    pub fn main(&self) -> &str {
        &self.main
    }

    /// `{key}#{nsp}#{uid}#`, where node `uid` receives responses.
    pub fn response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.main)
    }

    /// `{key}#{nsp}#{room}#`.
    pub fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.main)
    }

    /// Where Node publishes a (non-response) message: a broadcast without acknowledgement to exactly one room goes
    /// to the room's channel in the dynamic modes (in `Dynamic`, unless the room looks like a socket id);
    /// everything else goes to the main channel. Responses go to [`ShardedChannels::response`] of the requester.
    pub fn publish_channel(
        &self,
        message: &ShardedMessage,
        mode: ShardedSubscriptionMode,
    ) -> String {
        if let ShardedBody::Broadcast {
            request_id: None,
            opts,
            ..
        } = &message.body
            && let [room] = opts.rooms.as_slice()
            && mode.subscribes_to_room(sharded_treats_as_socket_id(room))
        {
            return self.room(room);
        }
        self.main.clone()
    }

    /// Which channel `channel` is, for node `own_uid`; `None` for a channel of another prefix or namespace.
    pub fn parse(&self, channel: &str, own_uid: &str) -> Option<ShardedChannel> {
        let rest = channel.strip_prefix(&self.main)?;
        if rest.is_empty() {
            return Some(ShardedChannel::Main);
        }
        let middle = rest.strip_suffix('#')?;
        if middle == own_uid {
            Some(ShardedChannel::OwnResponse)
        } else {
            Some(ShardedChannel::Room(middle.to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_names_round_trip() {
        let c = ClassicChannels::new(DEFAULT_KEY, "/");
        assert_eq!(c.broadcast(), "socket.io#/#");
        assert_eq!(c.broadcast_pattern(), "socket.io#/#*");
        assert_eq!(c.request(), "socket.io-request#/#");
        assert_eq!(c.response(), "socket.io-response#/#");
        assert_eq!(c.parse("socket.io#/#"), Some(ClassicChannel::Broadcast));
        assert_eq!(
            c.parse("socket.io#/#a#b#"),
            Some(ClassicChannel::Room("a#b".into()))
        );
        assert_eq!(
            c.parse("socket.io-response#/#Ab3_x-#"),
            Some(ClassicChannel::SpecificResponse("Ab3_x-".into()))
        );
        assert_eq!(c.parse("socket.io#/custom#"), None);
        assert_eq!(c.parse("other#/#"), None);
    }

    #[test]
    fn socket_ids_are_twenty_utf16_units() {
        assert!(sharded_treats_as_socket_id("FA5IzxryWgk4g5HzAAAB"));
        assert!(!sharded_treats_as_socket_id("room2"));
        assert!(!sharded_treats_as_socket_id(&"é".repeat(19)));
        for _ in 0..100 {
            assert!(sharded_treats_as_socket_id(engine::Sid::new().as_str()));
        }
    }
}
