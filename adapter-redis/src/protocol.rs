//! The two Node protocols behind one vocabulary: what a server sends to the others ([`Op`]),
//! what it answers ([`Reply`]), and what arrives ([`Incoming`]), mapped onto channels and
//! payloads of the classic (PUBLISH/SUBSCRIBE) or the sharded (SPUBLISH/SSUBSCRIBE) protocol, or onto the stream
//! entries and pub/sub envelopes of the streams protocol.
//! Pure: no I/O.

use bytes::Bytes;
use rmpv::Value;

use crate::wire::{
    self, BroadcastMessage, ClassicChannel, ClassicChannels, RawResponse, Request, RequestType,
    Response, ShardedBody, ShardedChannels, ShardedMessage, ShardedSubscriptionMode, StreamEntry,
    WireError,
};

/// Which Node protocol the adapter speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `createAdapter()`: PUBLISH/SUBSCRIBE; what the emitters speak.
    Classic,
    /// `createShardedAdapter()`: SPUBLISH/SSUBSCRIBE, with its subscription mode.
    Sharded(ShardedSubscriptionMode),
    /// `@socket.io/redis-streams-adapter`: persistent operations on a Redis stream, short requests and answers
    /// as sharded envelopes in MessagePack over PUBLISH/SUBSCRIBE.
    Streams,
}

/// An operation this server asks of the other servers of a namespace.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Deliver `[event, ...args]`; with a request id, answer with client counts and acks.
    Broadcast {
        /// `[event, ...args]`.
        data: Vec<Value>,
        /// Targets and flags.
        opts: wire::BroadcastOptions,
        /// Present for a broadcast with acknowledgements.
        request_id: Option<String>,
    },
    /// Make matching sockets join rooms.
    Join {
        /// Which sockets.
        opts: wire::BroadcastOptions,
        /// Rooms.
        rooms: Vec<String>,
    },
    /// Make matching sockets leave rooms.
    Leave {
        /// Which sockets.
        opts: wire::BroadcastOptions,
        /// Rooms.
        rooms: Vec<String>,
    },
    /// Disconnect matching sockets.
    Disconnect {
        /// Which sockets.
        opts: wire::BroadcastOptions,
        /// Close the underlying connection too.
        close: bool,
    },
    /// List matching sockets with their handshake, rooms and data.
    Fetch {
        /// Request id.
        request_id: String,
        /// Which sockets.
        opts: wire::BroadcastOptions,
    },
    /// List every room (classic only).
    AllRooms {
        /// Request id.
        request_id: String,
    },
    /// Emit to the other servers themselves.
    ServerSideEmit {
        /// Present when acknowledgements are expected.
        request_id: Option<String>,
        /// `[event, ...args]`.
        data: Vec<Value>,
    },
}

/// An answer to another server's request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Matching sockets, with handshake, rooms and data.
    Fetch {
        /// Request id.
        request_id: String,
        /// Sockets.
        sockets: Vec<wire::RemoteSocketData>,
    },
    /// Every room of this server.
    AllRooms {
        /// Request id.
        request_id: String,
        /// Rooms.
        rooms: Vec<String>,
    },
    /// Matching socket ids (the legacy SOCKETS request).
    Sockets {
        /// Request id.
        request_id: String,
        /// Socket ids.
        sockets: Vec<String>,
    },
    /// A legacy single-socket request was applied.
    Done {
        /// Request id.
        request_id: String,
    },
    /// The first argument of a server-side emit acknowledgement.
    ServerSideEmit {
        /// Request id.
        request_id: String,
        /// The argument (`None`: `undefined`).
        data: Option<Value>,
    },
    /// How many local clients will acknowledge a broadcast.
    ClientCount {
        /// Request id.
        request_id: String,
        /// Count.
        count: u64,
    },
    /// One client acknowledgement of a broadcast.
    Ack {
        /// Request id.
        request_id: String,
        /// Its first argument (`None`: `undefined`).
        data: Option<Value>,
    },
}

