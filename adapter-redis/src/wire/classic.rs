//! The classic protocol of `createAdapter()` (PUBLISH/SUBSCRIBE), which the emitters speak too.
//!
//! Three kinds of message, each on its own channels (see [`ClassicChannels`](super::ClassicChannels)):
//!
//! - [`BroadcastMessage`], `[uid, packet, opts]` on the broadcast and room channels, always MessagePack;
//! - [`Request`], on the request channel: JSON, except BROADCAST (7) which is a MessagePack map;
//! - [`Response`], on the response channels: JSON, except BROADCAST_ACK (9) which is a MessagePack map.
//!
//! Decoders accept either encoding ([`Encoding::detect`](super::Encoding::detect)); encoders write what Node
//! writes, with the keys in Node's order, so that a message Node produced decodes and re-encodes to the same bytes.
//!
//! A response does not name its request type: `{requestId, sockets}` answers both SOCKETS and REMOTE_FETCH. So
//! responses decode in two steps, [`RawResponse::decode`] to learn the request id, then
//! [`RawResponse::into_response`] with the type of the pending request that id belongs to.

use rmpv::Value;

use super::common::{BroadcastOptions, EMITTER_UID, Packet, RemoteSocketData};
use super::fields::{Fields, list_of, object, strings};
use super::{Encoding, MAX_LIST_LEN, WireError, decode_payload, encode_value, msgpack};

/// The `type` of a classic request or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RequestType {
    /// `sockets(rooms)`: the ids of the matching sockets (legacy, Node 8.x no longer sends it).
    Sockets = 0,
    /// `allRooms()`: every room of every node.
    AllRooms = 1,
    /// `socketsJoin`: matching sockets join rooms.
    RemoteJoin = 2,
    /// `socketsLeave`: matching sockets leave rooms.
    RemoteLeave = 3,
    /// `disconnectSockets`: matching sockets are disconnected.
    RemoteDisconnect = 4,
    /// `fetchSockets`: details of the matching sockets.
    RemoteFetch = 5,
    /// `serverSideEmit`: an event for the other servers, optionally with acknowledgement.
    ServerSideEmit = 6,
    /// A broadcast with acknowledgement.
    Broadcast = 7,
    /// Answer to BROADCAST: how many clients will acknowledge.
    BroadcastClientCount = 8,
    /// Answer to BROADCAST: one client's acknowledgement.
    BroadcastAck = 9,
}

impl RequestType {
    /// The type with this number.
    pub fn from_u64(n: u64) -> Option<Self> {
        Some(match n {
            0 => Self::Sockets,
            1 => Self::AllRooms,
            2 => Self::RemoteJoin,
            3 => Self::RemoteLeave,
            4 => Self::RemoteDisconnect,
            5 => Self::RemoteFetch,
            6 => Self::ServerSideEmit,
            7 => Self::Broadcast,
            8 => Self::BroadcastClientCount,
            9 => Self::BroadcastAck,
            _ => return None,
        })
    }

    /// The type number.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

fn type_value(t: RequestType) -> Option<Value> {
    Some(Value::from(t.as_u8()))
}

fn str_value(s: &str) -> Option<Value> {
    Some(Value::from(s))
}

/// A broadcast: `[uid, packet, opts]`, published on the broadcast channel, or on a room channel when `opts.rooms`
/// holds exactly one room.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastMessage {
    /// The sending node (`"emitter"` for emitters); receivers ignore their own.
    pub uid: String,
    /// The packet, with `nsp` (a missing one means `/`, see [`Packet::namespace`]).
    pub packet: Packet,
    /// Targets and flags.
    pub opts: BroadcastOptions,
}

impl BroadcastMessage {
    /// Whether an emitter sent this broadcast.
    pub fn is_from_emitter(&self) -> bool {
        self.uid == EMITTER_UID
    }

    /// The message as a value. A message with the emitter uid lays out `opts` as the emitter does
    /// (`{rooms, flags, except}`), any other as the adapter does (`{rooms, except, flags}`).
    pub fn to_value(&self) -> Value {
        let opts = if self.is_from_emitter() {
            self.opts.to_emitter_value()
        } else {
            self.opts.to_value()
        };
        Value::Array(vec![
            Value::from(self.uid.as_str()),
            self.packet.to_value(),
            opts,
        ])
    }

