//! The sharded protocol of `createShardedAdapter()` (SPUBLISH/SSUBSCRIBE, Redis >= 7).
//!
//! Every message is one envelope `{type, data, uid, nsp}` ([`ShardedMessage`]), requests and responses alike,
//! where `uid` is the sender's 16-hex-character node id. Node writes JSON, except that types 3, 8, 9, 10 and 12 are
//! MessagePack when `data` holds binary ([`has_binary`]); decoding checks the first byte for `{`.
//! `@socket.io/redis-streams-adapter` publishes the same envelopes, always as MessagePack
//! ([`ShardedMessage::encode_msgpack`]).

use rmpv::Value;

use super::common::{BroadcastOptions, Packet, RemoteSocketData};
use super::fields::{Fields, list_of, object};
use super::value::has_binary;
use super::{Encoding, WireError, decode_payload, encode_value};

/// The `type` of a sharded message (Node's `MessageType` of `socket.io-adapter`'s `ClusterAdapter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Heartbeat on start-up (never sent by the Redis adapters).
    InitialHeartbeat = 1,
    /// Periodic heartbeat (never sent by the Redis adapters).
    Heartbeat = 2,
    /// A broadcast, with acknowledgement when it carries a request id.
    Broadcast = 3,
    /// `socketsJoin`.
    SocketsJoin = 4,
    /// `socketsLeave`.
    SocketsLeave = 5,
    /// `disconnectSockets`.
    DisconnectSockets = 6,
    /// `fetchSockets`.
    FetchSockets = 7,
    /// Answer to FETCH_SOCKETS.
    FetchSocketsResponse = 8,
    /// `serverSideEmit`, with acknowledgement when it carries a request id.
    ServerSideEmit = 9,
    /// Answer to SERVER_SIDE_EMIT.
    ServerSideEmitResponse = 10,
    /// Answer to BROADCAST: how many clients will acknowledge.
    BroadcastClientCount = 11,
    /// Answer to BROADCAST: one client's acknowledgement.
    BroadcastAck = 12,
    /// A node closes (never sent by the Redis adapters).
    AdapterClose = 13,
}

impl MessageType {
    /// The type with this number.
    pub fn from_u64(n: u64) -> Option<Self> {
        Some(match n {
            1 => Self::InitialHeartbeat,
            2 => Self::Heartbeat,
            3 => Self::Broadcast,
            4 => Self::SocketsJoin,
            5 => Self::SocketsLeave,
            6 => Self::DisconnectSockets,
            7 => Self::FetchSockets,
            8 => Self::FetchSocketsResponse,
            9 => Self::ServerSideEmit,
            10 => Self::ServerSideEmitResponse,
            11 => Self::BroadcastClientCount,
            12 => Self::BroadcastAck,
            13 => Self::AdapterClose,
            _ => return None,
        })
    }

    /// The type number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    /// Whether this type answers a request (and goes to the requester's own channel).
    pub fn is_response(self) -> bool {
        matches!(
            self,
            Self::FetchSocketsResponse
                | Self::ServerSideEmitResponse
                | Self::BroadcastClientCount
                | Self::BroadcastAck
        )
    }

    /// Whether Node switches this type to MessagePack when its data holds binary (3, 8, 9, 10, 12).
    pub fn may_contain_binary(self) -> bool {
        matches!(
            self,
            Self::Broadcast
                | Self::FetchSocketsResponse
                | Self::ServerSideEmit
                | Self::ServerSideEmitResponse
                | Self::BroadcastAck
        )
    }
}

