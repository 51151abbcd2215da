//! Operations this server sends to the others: each is applied to the local sockets first, then published.
//! Only server-side emits report a Redis failure (nothing local happened); the others are counted and logged.

use engine::adapter::{AdapterError, BroadcastOptions};
use engine::sio::packet::Packet;
use rmpv::Value;

use super::RedisAdapter;
use super::convert::{broadcast_opts_to_wire, request_opts_to_wire};
use crate::connection::ConnectionError;
use crate::protocol::{Op, Reply};
use crate::wire;

impl RedisAdapter {
    /// Whether an operation with `opts` goes to other servers too.
    pub(super) fn is_remote(&self, opts: &BroadcastOptions) -> bool {
        !opts.local && self.shared.connection.is_some()
    }

    pub(super) async fn broadcast_to_all(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        // Streams mode: appended first, then delivered here with its entry id as offset, in order.
        if let Some(streams) = self.streams.as_ref().filter(|_| !opts.local) {
            match wire::Packet::try_from(&packet) {
                Ok(wire) => {
                    let op = Op::Broadcast {
                        data: wire.data,
                        opts: broadcast_opts_to_wire(&opts),
                        request_id: None,
                    };
                    if let Ok(entry) = self.protocol.stream_entry(op) {
                        let local = Some((packet, opts));
                        self.append_to_stream(streams, super::streams::Append { entry, local });
                        return Ok(());
                    }
                }
                Err(err) => tracing::debug!(%err, "packet not relayed"),
            }
            self.deliver_with_offset(packet, &opts, None);
            return Ok(());
        }
        // Other servers get the packet without this server's recovery offset (they add their own).
        let remote = self
            .is_remote(&opts)
            .then(|| wire::Packet::try_from(&packet));
        self.deliver_locally(packet, &opts);
        if let Some(remote) = remote {
            match remote {
                Ok(wire) => self.publish(Op::Broadcast {
                    data: wire.data,
                    opts: broadcast_opts_to_wire(&opts),
                    request_id: None,
                }),
                Err(err) => tracing::debug!(%err, "packet not relayed"),
            }
        }
        Ok(())
    }

    pub(super) async fn join_everywhere(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> Result<(), AdapterError> {
        if let Some(ns) = self.local.get() {
            ns.add_sockets(&opts, &rooms);
        }
        if self.is_remote(&opts) {
            self.publish(Op::Join {
                opts: request_opts_to_wire(&opts),
                rooms,
            });
        }
        Ok(())
    }

    pub(super) async fn leave_everywhere(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> Result<(), AdapterError> {
        if let Some(ns) = self.local.get() {
            ns.del_sockets(&opts, &rooms);
        }
        if self.is_remote(&opts) {
            self.publish(Op::Leave {
                opts: request_opts_to_wire(&opts),
                rooms,
            });
        }
        Ok(())
    }

    pub(super) async fn disconnect_everywhere(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> Result<(), AdapterError> {
        if let Some(ns) = self.local.get() {
            ns.disconnect_sockets(&opts, close);
        }
        if self.is_remote(&opts) {
            self.publish(Op::Disconnect {
                opts: request_opts_to_wire(&opts),
                close,
            });
        }
        Ok(())
    }

    /// Node's `serverSideEmit` without acknowledgement: an error when Redis is away (nothing was sent).
    pub(super) async fn emit_to_servers(&self, data: Vec<Value>) -> Result<(), AdapterError> {
        let Some(conn) = self.connection() else {
            return Ok(());
        };
        if !conn.is_connected() {
            return Err(unavailable(ConnectionError::Down));
        }
        let out = self.protocol.encode_op(Op::ServerSideEmit {
            request_id: None,
            data,
        });
        conn.publish(out.sharded, &out.channel, out.payload)
            .await
            .map_err(unavailable)
    }

    /// Queues an operation for the other servers (in order; never waits for Redis). In streams mode the
    /// persistent ones go to the stream.
    pub(super) fn publish(&self, op: Op) {
        if self.connection().is_none() {
            return;
        }
        let op = match &self.streams {
            Some(streams) => match self.protocol.stream_entry(op) {
                Ok(entry) => {
                    let item = super::streams::Append { entry, local: None };
                    return self.append_to_stream(streams, item);
                }
                Err(op) => op,
            },
            None => op,
        };
        self.publisher.send(self.protocol.encode_op(op));
    }

    /// Queues an answer to server `requester`.
    pub(super) fn reply(&self, requester: &str, reply: Reply) {
        if self.connection().is_some() {
            self.publisher
                .send(self.protocol.encode_reply(requester, reply));
        }
    }
}

/// The engine's error for a Redis failure.
pub(super) fn unavailable(err: ConnectionError) -> AdapterError {
    AdapterError::Unavailable(err.to_string())
}