    /// Encodes the broadcast as MessagePack, byte-for-byte as the Node adapter (or, for the uid `"emitter"`, the
    /// Node emitter) writes it.
    pub fn encode(&self) -> Vec<u8> {
        msgpack::encode(&self.to_value())
    }

    /// Decodes a broadcast (always MessagePack). Missing `opts` or `opts` fields mean empty lists.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let items = match msgpack::decode(payload)? {
            Value::Array(items) => items,
            _ => {
                return Err(WireError::WrongType {
                    field: "broadcast",
                    expected: "an array [uid, packet, opts]",
                });
            }
        };
        let mut items = items.into_iter();
        let uid =
            super::fields::into_string(items.next().ok_or(WireError::MissingField("uid"))?, "uid")?;
        let packet = Packet::from_value(items.next().ok_or(WireError::MissingField("packet"))?)?;
        let opts = items.next().map_or_else(
            || Ok(BroadcastOptions::default()),
            BroadcastOptions::from_value,
        )?;
        Ok(Self { uid, packet, opts })
    }
}

/// A request on the request channel (`{key}-request#{nsp}#`).
///
/// The join/leave/disconnect requests have a modern form (by `opts`, applied by every node, no answer) and a legacy
/// single-socket form (by `sid`, applied by the socket's owner, which answers [`Response::Done`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// 0, legacy `sockets(rooms)`: `{uid, requestId, type, rooms}`; answered by [`Response::Sockets`].
    Sockets {
        /// Requesting node.
        uid: String,
        /// Request id.
        request_id: String,
        /// Rooms to match (empty: all sockets).
        rooms: Vec<String>,
    },
    /// 1, `allRooms()`: `{uid, requestId, type}`; answered by [`Response::AllRooms`].
    AllRooms {
        /// Requesting node.
        uid: String,
        /// Request id.
        request_id: String,
    },
    /// 2, `socketsJoin`: `{uid, type, opts, rooms}` (emitters send no `uid`); no answer.
    RemoteJoin {
        /// Requesting node; `None` from an emitter.
        uid: Option<String>,
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to join.
        rooms: Vec<String>,
    },
    /// 3, `socketsLeave`: as [`Request::RemoteJoin`].
    RemoteLeave {
        /// Requesting node; `None` from an emitter.
        uid: Option<String>,
        /// Which sockets.
        opts: BroadcastOptions,
        /// Rooms to leave.
        rooms: Vec<String>,
    },
    /// 4, `disconnectSockets`: `{uid, type, opts, close}` (emitters send no `uid`); no answer.
    RemoteDisconnect {
        /// Requesting node; `None` from an emitter.
        uid: Option<String>,
        /// Which sockets.
        opts: BroadcastOptions,
        /// Whether to close the underlying connection (absent means `false`).
        close: bool,
    },
    /// 2, legacy `remoteJoin(sid, room)`: `{uid, requestId, type, sid, room}`; the owner answers
    /// [`Response::Done`].
    LegacyRemoteJoin {
        /// Requesting node.
        uid: String,
        /// Request id.
        request_id: String,
        /// The socket.
        sid: String,
        /// The room to join.
        room: String,
    },
    /// 3, legacy `remoteLeave(sid, room)`: as [`Request::LegacyRemoteJoin`].
    LegacyRemoteLeave {
        /// Requesting node.
        uid: String,
        /// Request id.
        request_id: String,
        /// The socket.
        sid: String,
        /// The room to leave.
        room: String,
    },
    /// 4, legacy `remoteDisconnect(sid, close)`: `{uid, requestId, type, sid, close}`; the owner answers
    /// [`Response::Done`].
    LegacyRemoteDisconnect {
        /// Requesting node.
        uid: String,
        /// Request id.
        request_id: String,
        /// The socket.
        sid: String,
        /// Whether to close the underlying connection (absent means `false`).
        close: bool,
    },
    /// 5, `fetchSockets()`: `{uid, requestId, type, opts}`; answered by [`Response::RemoteFetch`].
    RemoteFetch {
        /// Requesting node.
        uid: String,
        /// Request id.
        request_id: String,
        /// Which sockets.
        opts: BroadcastOptions,
    },
    /// 6, `serverSideEmit`: `{uid, requestId?, type, data}`; with a request id, answered by
    /// [`Response::ServerSideEmit`] on the common response channel.
    ServerSideEmit {
        /// Requesting node (`"emitter"` for emitters).
        uid: String,
        /// Present when the sender waits for acknowledgements.
        request_id: Option<String>,
        /// `[event, ...args]`.
        data: Vec<Value>,
    },
    /// 7, broadcast with acknowledgement (MessagePack): `{uid, requestId, type, packet, opts}`; answered by one
    /// [`Response::BroadcastClientCount`] (also when 0), then one [`Response::BroadcastAck`] per client ack.
    Broadcast {
        /// Requesting node.
        uid: String,
        /// Request id.
        request_id: String,
        /// The packet, with `nsp`.
        packet: Packet,
        /// Targets and flags (`flags.timeout` bounds the wait).
        opts: BroadcastOptions,
    },
}

