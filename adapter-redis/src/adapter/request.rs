//! Requests that wait for one answer per other server, within a timeout: fetching sockets, server-side emits
//! with acknowledgements, and the server count they rely on. A request that does not get every answer in time
//! is an error, never a silently partial result.

use std::sync::atomic::Ordering;
use std::time::Duration;

use engine::adapter::{AdapterError, BroadcastOptions, SocketDescription};
use rmpv::Value;

use super::RedisAdapter;
use super::convert::{request_opts_to_wire, socket_from_wire};
use super::outbound::unavailable;
use crate::connection::{Connection, ConnectionError};
use crate::protocol::{Op, Reply, RequestKind};

impl RedisAdapter {
    /// Number of servers of the namespace, this one included (1 when alone).
    pub(super) async fn count_servers(&self) -> Result<usize, AdapterError> {
        let Some(conn) = self.connection() else {
            return Ok(1);
        };
        let (channel, sharded) = self.protocol.server_count_channel();
        let count = conn
            .subscriber_count(sharded, channel)
            .await
            .map_err(unavailable)?;
        Ok(usize::try_from(count.max(1)).unwrap_or(usize::MAX))
    }

    /// Number of other servers of the namespace.
    pub(super) async fn other_servers(&self, conn: &Connection) -> Result<usize, ConnectionError> {
        let (channel, sharded) = self.protocol.server_count_channel();
        let count = conn.subscriber_count(sharded, channel).await?;
        Ok(usize::try_from(count.saturating_sub(1)).unwrap_or(usize::MAX))
    }

    /// Node's `fetchSockets()`: the local sockets, then those of every other server.
    pub(super) async fn fetch_everywhere(
        &self,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketDescription>, AdapterError> {
        let mut sockets = self
            .local
            .get()
            .map(|ns| ns.describe_sockets(&opts))
            .unwrap_or_default();
        if !self.is_remote(&opts) {
            return Ok(sockets);
        }
        let wopts = request_opts_to_wire(&opts);
        let answers = self
            .request(
                RequestKind::Fetch,
                self.shared.config.request_timeout,
                |request_id| Op::Fetch {
                    request_id,
                    opts: wopts,
                },
            )
            .await?;
        for answer in answers {
            if let Reply::Fetch {
                sockets: remote, ..
            } = answer
            {
                sockets.extend(remote.into_iter().map(socket_from_wire));
            }
        }
        Ok(sockets)
    }

    /// Node's `serverSideEmitWithAck`: one answer per other server (`undefined` answers are `nil`).
    pub(super) async fn emit_to_servers_with_ack(
        &self,
        data: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AdapterError> {
        if self.connection().is_none() {
            return Ok(Vec::new());
        }
        let answers = self
            .request(RequestKind::ServerSideEmit, timeout, |request_id| {
                Op::ServerSideEmit {
                    request_id: Some(request_id),
                    data,
                }
            })
            .await?;
        Ok(answers
            .into_iter()
            .filter_map(|a| match a {
                Reply::ServerSideEmit { data, .. } => Some(data.unwrap_or(Value::Nil)),
                _ => None,
            })
            .collect())
    }

    /// Sends a request and collects one answer per other server within `timeout`.
    async fn request(
        &self,
        kind: RequestKind,
        timeout: Duration,
        op: impl FnOnce(String) -> Op,
    ) -> Result<Vec<Reply>, AdapterError> {
        let Some(conn) = self.connection() else {
            return Ok(Vec::new());
        };
        if !conn.is_connected() {
            return Err(unavailable(ConnectionError::Down));
        }
        // A server restarted behind a proxy takes clients before its subscriptions are confirmed;
        // a request sent then would wait the whole timeout for answers it cannot receive.
        if !self.subscribed.load(Ordering::Acquire) {
            return Err(unavailable(ConnectionError::NotSubscribed));
        }
        let expected = match self.other_servers(&conn).await.map_err(unavailable)? {
            0 => return Ok(Vec::new()),
            n => n,
        };
        let request_id = engine::Sid::new().to_string();
        let pending = self.requests.register(request_id.clone(), kind);
        let out = self.protocol.encode_op(op(request_id));
        conn.publish(out.sharded, &out.channel, out.payload)
            .await
            .map_err(unavailable)?;
        pending.collect(expected, timeout).await.map_err(|t| {
            self.shared.metrics.request_timeouts.inc();
            tracing::debug!(
                received = t.partial.len(),
                expected = t.expected,
                "cluster request timed out"
            );
            AdapterError::Timeout
        })
    }
}