impl Reply {
    /// The request this answers.
    pub fn request_id(&self) -> &str {
        match self {
            Reply::Fetch { request_id, .. }
            | Reply::AllRooms { request_id, .. }
            | Reply::Sockets { request_id, .. }
            | Reply::Done { request_id }
            | Reply::ServerSideEmit { request_id, .. }
            | Reply::ClientCount { request_id, .. }
            | Reply::Ack { request_id, .. } => request_id,
        }
    }
}

/// What a legacy single-socket request asks.
#[derive(Debug, Clone, PartialEq)]
pub enum LegacyAction {
    /// Join `room`.
    Join(String),
    /// Leave `room`.
    Leave(String),
    /// Disconnect (closing the connection when true).
    Disconnect(bool),
}

/// A decoded message for this server.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An operation from another server (`uid: None` from an emitter without uid).
    Op {
        /// Sender.
        uid: Option<String>,
        /// What to do.
        op: Op,
    },
    /// The legacy SOCKETS request.
    Sockets {
        /// Sender.
        uid: String,
        /// Request id.
        request_id: String,
        /// Rooms.
        rooms: Vec<String>,
    },
    /// A legacy single-socket request, applied and answered by the socket's owner.
    Legacy {
        /// Sender.
        uid: String,
        /// Request id.
        request_id: String,
        /// The socket.
        sid: String,
        /// What to do.
        action: LegacyAction,
    },
    /// An answer to one of this server's requests.
    Reply(Reply),
}

/// The kind of a request in flight, to read its answers. (This server never asks for every room: the engine
/// has no such operation; it answers Node's `ALL_ROOMS` requests.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// Fetch sockets.
    Fetch,
    /// Server-side emit.
    ServerSideEmit,
    /// Broadcast with acknowledgements.
    Broadcast,
}

impl RequestKind {
    fn classic(self) -> RequestType {
        match self {
            RequestKind::Fetch => RequestType::RemoteFetch,
            RequestKind::ServerSideEmit => RequestType::ServerSideEmit,
            RequestKind::Broadcast => RequestType::Broadcast,
        }
    }
}

/// Channel, payload and whether to SPUBLISH.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Channel.
    pub channel: String,
    /// Payload.
    pub payload: Bytes,
    /// SPUBLISH instead of PUBLISH.
    pub sharded: bool,
}

/// What one server subscribes to for one namespace.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NamespaceSubscriptions {
    /// SUBSCRIBE channels.
    pub channels: Vec<String>,
    /// PSUBSCRIBE patterns.
    pub patterns: Vec<String>,
    /// SSUBSCRIBE channels.
    pub shard_channels: Vec<String>,
}

/// The protocol of one namespace of one server.
#[derive(Debug, Clone)]
pub struct Protocol {
    mode: Mode,
    uid: String,
    nsp: String,
    classic: ClassicChannels,
    sharded: ShardedChannels,
}

impl Protocol {
    /// The protocol of namespace `nsp` for server `uid`, with channel prefix `key`.
    pub fn new(mode: Mode, key: &str, nsp: &str, uid: &str) -> Self {
        Self {
            mode,
            uid: uid.to_owned(),
            nsp: nsp.to_owned(),
            classic: ClassicChannels::new(key, nsp),
            sharded: ShardedChannels::new(key, nsp),
        }
    }