impl Request {
    /// The request type.
    pub fn request_type(&self) -> RequestType {
        match self {
            Self::Sockets { .. } => RequestType::Sockets,
            Self::AllRooms { .. } => RequestType::AllRooms,
            Self::RemoteJoin { .. } | Self::LegacyRemoteJoin { .. } => RequestType::RemoteJoin,
            Self::RemoteLeave { .. } | Self::LegacyRemoteLeave { .. } => RequestType::RemoteLeave,
            Self::RemoteDisconnect { .. } | Self::LegacyRemoteDisconnect { .. } => {
                RequestType::RemoteDisconnect
            }
            Self::RemoteFetch { .. } => RequestType::RemoteFetch,
            Self::ServerSideEmit { .. } => RequestType::ServerSideEmit,
            Self::Broadcast { .. } => RequestType::Broadcast,
        }
    }

    /// The requesting node, when the request names one.
    pub fn uid(&self) -> Option<&str> {
        match self {
            Self::RemoteJoin { uid, .. }
            | Self::RemoteLeave { uid, .. }
            | Self::RemoteDisconnect { uid, .. } => uid.as_deref(),
            Self::Sockets { uid, .. }
            | Self::AllRooms { uid, .. }
            | Self::LegacyRemoteJoin { uid, .. }
            | Self::LegacyRemoteLeave { uid, .. }
            | Self::LegacyRemoteDisconnect { uid, .. }
            | Self::RemoteFetch { uid, .. }
            | Self::ServerSideEmit { uid, .. }
            | Self::Broadcast { uid, .. } => Some(uid),
        }
    }

