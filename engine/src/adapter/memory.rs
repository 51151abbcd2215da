//! The adapter of a server without a cluster: every operation is local.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use rmpv::Value;

use super::recovery::RecoveryStore;
use super::{
    AckResponses, Adapter, AdapterError, AdapterFactory, BroadcastOptions, LocalNamespace,
    PersistedSession, RestoredSession, SocketDescription,
};
use crate::sio::packet::Packet;

/// One server's adapter.
pub struct MemoryAdapter {
    local: LocalNamespace,
    recovery: Option<RecoveryStore>,
}

/// Creates [`MemoryAdapter`]s.
pub struct MemoryAdapterFactory;

impl AdapterFactory for MemoryAdapterFactory {
    fn create(&self, namespace: LocalNamespace) -> Arc<dyn Adapter> {
        let recovery = namespace
            .get()
            .and_then(|ns| ns.recovery().cloned())
            .map(RecoveryStore::new);
        Arc::new(MemoryAdapter {
            local: namespace,
            recovery,
        })
    }
}

impl Adapter for MemoryAdapter {
    fn broadcast(
        &self,
        mut packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        if let Some(store) = &self.recovery {
            store.on_broadcast(&mut packet, &opts);
        }
        if let Some(ns) = self.local.get() {
            ns.deliver(&packet, &opts);
        }
        async { Ok(()) }.boxed()
    }

    fn broadcast_with_ack(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<AckResponses, AdapterError>> {
        async move {
            let Some(ns) = self.local.get() else {
                return Ok(AckResponses::default());
            };
            let timeout = opts.timeout.unwrap_or(Duration::from_secs(5));
            let pending = ns.deliver_with_ack(packet, &opts);
            let expected = pending.expected();
            Ok(pending.collect(timeout, expected).await)
        }
        .boxed()
    }

    fn add_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        if let Some(ns) = self.local.get() {
            ns.add_sockets(&opts, &rooms);
        }
        async { Ok(()) }.boxed()
    }

    fn del_sockets(
        &self,
        opts: BroadcastOptions,
        rooms: Vec<String>,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        if let Some(ns) = self.local.get() {
            ns.del_sockets(&opts, &rooms);
        }
        async { Ok(()) }.boxed()
    }

    fn disconnect_sockets(
        &self,
        opts: BroadcastOptions,
        close: bool,
    ) -> BoxFuture<'_, Result<(), AdapterError>> {
        if let Some(ns) = self.local.get() {
            ns.disconnect_sockets(&opts, close);
        }
        async { Ok(()) }.boxed()
    }

    fn fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketDescription>, AdapterError>> {
        let sockets = self
            .local
            .get()
            .map(|ns| ns.describe_sockets(&opts))
            .unwrap_or_default();
        async { Ok(sockets) }.boxed()
    }

    fn server_side_emit(&self, _data: Vec<Value>) -> BoxFuture<'_, Result<(), AdapterError>> {
        // No other server.
        async { Ok(()) }.boxed()
    }

    fn server_side_emit_with_ack(
        &self,
        _data: Vec<Value>,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Value>, AdapterError>> {
        async { Ok(Vec::new()) }.boxed()
    }

    fn server_count(&self) -> BoxFuture<'_, Result<usize, AdapterError>> {
        async { Ok(1) }.boxed()
    }

    fn persist_session(&self, session: PersistedSession) -> BoxFuture<'_, ()> {
        if let Some(store) = &self.recovery {
            store.persist(session);
        }
        async {}.boxed()
    }

    fn restore_session(
        &self,
        pid: String,
        offset: Option<String>,
    ) -> BoxFuture<'_, Result<Option<RestoredSession>, AdapterError>> {
        let restored = self
            .recovery
            .as_ref()
            .and_then(|store| store.restore(&pid, offset.as_deref()));
        async { Ok(restored) }.boxed()
    }

    fn latest_offset(&self) -> BoxFuture<'_, Option<String>> {
        let latest = self
            .recovery
            .as_ref()
            .and_then(RecoveryStore::latest_offset);
        async { latest }.boxed()
    }
}