    /// What kind of message arrives on `channel`, for metrics and logs.
    pub fn channel_kind(&self, channel: &str) -> &'static str {
        match self.classic.parse(channel) {
            _ if matches!(self.mode, Mode::Sharded(_)) => "sharded",
            _ if self.mode == Mode::Streams => "streams",
            Some(ClassicChannel::Broadcast | ClassicChannel::Room(_)) => "broadcast",
            Some(ClassicChannel::Request) => "request",
            Some(ClassicChannel::Response | ClassicChannel::SpecificResponse(_)) => "response",
            None => "channel",
        }
    }

    /// The protocol mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The subscriptions a server holds for the namespace (rooms excluded).
    pub fn subscriptions(&self) -> NamespaceSubscriptions {
        match self.mode {
            Mode::Classic => NamespaceSubscriptions {
                patterns: vec![self.classic.broadcast_pattern()],
                channels: vec![
                    self.classic.request().to_owned(),
                    self.classic.response().to_owned(),
                    self.classic.specific_response(&self.uid),
                ],
                shard_channels: vec![],
            },
            Mode::Sharded(_) => NamespaceSubscriptions {
                shard_channels: vec![
                    self.sharded.main().to_owned(),
                    self.sharded.response(&self.uid),
                ],
                ..NamespaceSubscriptions::default()
            },
            Mode::Streams => NamespaceSubscriptions {
                channels: vec![
                    self.sharded.main().to_owned(),
                    self.sharded.response(&self.uid),
                ],
                ..NamespaceSubscriptions::default()
            },
        }
    }

    /// The shard channel of `room` when this mode subscribes to it (sharded dynamic modes), as Node decides
    /// on `create-room`: every room, except in `dynamic` mode the ids of local sockets
    /// (`is_local_socket_id`). Other servers publish to a socket id on the main channel
    /// ([`wire::sharded_treats_as_socket_id`]), so no socket needs a channel of its own.
    pub fn room_channel(&self, room: &str, is_local_socket_id: bool) -> Option<String> {
        match self.mode {
            Mode::Sharded(mode) if mode.subscribes_to_room(is_local_socket_id) => {
                Some(self.sharded.room(room))
            }
            _ => None,
        }
    }

    /// `(channel, sharded)` whose subscriber count is the number of servers.
    pub fn server_count_channel(&self) -> (&str, bool) {
        match self.mode {
            Mode::Classic => (self.classic.request(), false),
            Mode::Sharded(_) => (self.sharded.main(), true),
            Mode::Streams => (self.sharded.main(), false),
        }
    }

    /// Streams mode: a channel that server `uid` alone subscribes to while it runs (where it receives answers);
    /// its subscriber count tells whether that server still runs.
    pub fn server_channel(&self, uid: &str) -> String {
        self.sharded.response(uid)
    }

    /// Encodes an operation of this server.
    pub fn encode_op(&self, op: Op) -> Outgoing {
        match self.mode {
            Mode::Classic => self.classic_op(op),
            Mode::Sharded(mode) => {
                let msg = ShardedMessage::new(self.uid.clone(), self.nsp.clone(), sharded_body(op));
                let channel = self.sharded.publish_channel(&msg, mode);
                Outgoing {
                    channel,
                    payload: msg.encode().into(),
                    sharded: true,
                }
            }
            // Only the short requests travel over pub/sub (see `Protocol::stream_entry`).
            Mode::Streams => {
                let msg = ShardedMessage::new(self.uid.clone(), self.nsp.clone(), sharded_body(op));
                Outgoing {
                    channel: self.sharded.main().to_owned(),
                    payload: msg.encode_msgpack().into(),
                    sharded: false,
                }
            }
        }
    }

    /// Streams mode: the stream entry of `op` when it is persistent (Node's `!isEphemeral`); `Err(op)` for the
    /// short requests that go over pub/sub ([`Protocol::encode_op`]).
    pub fn stream_entry(&self, op: Op) -> Result<StreamEntry, Op> {
        let persistent = match &op {
            Op::Broadcast { request_id, .. } => request_id.is_none(),
            Op::Join { .. } | Op::Leave { .. } | Op::Disconnect { .. } => true,
            Op::Fetch { .. } | Op::AllRooms { .. } | Op::ServerSideEmit { .. } => false,
        };
        if !persistent {
            return Err(op);
        }
        Ok(StreamEntry::new(
            self.uid.clone(),
            self.nsp.clone(),
            sharded_body(op),
        ))
    }

    /// Streams mode: what a stream entry asks of this server; `None` for its own entries and other namespaces'.
    pub fn decode_entry(&self, entry: StreamEntry) -> Option<Incoming> {
        if entry.uid == self.uid || entry.nsp != self.nsp {
            return None;
        }
        incoming(Some(entry.uid), entry.body)
    }

    fn classic_op(&self, op: Op) -> Outgoing {
        let uid = self.uid.clone();
        let request = |r: Request| Outgoing {
            channel: self.classic.request().to_owned(),
            payload: r.encode().into(),
            sharded: false,
        };
        match op {
            Op::Broadcast {
                data,
                opts,
                request_id: None,
            } => {
                let channel = self.classic.broadcast_channel_for(&opts.rooms);
                let packet = wire::Packet::event(self.nsp.clone(), data);
                let msg = BroadcastMessage { uid, packet, opts };
                Outgoing {
                    channel,
                    payload: msg.encode().into(),
                    sharded: false,
                }
            }
            Op::Broadcast {
                data,
                opts,
                request_id: Some(request_id),
            } => {
                let packet = wire::Packet::event(self.nsp.clone(), data);
                request(Request::Broadcast {
                    uid,
                    request_id,
                    packet,
                    opts,
                })
            }
            Op::Join { opts, rooms } => request(Request::RemoteJoin {
                uid: Some(uid),
                opts,
                rooms,
            }),
            Op::Leave { opts, rooms } => request(Request::RemoteLeave {
                uid: Some(uid),
                opts,
                rooms,
            }),
            Op::Disconnect { opts, close } => request(Request::RemoteDisconnect {
                uid: Some(uid),
                opts,
                close,
            }),
            Op::Fetch { request_id, opts } => request(Request::RemoteFetch {
                uid,
                request_id,
                opts,
            }),
            Op::AllRooms { request_id } => request(Request::AllRooms { uid, request_id }),
            Op::ServerSideEmit { request_id, data } => request(Request::ServerSideEmit {
                uid,
                request_id,
                data,
            }),
        }
    }

    /// Encodes an answer to server `requester`.
    pub fn encode_reply(&self, requester: &str, reply: Reply) -> Outgoing {
        match self.mode {
            Mode::Classic => {
                let response = match reply {
                    Reply::Fetch {
                        request_id,
                        sockets,
                    } => Response::RemoteFetch {
                        request_id,
                        sockets,
                    },
                    Reply::AllRooms { request_id, rooms } => {
                        Response::AllRooms { request_id, rooms }
                    }
                    Reply::Sockets {
                        request_id,
                        sockets,
                    } => Response::Sockets {
                        request_id,
                        sockets,
                    },
                    Reply::Done { request_id } => Response::Done { request_id },
                    Reply::ServerSideEmit { request_id, data } => {
                        Response::ServerSideEmit { request_id, data }
                    }
                    Reply::ClientCount { request_id, count } => Response::BroadcastClientCount {
                        request_id,
                        client_count: count,
                    },
                    Reply::Ack { request_id, data } => Response::BroadcastAck {
                        request_id,
                        packet: data,
                    },
                };
                // Node answers on the common response channel; every Node 8 requester listens there.
                let channel = self.classic.response().to_owned();
                Outgoing {
                    channel,
                    payload: response.encode().into(),
                    sharded: false,
                }
            }
            Mode::Sharded(_) | Mode::Streams => {
                let body = match reply {
                    Reply::Fetch {
                        request_id,
                        sockets,
                    } => ShardedBody::FetchSocketsResponse {
                        request_id,
                        sockets,
                    },
                    Reply::ServerSideEmit { request_id, data } => {
                        ShardedBody::ServerSideEmitResponse {
                            request_id,
                            packet: data,
                        }
                    }
                    Reply::ClientCount { request_id, count } => ShardedBody::BroadcastClientCount {
                        request_id,
                        client_count: count,
                    },
                    Reply::Ack { request_id, data } => ShardedBody::BroadcastAck {
                        request_id,
                        packet: data,
                    },
                    // No sharded equivalents; never produced in this mode.
                    Reply::AllRooms { .. } | Reply::Sockets { .. } | Reply::Done { .. } => {
                        ShardedBody::Heartbeat
                    }
                };
                let msg = ShardedMessage::new(self.uid.clone(), self.nsp.clone(), body);
                let streams = self.mode == Mode::Streams;
                Outgoing {
                    channel: self.sharded.response(requester),
                    payload: if streams {
                        msg.encode_msgpack().into()
                    } else {
                        msg.encode().into()
                    },
                    sharded: !streams,
                }
            }
        }
    }

    /// Decodes a message that arrived on `channel`. `Ok(None)`: not for this namespace, our own
    /// message, or a message kind this server ignores. `kind_of` tells the kind of one of our
    /// requests in flight (classic answers do not all name their type).
    pub fn decode(
        &self,
        channel: &str,
        payload: &[u8],
        kind_of: impl Fn(&str) -> Option<RequestKind>,
    ) -> Result<Option<Incoming>, WireError> {
        match self.mode {
            Mode::Classic => self.decode_classic(channel, payload, kind_of),
            Mode::Sharded(_) | Mode::Streams => self.decode_sharded(channel, payload),
        }
    }

    fn decode_classic(
        &self,
        channel: &str,
        payload: &[u8],
        kind_of: impl Fn(&str) -> Option<RequestKind>,
    ) -> Result<Option<Incoming>, WireError> {
        let Some(kind) = self.classic.parse(channel) else {
            return Ok(None);
        };
        match kind {
            ClassicChannel::Broadcast | ClassicChannel::Room(_) => {
                let msg = BroadcastMessage::decode(payload)?;
                if msg.uid == self.uid || msg.packet.namespace() != self.nsp {
                    return Ok(None);
                }
                let op = Op::Broadcast {
                    data: msg.packet.data,
                    opts: msg.opts,
                    request_id: None,
                };
                Ok(Some(Incoming::Op {
                    uid: Some(msg.uid),
                    op,
                }))
            }
            ClassicChannel::Request => {
                let request = Request::decode(payload)?;
                if request.uid() == Some(self.uid.as_str()) {
                    return Ok(None);
                }
                Ok(Some(classic_request(request)))
            }
            ClassicChannel::Response | ClassicChannel::SpecificResponse(_) => {
                if let ClassicChannel::SpecificResponse(uid) = &kind
                    && *uid != self.uid
                {
                    return Ok(None);
                }
                let raw = RawResponse::decode(payload)?;
                let Some(kind) = kind_of(raw.request_id()) else {
                    return Ok(None);
                };
                let reply = match raw.into_response(kind.classic())? {
                    Response::RemoteFetch {
                        request_id,
                        sockets,
                    } => Reply::Fetch {
                        request_id,
                        sockets,
                    },
                    Response::AllRooms { request_id, rooms } => {
                        Reply::AllRooms { request_id, rooms }
                    }
                    Response::Sockets {
                        request_id,
                        sockets,
                    } => Reply::Sockets {
                        request_id,
                        sockets,
                    },
                    Response::Done { request_id } => Reply::Done { request_id },
                    Response::ServerSideEmit { request_id, data } => {
                        Reply::ServerSideEmit { request_id, data }
                    }
                    Response::BroadcastClientCount {
                        request_id,
                        client_count,
                    } => Reply::ClientCount {
                        request_id,
                        count: client_count,
                    },
                    Response::BroadcastAck { request_id, packet } => Reply::Ack {
                        request_id,
                        data: packet,
                    },
                };
                Ok(Some(Incoming::Reply(reply)))
            }
        }
    }

    fn decode_sharded(&self, channel: &str, payload: &[u8]) -> Result<Option<Incoming>, WireError> {
        if self.sharded.parse(channel, &self.uid).is_none() {
            return Ok(None);
        }
        let msg = ShardedMessage::decode(payload)?;
        if msg.uid == self.uid || msg.nsp.as_deref().is_some_and(|n| n != self.nsp) {
            return Ok(None);
        }
        Ok(incoming(Some(msg.uid), msg.body))
    }
}

