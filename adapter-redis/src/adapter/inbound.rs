//! The message loop of one namespace: decodes what other servers and emitters publish, applies their
//! operations to the local sockets and answers their requests. A malformed message is counted by kind and
//! logged once per kind; it never stops the loop.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use engine::adapter::BroadcastOptions;
use engine::sio::packet::Packet;
use tokio::sync::broadcast::error::RecvError;

use super::RedisAdapter;
use super::convert::{opts_from_wire, single, socket_to_wire};
use crate::metrics::MalformedLabel;
use crate::protocol::{Incoming, LegacyAction, Op, Reply};
use crate::wire;

/// Subscribes to the namespace's channels (retrying until Redis confirms them all) and runs the message loop,
/// in the background; the loop ends when the adapter is dropped.
pub(super) fn start(adapter: &Arc<RedisAdapter>) {
    let Some(conn) = adapter.connection() else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("the Redis adapter needs a tokio runtime: namespace stays local");
        return;
    };
    // Subscribe to the receiver before subscribing to channels so nothing is missed.
    let messages = conn.messages();
    let subs = adapter.protocol.subscriptions();
    let weak = Arc::downgrade(adapter);
    runtime.spawn(async move {
        // Ready once Redis confirmed the namespace's subscriptions; until then the server is
        // not ready either (it would acknowledge messages no other node can get).
        loop {
            conn.connected().await;
            let patterns = subs.patterns.is_empty() || conn.psubscribe(subs.patterns.clone()).await;
            let channels = subs.channels.is_empty() || conn.subscribe(subs.channels.clone()).await;
            let shard = subs.shard_channels.is_empty()
                || conn.ssubscribe(subs.shard_channels.clone()).await;
            if patterns && channels && shard {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match weak.upgrade() {
            Some(this) => {
                this.subscribed.store(true, Ordering::Release);
                this.mark_ready_if_complete();
            }
            None => return,
        }
        receive(weak, messages).await;
    });
}

async fn receive(
    adapter: Weak<RedisAdapter>,
    mut messages: tokio::sync::broadcast::Receiver<fred::types::Message>,
) {
    loop {
        let message = match messages.recv().await {
            Ok(m) => m,
            Err(RecvError::Lagged(n)) => {
                if let Some(this) = adapter.upgrade() {
                    this.shared
                        .metrics
                        .malformed
                        .get_or_create(&MalformedLabel { kind: "lagged" })
                        .inc_by(n);
                    tracing::warn!(dropped = n, "adapter fell behind redis; messages dropped");
                }
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(this) = adapter.upgrade() else {
            return;
        };
        let Some(payload) = message.value.as_bytes() else {
            continue;
        };
        this.handle(&message.channel, payload).await;
    }
}

impl RedisAdapter {
    async fn handle(&self, channel: &str, payload: &[u8]) {
        self.shared.metrics.received.inc();
        let requests = self.requests.clone();
        let incoming = match self
            .protocol
            .decode(channel, payload, |id| requests.kind_of(id))
        {
            Ok(Some(incoming)) => incoming,
            Ok(None) => return,
            Err(err) => return self.malformed(self.protocol.channel_kind(channel), &err),
        };
        match incoming {
            Incoming::Reply(reply) => {
                let id = reply.request_id().to_owned();
                self.requests.deliver(&id, reply);
            }
            Incoming::Op { uid, op } => self.apply(uid.unwrap_or_default(), op).await,
            Incoming::Sockets {
                uid,
                request_id,
                rooms,
            } => {
                let opts = opts_from_wire(&wire::BroadcastOptions::new(rooms, vec![]));
                let mut sockets = Vec::new();
                if let Some(ns) = self.local.get() {
                    ns.for_each_target(&opts, |s| sockets.push(s.id.to_string()));
                }
                self.reply(
                    &uid,
                    Reply::Sockets {
                        request_id,
                        sockets,
                    },
                );
            }
            Incoming::Legacy {
                uid,
                request_id,
                sid,
                action,
            } => {
                // Only the socket's owner applies and answers.
                let Some(ns) = self.local.get().filter(|ns| ns.socket(&sid).is_some()) else {
                    return;
                };
                let target = single(&sid);
                match action {
                    LegacyAction::Join(room) => ns.add_sockets(&target, &[room]),
                    LegacyAction::Leave(room) => ns.del_sockets(&target, &[room]),
                    LegacyAction::Disconnect(close) => ns.disconnect_sockets(&target, close),
                }
                self.reply(&uid, Reply::Done { request_id });
            }
        }
    }

    pub(super) async fn apply(&self, uid: String, op: Op) {
        let Some(ns) = self.local.get() else {
            return;
        };
        match op {
            Op::Broadcast {
                data,
                opts,
                request_id,
            } => {
                let packet = match Packet::try_from(wire::Packet::event(self.nsp.clone(), data)) {
                    Ok(packet) => packet,
                    Err(err) => return self.malformed("broadcast", &err),
                };
                let timeout = opts.flags().timeout().map(Duration::from_millis);
                let local = opts_from_wire(&opts);
                match request_id {
                    None => self.deliver_locally(packet, &local),
                    Some(request_id) => {
                        self.answer_broadcast_with_ack(uid, request_id, packet, local, timeout)
                            .await
                    }
                }
            }
            Op::Join { opts, rooms } => ns.add_sockets(&opts_from_wire(&opts), &rooms),
            Op::Leave { opts, rooms } => ns.del_sockets(&opts_from_wire(&opts), &rooms),
            Op::Disconnect { opts, close } => ns.disconnect_sockets(&opts_from_wire(&opts), close),
            Op::Fetch { request_id, opts } => {
                let sockets = ns
                    .describe_sockets(&opts_from_wire(&opts))
                    .into_iter()
                    .map(socket_to_wire)
                    .collect();
                self.reply(
                    &uid,
                    Reply::Fetch {
                        request_id,
                        sockets,
                    },
                );
            }
            Op::AllRooms { request_id } => {
                // Node's room map holds every socket's own-id room too.
                let mut rooms = ns.local_rooms();
                ns.for_each_target(&BroadcastOptions::default(), |s| {
                    rooms.push(s.id.to_string())
                });
                self.reply(&uid, Reply::AllRooms { request_id, rooms });
            }
            Op::ServerSideEmit { request_id, data } => {
                let Some(handler) = self.shared.server_side_handler() else {
                    return;
                };
                let ack = handler(data);
                if let Some(request_id) = request_id {
                    self.reply(
                        &uid,
                        Reply::ServerSideEmit {
                            request_id,
                            data: ack,
                        },
                    );
                }
            }
        }
    }

    pub(super) fn malformed(&self, kind: &'static str, err: &dyn std::fmt::Display) {
        self.shared
            .metrics
            .malformed
            .get_or_create(&MalformedLabel { kind })
            .inc();
        if self.log_once(kind) {
            tracing::warn!(%err, "malformed {kind} message dropped (logged once per kind)");
        } else {
            tracing::debug!(%err, "malformed {kind} message dropped");
        }
    }
}