    /// The request id, when the request expects an answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::RemoteJoin { .. } | Self::RemoteLeave { .. } | Self::RemoteDisconnect { .. } => {
                None
            }
            Self::ServerSideEmit { request_id, .. } => request_id.as_deref(),
            Self::Sockets { request_id, .. }
            | Self::AllRooms { request_id, .. }
            | Self::LegacyRemoteJoin { request_id, .. }
            | Self::LegacyRemoteLeave { request_id, .. }
            | Self::LegacyRemoteDisconnect { request_id, .. }
            | Self::RemoteFetch { request_id, .. }
            | Self::Broadcast { request_id, .. } => Some(request_id),
        }
    }

    /// The encoding Node uses for this request: MessagePack for BROADCAST, JSON otherwise.
    pub fn encoding(&self) -> Encoding {
        match self {
            Self::Broadcast { .. } => Encoding::MessagePack,
            _ => Encoding::Json,
        }
    }

    /// The request as a value, keys in Node's order.
    pub fn to_value(&self) -> Value {
        let ty = type_value(self.request_type());
        match self {
            Self::Sockets {
                uid,
                request_id,
                rooms,
            } => object([
                ("uid", str_value(uid)),
                ("requestId", str_value(request_id)),
                ("type", ty),
                ("rooms", Some(strings(rooms))),
            ]),
            Self::AllRooms { uid, request_id } => object([
                ("uid", str_value(uid)),
                ("requestId", str_value(request_id)),
                ("type", ty),
            ]),
            Self::RemoteJoin { uid, opts, rooms } | Self::RemoteLeave { uid, opts, rooms } => {
                object([
                    ("uid", uid.as_deref().map(Value::from)),
                    ("type", ty),
                    ("opts", Some(opts.to_value())),
                    ("rooms", Some(strings(rooms))),
                ])
            }
            Self::RemoteDisconnect { uid, opts, close } => object([
                ("uid", uid.as_deref().map(Value::from)),
                ("type", ty),
                ("opts", Some(opts.to_value())),
                ("close", Some(Value::from(*close))),
            ]),
            Self::LegacyRemoteJoin {
                uid,
                request_id,
                sid,
                room,
            }
            | Self::LegacyRemoteLeave {
                uid,
                request_id,
                sid,
                room,
            } => object([
                ("uid", str_value(uid)),
                ("requestId", str_value(request_id)),
                ("type", ty),
                ("sid", str_value(sid)),
                ("room", str_value(room)),
            ]),
            Self::LegacyRemoteDisconnect {
                uid,
                request_id,
                sid,
                close,
            } => object([
                ("uid", str_value(uid)),
                ("requestId", str_value(request_id)),
                ("type", ty),
                ("sid", str_value(sid)),
                ("close", Some(Value::from(*close))),
            ]),
            Self::RemoteFetch {
                uid,
                request_id,
                opts,
            } => object([
                ("uid", str_value(uid)),
                ("requestId", str_value(request_id)),
                ("type", ty),
                ("opts", Some(opts.to_value())),
            ]),
            Self::ServerSideEmit {
                uid,
                request_id,
                data,
            } => object([
                ("uid", str_value(uid)),
                ("requestId", request_id.as_deref().map(Value::from)),
                ("type", ty),
                ("data", Some(Value::Array(data.clone()))),
            ]),
            Self::Broadcast {
                uid,
                request_id,
                packet,
                opts,
            } => object([
                ("uid", str_value(uid)),
                ("requestId", str_value(request_id)),
                ("type", ty),
                ("packet", Some(packet.to_value())),
                ("opts", Some(opts.to_value())),
            ]),
        }
    }

    /// Encodes the request as Node does (see [`Request::encoding`]).
    pub fn encode(&self) -> Vec<u8> {
        encode_value(&self.to_value(), self.encoding())
    }

    /// Decodes a request, JSON or MessagePack.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        Self::from_value(decode_payload(payload)?)
    }

    /// Reads a request from a decoded value.
    pub fn from_value(value: Value) -> Result<Self, WireError> {
        let mut f = Fields::new(value, "request")?;
        let type_number = f.type_number("request")?;
        let ty = RequestType::from_u64(type_number).ok_or(WireError::UnknownType {
            kind: "request",
            value: i64::try_from(type_number).unwrap_or(-1),
        })?;
        Ok(match ty {
            RequestType::Sockets => Self::Sockets {
                uid: f.string("uid")?,
                request_id: f.string("requestId")?,
                rooms: f.rooms("rooms")?,
            },
            RequestType::AllRooms => Self::AllRooms {
                uid: f.string("uid")?,
                request_id: f.string("requestId")?,
            },
            RequestType::RemoteJoin | RequestType::RemoteLeave => {
                let join = ty == RequestType::RemoteJoin;
                if let Some(opts) = f.take_present("opts") {
                    let uid = f.opt_string("uid")?;
                    let opts = BroadcastOptions::from_value(opts)?;
                    let rooms = f.rooms("rooms")?;
                    if join {
                        Self::RemoteJoin { uid, opts, rooms }
                    } else {
                        Self::RemoteLeave { uid, opts, rooms }
                    }
                } else {
                    let (uid, request_id) = (f.string("uid")?, f.string("requestId")?);
                    let (sid, room) = (f.string("sid")?, f.string("room")?);
                    if join {
                        Self::LegacyRemoteJoin {
                            uid,
                            request_id,
                            sid,
                            room,
                        }
                    } else {
                        Self::LegacyRemoteLeave {
                            uid,
                            request_id,
                            sid,
                            room,
                        }
                    }
                }
            }
            RequestType::RemoteDisconnect => {
                if let Some(opts) = f.take_present("opts") {
                    Self::RemoteDisconnect {
                        uid: f.opt_string("uid")?,
                        opts: BroadcastOptions::from_value(opts)?,
                        close: f.opt_bool("close")?.unwrap_or(false),
                    }
                } else {
                    Self::LegacyRemoteDisconnect {
                        uid: f.string("uid")?,
                        request_id: f.string("requestId")?,
                        sid: f.string("sid")?,
                        close: f.opt_bool("close")?.unwrap_or(false),
                    }
                }
            }
            RequestType::RemoteFetch => Self::RemoteFetch {
                uid: f.string("uid")?,
                request_id: f.string("requestId")?,
                opts: BroadcastOptions::take_from(&mut f)?,
            },
            RequestType::ServerSideEmit => Self::ServerSideEmit {
                uid: f.string("uid")?,
                request_id: f.opt_string("requestId")?,
                data: f.array("data")?,
            },
            RequestType::Broadcast => Self::Broadcast {
                uid: f.string("uid")?,
                request_id: f.string("requestId")?,
                packet: Packet::from_value(
                    f.take_present("packet")
                        .ok_or(WireError::MissingField("packet"))?,
                )?,
                opts: BroadcastOptions::take_from(&mut f)?,
            },
            RequestType::BroadcastClientCount | RequestType::BroadcastAck => {
                return Err(WireError::UnknownType {
                    kind: "request",
                    value: i64::from(ty.as_u8()),
                });
            }
        })
    }
}