/// The sharded envelope's body of an operation (also the streams adapter's).
fn sharded_body(op: Op) -> ShardedBody {
    match op {
        Op::Broadcast {
            data,
            opts,
            request_id,
        } => ShardedBody::Broadcast {
            packet: wire::Packet {
                packet_type: 2,
                data,
                nsp: None,
            },
            request_id,
            opts,
        },
        Op::Join { opts, rooms } => ShardedBody::SocketsJoin { opts, rooms },
        Op::Leave { opts, rooms } => ShardedBody::SocketsLeave { opts, rooms },
        Op::Disconnect { opts, close } => ShardedBody::DisconnectSockets { opts, close },
        Op::Fetch { request_id, opts } => ShardedBody::FetchSockets { opts, request_id },
        // The sharded protocol has no ALL_ROOMS; callers never send it in this mode.
        Op::AllRooms { .. } => ShardedBody::Heartbeat,
        Op::ServerSideEmit { request_id, data } => ShardedBody::ServerSideEmit {
            request_id,
            packet: data,
        },
    }
}

/// What a sharded (or streams) body from server `uid` asks of this server.
fn incoming(uid: Option<String>, body: ShardedBody) -> Option<Incoming> {
    let op = |op| {
        Some(Incoming::Op {
            uid: uid.clone(),
            op,
        })
    };
    let reply = |r| Some(Incoming::Reply(r));
    match body {
        ShardedBody::Broadcast {
            packet,
            request_id,
            opts,
        } => op(Op::Broadcast {
            data: packet.data,
            opts,
            request_id,
        }),
        ShardedBody::SocketsJoin { opts, rooms } => op(Op::Join { opts, rooms }),
        ShardedBody::SocketsLeave { opts, rooms } => op(Op::Leave { opts, rooms }),
        ShardedBody::DisconnectSockets { opts, close } => op(Op::Disconnect { opts, close }),
        ShardedBody::FetchSockets { opts, request_id } => op(Op::Fetch { request_id, opts }),
        ShardedBody::ServerSideEmit { request_id, packet } => op(Op::ServerSideEmit {
            request_id,
            data: packet,
        }),
        ShardedBody::FetchSocketsResponse {
            request_id,
            sockets,
        } => reply(Reply::Fetch {
            request_id,
            sockets,
        }),
        ShardedBody::ServerSideEmitResponse { request_id, packet } => {
            reply(Reply::ServerSideEmit {
                request_id,
                data: packet,
            })
        }
        ShardedBody::BroadcastClientCount {
            request_id,
            client_count,
        } => reply(Reply::ClientCount {
            request_id,
            count: client_count,
        }),
        ShardedBody::BroadcastAck { request_id, packet } => reply(Reply::Ack {
            request_id,
            data: packet,
        }),
        ShardedBody::InitialHeartbeat | ShardedBody::Heartbeat | ShardedBody::AdapterClose => None,
    }
}

