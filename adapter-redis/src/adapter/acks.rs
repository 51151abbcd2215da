//! Broadcasts with acknowledgements, both sides of Node's protocol: the requester delivers locally, asks the
//! other servers, and merges one response per client (the first argument of its ack) from everywhere; each
//! other server answers with how many of its clients will respond, then relays each response as it arrives.

use std::time::Duration;

use engine::adapter::{AckResponses, AdapterError, BroadcastOptions};
use engine::sio::packet::Packet;
use rmpv::Value;
use tokio::time::Instant;

use super::convert::broadcast_opts_to_wire;
use super::{DEFAULT_ACK_TIMEOUT, RedisAdapter};
use crate::protocol::{Op, Reply, RequestKind};
use crate::wire;

/// What the other servers announced and sent so far.
#[derive(Default)]
struct Remote {
    servers: usize,
    expected_acks: u64,
    acks: u64,
}

impl RedisAdapter {
    pub(super) async fn broadcast_collecting_acks(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> Result<AckResponses, AdapterError> {
        let Some(ns) = self.local.get() else {
            return Ok(AckResponses::default());
        };
        let timeout = opts.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        let deadline = Instant::now() + timeout;
        let wire_packet = wire::Packet::try_from(&packet).ok();
        let mut local = ns.deliver_with_ack(packet, &opts);
        let local_expected = local.expected();
        let mut responses = Vec::with_capacity(local_expected.min(1024));

        // Ask the other servers, when there are any to ask.
        let mut expected_servers = 0;
        let mut pending = None;
        if self.is_remote(&opts)
            && let Some(wire_packet) = wire_packet
        {
            match self.connected() {
                None => {
                    self.shared.metrics.publish_errors.inc();
                    tracing::debug!(
                        "broadcast with ack: redis unavailable; local acknowledgements only"
                    );
                }
                Some(conn) => {
                    expected_servers = self.other_servers(&conn).await.unwrap_or(0);
                    let request_id = engine::Sid::new().to_string();
                    pending = Some(
                        self.requests
                            .register(request_id.clone(), RequestKind::Broadcast),
                    );
                    let mut wopts = broadcast_opts_to_wire(&opts);
                    let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                    wopts.flags = Some(wopts.flags().with_timeout(millis));
                    self.publish(Op::Broadcast {
                        data: wire_packet.data,
                        opts: wopts,
                        request_id: Some(request_id),
                    });
                }
            }
        }

        let mut remote = Remote::default();
        let mut local_open = true;
        let mut local_got = 0;
        loop {
            let local_done = !local_open || local_got >= local_expected;
            let remote_done = pending.is_none()
                || (remote.servers >= expected_servers && remote.acks >= remote.expected_acks);
            if local_done && remote_done {
                break;
            }
            tokio::select! {
                ack = local.recv(), if !local_done => match ack {
                    Some(v) => {
                        responses.push(v);
                        local_got += 1;
                    }
                    None => local_open = false,
                },
                reply = async {
                    match pending.as_mut() {
                        Some(p) => p.next_before(deadline).await,
                        None => None,
                    }
                }, if !remote_done => match reply {
                    Some(Reply::ClientCount { count, .. }) => {
                        remote.servers += 1;
                        remote.expected_acks += count;
                    }
                    Some(Reply::Ack { data, .. }) => {
                        remote.acks += 1;
                        let mut v = data.unwrap_or(Value::Nil);
                        engine::value::dates_to_iso_strings(&mut v);
                        responses.push(v);
                    }
                    Some(_) => {}
                    None => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        let remote_complete = pending.is_none()
            || (remote.servers >= expected_servers && remote.acks >= remote.expected_acks);
        if !remote_complete {
            self.shared.metrics.request_timeouts.inc();
        }
        Ok(AckResponses {
            responses,
            complete: local_got >= local_expected && remote_complete,
        })
    }

    /// Answers another server's broadcast with acknowledgements: delivers locally, tells `requester` how many
    /// clients will respond, then relays each response as it arrives, by a task of its own, so that a client
    /// that never answers holds up neither the others nor the message loop.
    pub(super) async fn answer_broadcast_with_ack(
        &self,
        requester: String,
        request_id: String,
        packet: Packet,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    ) {
        let Some(ns) = self.local.get() else {
            return;
        };
        let mut acks = ns.deliver_with_ack(packet, &opts);
        let count = acks.expected();
        self.reply(
            &requester,
            Reply::ClientCount {
                request_id: request_id.clone(),
                count: count as u64,
            },
        );
        let Some(conn) = self.connection().filter(|_| count > 0) else {
            return;
        };
        let protocol = self.protocol.clone();
        let deadline = Instant::now() + timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        tokio::spawn(async move {
            while let Ok(Some(value)) = tokio::time::timeout_at(deadline, acks.recv()).await {
                let reply = Reply::Ack {
                    request_id: request_id.clone(),
                    data: Some(value),
                };
                let out = protocol.encode_reply(&requester, reply);
                let _ = conn.publish(out.sharded, &out.channel, out.payload).await;
            }
        });
    }
}