/// A response on a response channel (`{key}-response#{nsp}#`, or the requester's own
/// `{key}-response#{nsp}#{uid}#`).
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// To SOCKETS: `{requestId, sockets: [sid...]}`.
    Sockets {
        /// Request id.
        request_id: String,
        /// Ids of the matching local sockets.
        sockets: Vec<String>,
    },
    /// To ALL_ROOMS: `{requestId, rooms}` (socket-id rooms included).
    AllRooms {
        /// Request id.
        request_id: String,
        /// Every local room.
        rooms: Vec<String>,
    },
    /// To a legacy single-socket REMOTE_JOIN / REMOTE_LEAVE / REMOTE_DISCONNECT: `{requestId}`.
    Done {
        /// Request id.
        request_id: String,
    },
    /// To REMOTE_FETCH: `{requestId, sockets: [{id, handshake, rooms, data}]}`.
    RemoteFetch {
        /// Request id.
        request_id: String,
        /// The matching local sockets.
        sockets: Vec<RemoteSocketData>,
    },
    /// To SERVER_SIDE_EMIT with a request id: `{type: 6, requestId, data}`.
    ServerSideEmit {
        /// Request id.
        request_id: String,
        /// The first acknowledgement argument; `None` when it was `undefined` (the key is then absent).
        data: Option<Value>,
    },
    /// To BROADCAST: `{type: 8, requestId, clientCount}`.
    BroadcastClientCount {
        /// Request id.
        request_id: String,
        /// Number of local clients that will acknowledge.
        client_count: u64,
    },
    /// To BROADCAST, one per client acknowledgement (MessagePack): `{type: 9, requestId, packet}`.
    BroadcastAck {
        /// Request id.
        request_id: String,
        /// The first acknowledgement argument; `None` when it was `undefined` (the key is then absent).
        packet: Option<Value>,
    },
}

impl Response {
    /// The id of the request this answers.
    pub fn request_id(&self) -> &str {
        match self {
            Self::Sockets { request_id, .. }
            | Self::AllRooms { request_id, .. }
            | Self::Done { request_id }
            | Self::RemoteFetch { request_id, .. }
            | Self::ServerSideEmit { request_id, .. }
            | Self::BroadcastClientCount { request_id, .. }
            | Self::BroadcastAck { request_id, .. } => request_id,
        }
    }

    /// The encoding Node uses for this response: MessagePack for BROADCAST_ACK, JSON otherwise.
    pub fn encoding(&self) -> Encoding {
        match self {
            Self::BroadcastAck { .. } => Encoding::MessagePack,
            _ => Encoding::Json,
        }
    }