fn classic_request(request: Request) -> Incoming {
    let op = |uid: Option<String>, op| Incoming::Op { uid, op };
    match request {
        Request::Sockets {
            uid,
            request_id,
            rooms,
        } => Incoming::Sockets {
            uid,
            request_id,
            rooms,
        },
        Request::AllRooms { uid, request_id } => op(Some(uid), Op::AllRooms { request_id }),
        Request::RemoteJoin { uid, opts, rooms } => op(uid, Op::Join { opts, rooms }),
        Request::RemoteLeave { uid, opts, rooms } => op(uid, Op::Leave { opts, rooms }),
        Request::RemoteDisconnect { uid, opts, close } => op(uid, Op::Disconnect { opts, close }),
        Request::LegacyRemoteJoin {
            uid,
            request_id,
            sid,
            room,
        } => Incoming::Legacy {
            uid,
            request_id,
            sid,
            action: LegacyAction::Join(room),
        },
        Request::LegacyRemoteLeave {
            uid,
            request_id,
            sid,
            room,
        } => Incoming::Legacy {
            uid,
            request_id,
            sid,
            action: LegacyAction::Leave(room),
        },
        Request::LegacyRemoteDisconnect {
            uid,
            request_id,
            sid,
            close,
        } => Incoming::Legacy {
            uid,
            request_id,
            sid,
            action: LegacyAction::Disconnect(close),
        },
        Request::RemoteFetch {
            uid,
            request_id,
            opts,
        } => op(Some(uid), Op::Fetch { request_id, opts }),
        Request::ServerSideEmit {
            uid,
            request_id,
            data,
        } => op(Some(uid), Op::ServerSideEmit { request_id, data }),
        Request::Broadcast {
            uid,
            request_id,
            packet,
            opts,
        } => op(
            Some(uid),
            Op::Broadcast {
                data: packet.data,
                opts,
                request_id: Some(request_id),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<Value> {
        vec![Value::from("hello"), Value::from(1)]
    }

    #[test]
    fn classic_broadcast_round_trips_between_two_servers() {
        let a = Protocol::new(Mode::Classic, "socket.io", "/", "AAAA");
        let b = Protocol::new(Mode::Classic, "socket.io", "/", "BBBB");
        let op = Op::Broadcast {
            data: data(),
            opts: wire::BroadcastOptions::new(vec!["r".into()], vec![]),
            request_id: None,
        };
        let out = a.encode_op(op.clone());
        assert_eq!(out.channel, "socket.io#/#r#");
        assert_eq!(
            a.decode(&out.channel, &out.payload, |_| None).unwrap(),
            None,
            "own messages are ignored"
        );
        let got = b.decode(&out.channel, &out.payload, |_| None).unwrap();
        assert_eq!(
            got,
            Some(Incoming::Op {
                uid: Some("AAAA".into()),
                op
            })
        );
    }

    #[test]
    fn classic_fetch_request_and_reply() {
        let a = Protocol::new(Mode::Classic, "k", "/", "AAAA");
        let b = Protocol::new(Mode::Classic, "k", "/", "BBBB");
        let out = a.encode_op(Op::Fetch {
            request_id: "r1".into(),
            opts: wire::BroadcastOptions::new(vec![], vec![]),
        });
        assert_eq!(out.channel, "k-request#/#");
        let Some(Incoming::Op {
            op: Op::Fetch { request_id, .. },
            ..
        }) = b.decode(&out.channel, &out.payload, |_| None).unwrap()
        else {
            panic!("not a fetch")
        };
        let reply = b.encode_reply(
            "AAAA",
            Reply::Fetch {
                request_id,
                sockets: vec![],
            },
        );
        let got = a
            .decode(&reply.channel, &reply.payload, |_| Some(RequestKind::Fetch))
            .unwrap();
        assert_eq!(
            got,
            Some(Incoming::Reply(Reply::Fetch {
                request_id: "r1".into(),
                sockets: vec![]
            }))
        );
        assert_eq!(
            a.decode(&reply.channel, &reply.payload, |_| None).unwrap(),
            None,
            "foreign answers are ignored"
        );
    }

    #[test]
    fn sharded_room_channels_and_replies() {
        let a = Protocol::new(
            Mode::Sharded(ShardedSubscriptionMode::Dynamic),
            "k",
            "/",
            "aaaa",
        );
        let b = Protocol::new(
            Mode::Sharded(ShardedSubscriptionMode::Dynamic),
            "k",
            "/",
            "bbbb",
        );
        assert_eq!(
            a.subscriptions().shard_channels,
            vec!["k#/#".to_string(), "k#/#aaaa#".to_string()]
        );
        assert_eq!(
            a.room_channel("lobby", false).as_deref(),
            Some("k#/#lobby#")
        );
        // A socket id (20 characters, like every engine id) has no channel: neither side uses one.
        let sid = engine::Sid::new().to_string();
        assert_eq!(a.room_channel(&sid, true), None);
        let to_socket = a.encode_op(Op::Broadcast {
            data: data(),
            opts: wire::BroadcastOptions::new(vec![sid], vec![]),
            request_id: None,
        });
        assert_eq!(to_socket.channel, "k#/#");
        let op = Op::Broadcast {
            data: data(),
            opts: wire::BroadcastOptions::new(vec!["lobby".into()], vec![]),
            request_id: None,
        };
        let out = a.encode_op(op.clone());
        assert!(out.sharded);
        assert_eq!(out.channel, "k#/#lobby#");
        assert_eq!(
            b.decode(&out.channel, &out.payload, |_| None).unwrap(),
            Some(Incoming::Op {
                uid: Some("aaaa".into()),
                op
            })
        );
        let reply = b.encode_reply(
            "aaaa",
            Reply::ClientCount {
                request_id: "q".into(),
                count: 2,
            },
        );
        assert_eq!(reply.channel, "k#/#aaaa#");
        let got = a.decode(&reply.channel, &reply.payload, |_| None).unwrap();
        assert_eq!(
            got,
            Some(Incoming::Reply(Reply::ClientCount {
                request_id: "q".into(),
                count: 2
            }))
        );
        let static_mode = Protocol::new(
            Mode::Sharded(ShardedSubscriptionMode::Static),
            "k",
            "/",
            "aaaa",
        );
        assert_eq!(static_mode.room_channel("lobby", false), None);
    }
}