/// The `data` of a sharded message, by type.
#[derive(Debug, Clone, PartialEq)]
pub enum ShardedBody {
    /// 1, no data.
    InitialHeartbeat,
    /// 2, no data.
    Heartbeat,
    /// 3: `{packet, requestId?, opts}`; the packet has no `nsp`. With a request id, receivers answer with one
    /// [`ShardedBody::BroadcastClientCount`] and one [`ShardedBody::BroadcastAck`] per client ack.
    Broadcast {
        /// `{type, data}`.
        packet: Packet,
        /// Present for a broadcast with acknowledgement.
        request_id: Option<String>,
        /// Targets and flags.
        opts: BroadcastOptions,
    },
    /// 4: `{opts, rooms}`.
    SocketsJoin {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// 5: `{opts, rooms}`.
    SocketsLeave {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// 6: `{opts, close}`.
    DisconnectSockets {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Whether to close the underlying connection (absent means `false`).
        close: bool,
    },
    /// 7: `{opts, requestId}`; answered by [`ShardedBody::FetchSocketsResponse`].
    FetchSockets {
        /// Which sockets.
        opts: BroadcastOptions,
        /// Request id.
        request_id: String,
    },
    /// 8: `{requestId, sockets}`.
    FetchSocketsResponse {
        /// Request id.
        request_id: String,
        /// The matching local sockets.
        sockets: Vec<RemoteSocketData>,
    },
    /// 9: `{requestId?, packet: [event, ...args]}`.
    ServerSideEmit {
        /// Present when the sender waits for acknowledgements.
        request_id: Option<String>,
        /// `[event, ...args]`.
        packet: Vec<Value>,
    },
    /// 10: `{requestId, packet}`.
    ServerSideEmitResponse {
        /// Request id.
        request_id: String,
        /// The first acknowledgement argument; `None` when it was `undefined` (the key is then absent).
        packet: Option<Value>,
    },
    /// 11: `{requestId, clientCount}`.
    BroadcastClientCount {
        /// Request id.
        request_id: String,
        /// Number of local clients that will acknowledge.
        client_count: u64,
    },
    /// 12: `{requestId, packet}`.
    BroadcastAck {
        /// Request id.
        request_id: String,
        /// The first acknowledgement argument; `None` when it was `undefined` (the key is then absent).
        packet: Option<Value>,
    },
    /// 13, no data.
    AdapterClose,
}

impl ShardedBody {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::InitialHeartbeat => MessageType::InitialHeartbeat,
            Self::Heartbeat => MessageType::Heartbeat,
            Self::Broadcast { .. } => MessageType::Broadcast,
            Self::SocketsJoin { .. } => MessageType::SocketsJoin,
            Self::SocketsLeave { .. } => MessageType::SocketsLeave,
            Self::DisconnectSockets { .. } => MessageType::DisconnectSockets,
            Self::FetchSockets { .. } => MessageType::FetchSockets,
            Self::FetchSocketsResponse { .. } => MessageType::FetchSocketsResponse,
            Self::ServerSideEmit { .. } => MessageType::ServerSideEmit,
            Self::ServerSideEmitResponse { .. } => MessageType::ServerSideEmitResponse,
            Self::BroadcastClientCount { .. } => MessageType::BroadcastClientCount,
            Self::BroadcastAck { .. } => MessageType::BroadcastAck,
            Self::AdapterClose => MessageType::AdapterClose,
        }
    }

    /// The request id, for requests that expect answers and for answers.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::Broadcast { request_id, .. } | Self::ServerSideEmit { request_id, .. } => {
                request_id.as_deref()
            }
            Self::FetchSockets { request_id, .. }
            | Self::FetchSocketsResponse { request_id, .. }
            | Self::ServerSideEmitResponse { request_id, .. }
            | Self::BroadcastClientCount { request_id, .. }
            | Self::BroadcastAck { request_id, .. } => Some(request_id),
            Self::InitialHeartbeat
            | Self::Heartbeat
            | Self::SocketsJoin { .. }
            | Self::SocketsLeave { .. }
            | Self::DisconnectSockets { .. }
            | Self::AdapterClose => None,
        }
    }

    /// The `data` object, keys in Node's order; `None` for the types without data.
    pub fn to_value(&self) -> Option<Value> {
        let s = |s: &str| Some(Value::from(s));
        Some(match self {
            Self::InitialHeartbeat | Self::Heartbeat | Self::AdapterClose => return None,
            Self::Broadcast {
                packet,
                request_id,
                opts,
            } => object([
                ("packet", Some(packet.to_value())),
                ("requestId", request_id.as_deref().map(Value::from)),
                ("opts", Some(opts.to_value())),
            ]),
            Self::SocketsJoin { opts, rooms } | Self::SocketsLeave { opts, rooms } => object([
                ("opts", Some(opts.to_value())),
                ("rooms", Some(super::fields::strings(rooms))),
            ]),
            Self::DisconnectSockets { opts, close } => object([
                ("opts", Some(opts.to_value())),
                ("close", Some(Value::from(*close))),
            ]),
            Self::FetchSockets { opts, request_id } => object([
                ("opts", Some(opts.to_value())),
                ("requestId", s(request_id)),
            ]),
            Self::FetchSocketsResponse {
                request_id,
                sockets,
            } => object([
                ("requestId", s(request_id)),
                (
                    "sockets",
                    Some(Value::Array(
                        sockets.iter().map(RemoteSocketData::to_value).collect(),
                    )),
                ),
            ]),
            Self::ServerSideEmit { request_id, packet } => object([
                ("requestId", request_id.as_deref().map(Value::from)),
                ("packet", Some(Value::Array(packet.clone()))),
            ]),
            Self::ServerSideEmitResponse { request_id, packet }
            | Self::BroadcastAck { request_id, packet } => {
                object([("requestId", s(request_id)), ("packet", packet.clone())])
            }
            Self::BroadcastClientCount {
                request_id,
                client_count,
            } => object([
                ("requestId", s(request_id)),
                ("clientCount", Some(Value::from(*client_count))),
            ]),
        })
    }

    /// Reads the data of a message of type `ty`.
    pub fn from_value(ty: MessageType, data: Option<Value>) -> Result<Self, WireError> {
        let mut f = match (ty, data) {
            (MessageType::InitialHeartbeat, _) => return Ok(Self::InitialHeartbeat),
            (MessageType::Heartbeat, _) => return Ok(Self::Heartbeat),
            (MessageType::AdapterClose, _) => return Ok(Self::AdapterClose),
            (_, None | Some(Value::Nil)) => return Err(WireError::MissingField("data")),
            (_, Some(data)) => Fields::new(data, "data")?,
        };
        Ok(match ty {
            MessageType::InitialHeartbeat => Self::InitialHeartbeat,
            MessageType::Heartbeat => Self::Heartbeat,
            MessageType::AdapterClose => Self::AdapterClose,
            MessageType::Broadcast => Self::Broadcast {
                packet: Packet::from_value(
                    f.take_present("packet")
                        .ok_or(WireError::MissingField("packet"))?,
                )?,
                request_id: f.opt_string("requestId")?,
                opts: BroadcastOptions::take_from(&mut f)?,
            },
            MessageType::SocketsJoin => Self::SocketsJoin {
                opts: BroadcastOptions::take_from(&mut f)?,
                rooms: f.rooms("rooms")?,
            },
            MessageType::SocketsLeave => Self::SocketsLeave {
                opts: BroadcastOptions::take_from(&mut f)?,
                rooms: f.rooms("rooms")?,
            },
            MessageType::DisconnectSockets => Self::DisconnectSockets {
                opts: BroadcastOptions::take_from(&mut f)?,
                close: f.opt_bool("close")?.unwrap_or(false),
            },
            MessageType::FetchSockets => Self::FetchSockets {
                opts: BroadcastOptions::take_from(&mut f)?,
                request_id: f.string("requestId")?,
            },
            MessageType::FetchSocketsResponse => Self::FetchSocketsResponse {
                request_id: f.string("requestId")?,
                sockets: list_of(f.take("sockets"), "sockets", RemoteSocketData::from_value)?,
            },
            MessageType::ServerSideEmit => Self::ServerSideEmit {
                request_id: f.opt_string("requestId")?,
                packet: f.array("packet")?,
            },
            MessageType::ServerSideEmitResponse => Self::ServerSideEmitResponse {
                request_id: f.string("requestId")?,
                packet: f.take("packet"),
            },
            MessageType::BroadcastClientCount => Self::BroadcastClientCount {
                request_id: f.string("requestId")?,
                client_count: f.u64("clientCount")?,
            },
            MessageType::BroadcastAck => Self::BroadcastAck {
                request_id: f.string("requestId")?,
                packet: f.take("packet"),
            },
        })
    }
}