    /// The response as a value, keys in Node's order.
    pub fn to_value(&self) -> Value {
        match self {
            Self::Sockets {
                request_id,
                sockets,
            } => object([
                ("requestId", str_value(request_id)),
                ("sockets", Some(strings(sockets))),
            ]),
            Self::AllRooms { request_id, rooms } => object([
                ("requestId", str_value(request_id)),
                ("rooms", Some(strings(rooms))),
            ]),
            Self::Done { request_id } => object([("requestId", str_value(request_id))]),
            Self::RemoteFetch {
                request_id,
                sockets,
            } => object([
                ("requestId", str_value(request_id)),
                (
                    "sockets",
                    Some(Value::Array(
                        sockets.iter().map(RemoteSocketData::to_value).collect(),
                    )),
                ),
            ]),
            Self::ServerSideEmit { request_id, data } => object([
                ("type", type_value(RequestType::ServerSideEmit)),
                ("requestId", str_value(request_id)),
                ("data", data.clone()),
            ]),
            Self::BroadcastClientCount {
                request_id,
                client_count,
            } => object([
                ("type", type_value(RequestType::BroadcastClientCount)),
                ("requestId", str_value(request_id)),
                ("clientCount", Some(Value::from(*client_count))),
            ]),
            Self::BroadcastAck { request_id, packet } => object([
                ("type", type_value(RequestType::BroadcastAck)),
                ("requestId", str_value(request_id)),
                ("packet", packet.clone()),
            ]),
        }
    }

    /// Encodes the response as Node does (see [`Response::encoding`]).
    pub fn encode(&self) -> Vec<u8> {
        encode_value(&self.to_value(), self.encoding())
    }

    /// Decodes a response to a pending request of type `pending` (see [`RawResponse`] to find it first).
    pub fn decode(payload: &[u8], pending: RequestType) -> Result<Self, WireError> {
        RawResponse::decode(payload)?.into_response(pending)
    }
}

/// A response decoded far enough to know which request it answers.
#[derive(Debug, Clone)]
pub struct RawResponse {
    request_id: String,
    response_type: Option<RequestType>,
    fields: Fields,
}

impl RawResponse {
    /// Decodes a response payload, JSON or MessagePack; it must carry a string `requestId`.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let mut fields = Fields::new(decode_payload(payload)?, "response")?;
        let request_id = fields.string("requestId")?;
        let response_type = match fields.take_present("type") {
            None => None,
            Some(v) => {
                let value = v.as_i64().unwrap_or(-1);
                let ty = v.as_u64().and_then(RequestType::from_u64);
                match ty {
                    Some(
                        t @ (RequestType::ServerSideEmit
                        | RequestType::BroadcastClientCount
                        | RequestType::BroadcastAck),
                    ) => Some(t),
                    _ => {
                        return Err(WireError::UnknownType {
                            kind: "response",
                            value,
                        });
                    }
                }
            }
        };
        Ok(Self {
            request_id,
            response_type,
            fields,
        })
    }

    /// The id of the request this answers.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The `type` the response names, if any (only SERVER_SIDE_EMIT, BROADCAST_CLIENT_COUNT and BROADCAST_ACK
    /// answers name one).
    pub fn response_type(&self) -> Option<RequestType> {
        self.response_type
    }

    /// The typed response, given the type of the pending request with this id. A response that names its type is
    /// read by that type.
    pub fn into_response(self, pending: RequestType) -> Result<Response, WireError> {
        let Self {
            request_id,
            response_type,
            mut fields,
        } = self;
        let kind = response_type.unwrap_or(pending);
        Ok(match kind {
            RequestType::Sockets => Response::Sockets {
                request_id,
                sockets: fields.string_list("sockets", MAX_LIST_LEN)?,
            },
            RequestType::AllRooms => Response::AllRooms {
                request_id,
                rooms: fields.string_list("rooms", MAX_LIST_LEN)?,
            },
            RequestType::RemoteJoin | RequestType::RemoteLeave | RequestType::RemoteDisconnect => {
                Response::Done { request_id }
            }
            RequestType::RemoteFetch => Response::RemoteFetch {
                request_id,
                sockets: list_of(
                    fields.take("sockets"),
                    "sockets",
                    RemoteSocketData::from_value,
                )?,
            },
            RequestType::ServerSideEmit => Response::ServerSideEmit {
                request_id,
                data: fields.take("data"),
            },
            RequestType::BroadcastClientCount => Response::BroadcastClientCount {
                request_id,
                client_count: fields.u64("clientCount")?,
            },
            RequestType::BroadcastAck => Response::BroadcastAck {
                request_id,
                packet: fields.take("packet"),
            },
            RequestType::Broadcast => return Err(WireError::UnexpectedResponse { pending }),
        })
    }
}
