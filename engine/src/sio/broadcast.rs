//! Broadcast operators, named as in Node: `to`, `except`, `local`, `volatile`, `compress`, `timeout`, then an
//! operation.

use std::sync::Arc;
use std::time::Duration;

use rmpv::Value;

use super::namespace::Namespace;
use super::packet::Packet;
use super::socket::Socket;
use crate::adapter::{AckResponses, AdapterError, BroadcastOptions, SocketDescription};

/// A broadcast being built (Node's `BroadcastOperator`).
#[derive(Clone)]
pub struct BroadcastOperators {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
}

impl BroadcastOperators {
    pub(crate) fn new(ns: Arc<Namespace>) -> Self {
        Self {
            ns,
            opts: BroadcastOptions::default(),
        }
    }

    /// Targets the sockets in `room` too.
    pub fn to(mut self, room: impl Into<String>) -> Self {
        self.opts.rooms.push(room.into());
        self
    }

    /// Targets the sockets in any of `rooms` too.
    pub fn to_rooms(mut self, rooms: impl IntoIterator<Item = String>) -> Self {
        self.opts.rooms.extend(rooms);
        self
    }

    /// Excludes the sockets in `room`.
    pub fn except(mut self, room: impl Into<String>) -> Self {
        self.opts.except.push(room.into());
        self
    }

    /// Excludes the sockets in any of `rooms`.
    pub fn except_rooms(mut self, rooms: impl IntoIterator<Item = String>) -> Self {
        self.opts.except.extend(rooms);
        self
    }

    /// Only this server's sockets.
    pub fn local(mut self) -> Self {
        self.opts.local = true;
        self
    }

    /// Dropped for sockets that cannot take the packet at once.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Node's `compress(flag)`, accepted so that code ported from Node reads the same. It changes nothing:
    /// the engine never negotiates `permessage-deflate` (a deflate context per connection would cost more
    /// memory than an idle connection holds), so frames are always sent uncompressed.
    pub fn compress(self, _compress: bool) -> Self {
        self
    }

    /// How long [`Self::emit_with_ack`] waits.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.opts.timeout = Some(timeout);
        self
    }

    /// The options built so far.
    pub fn options(&self) -> &BroadcastOptions {
        &self.opts
    }

    fn adapter(&self) -> Result<Arc<dyn crate::adapter::Adapter>, AdapterError> {
        self.ns.adapter().cloned().ok_or(AdapterError::Unsupported)
    }

    /// Emits `event` with `args` to every targeted socket of every server (only this one's with `local`).
    pub async fn emit(self, event: &str, args: Vec<Value>) -> Result<(), AdapterError> {
        let packet = Packet::event(self.ns.name(), event, args);
        if self.opts.local {
            self.ns.deliver(&packet, &self.opts);
            return Ok(());
        }
        self.adapter()?.broadcast(packet, self.opts).await
    }

    /// Emits and collects one acknowledgement per client until the timeout.
    pub async fn emit_with_ack(
        self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<AckResponses, AdapterError> {
        let packet = Packet::event(self.ns.name(), event, args);
        if self.opts.local {
            let timeout = self.opts.timeout.unwrap_or(Duration::from_secs(5));
            let pending = self.ns.deliver_with_ack(packet, &self.opts);
            let expected = pending.expected();
            return Ok(pending.collect(timeout, expected).await);
        }
        self.adapter()?.broadcast_with_ack(packet, self.opts).await
    }

    /// The targeted sockets of this server.
    pub fn local_sockets(&self) -> Vec<Arc<Socket>> {
        let mut out = Vec::new();
        self.ns.for_each_target(&self.opts, |s| out.push(s.clone()));
        out
    }

    /// The targeted sockets of every server, as Node's `fetchSockets()` describes them.
    pub async fn fetch_sockets(self) -> Result<Vec<SocketDescription>, AdapterError> {
        if self.opts.local {
            return Ok(self.ns.describe_sockets(&self.opts));
        }
        self.adapter()?.fetch_sockets(self.opts).await
    }

    /// Makes the targeted sockets of every server join `rooms` (`socketsJoin`).
    pub async fn sockets_join(self, rooms: Vec<String>) -> Result<(), AdapterError> {
        if self.opts.local {
            self.ns.add_sockets(&self.opts, &rooms);
            return Ok(());
        }
        self.adapter()?.add_sockets(self.opts, rooms).await
    }

    /// Makes the targeted sockets of every server leave `rooms` (`socketsLeave`).
    pub async fn sockets_leave(self, rooms: Vec<String>) -> Result<(), AdapterError> {
        if self.opts.local {
            self.ns.del_sockets(&self.opts, &rooms);
            return Ok(());
        }
        self.adapter()?.del_sockets(self.opts, rooms).await
    }

    /// Disconnects the targeted sockets of every server (`disconnectSockets`).
    pub async fn disconnect_sockets(self, close: bool) -> Result<(), AdapterError> {
        if self.opts.local {
            self.ns.disconnect_sockets(&self.opts, close);
            return Ok(());
        }
        self.adapter()?.disconnect_sockets(self.opts, close).await
    }
}