/// A sharded message: the envelope `{type, data, uid, nsp}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardedMessage {
    /// The sender's node id; receivers ignore their own.
    pub uid: String,
    /// The namespace; Node always writes it (receivers rely on the channel, not on this field).
    pub nsp: Option<String>,
    /// Type and data.
    pub body: ShardedBody,
}

impl ShardedMessage {
    /// A message from node `uid` in namespace `nsp`.
    pub fn new(uid: impl Into<String>, nsp: impl Into<String>, body: ShardedBody) -> Self {
        Self {
            uid: uid.into(),
            nsp: Some(nsp.into()),
            body,
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        self.body.message_type()
    }

    /// The envelope as a value, keys in Node's order.
    pub fn to_value(&self) -> Value {
        object([
            ("type", Some(Value::from(self.message_type().as_u8()))),
            ("data", self.body.to_value()),
            ("uid", Some(Value::from(self.uid.as_str()))),
            ("nsp", self.nsp.as_deref().map(Value::from)),
        ])
    }

    /// The encoding Node picks: MessagePack for types 3, 8, 9, 10, 12 when the data holds binary, JSON otherwise.
    pub fn encoding(&self) -> Encoding {
        self.encoding_of(&self.to_value())
    }

    fn encoding_of(&self, envelope: &Value) -> Encoding {
        // `uid` and `nsp` are strings: binary in the envelope is binary in `data`.
        if self.message_type().may_contain_binary() && has_binary(envelope) {
            Encoding::MessagePack
        } else {
            Encoding::Json
        }
    }

    /// Encodes the message as the Node sharded adapter does (see [`ShardedMessage::encoding`]).
    pub fn encode(&self) -> Vec<u8> {
        let envelope = self.to_value();
        encode_value(&envelope, self.encoding_of(&envelope))
    }

    /// Encodes the message as MessagePack whatever it holds, as `@socket.io/redis-streams-adapter` does.
    pub fn encode_msgpack(&self) -> Vec<u8> {
        encode_value(&self.to_value(), Encoding::MessagePack)
    }

    /// Decodes a message, JSON or MessagePack.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        Self::from_value(decode_payload(payload)?)
    }

    /// Reads a message from a decoded value.
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        let mut f = Fields::new(value, "message")?;
        let n = f.type_number("sharded message")?;
        let ty = MessageType::from_u64(n).ok_or(WireError::UnknownType {
            kind: "sharded message",
            value: i64::try_from(n).unwrap_or(-1),
        })?;
        let uid = f.string("uid")?;
        let nsp = f.opt_string("nsp")?;
        let body = ShardedBody::from_value(ty, f.take("data"))?;
        Ok(Self { uid, nsp, body })
    }
}
