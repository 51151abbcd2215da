//! Acknowledgements: the server's acks to a client's events, and the server's waits for the client's acks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rmpv::Value;
use tokio::sync::{mpsc, oneshot};

use super::packet::{Packet, PacketKind};
use super::socket::Socket;
use crate::adapter::AckResponses;

/// Answers one event of a client that asked for an acknowledgement.
pub struct AckSender {
    pub(crate) socket: Arc<Socket>,
    pub(crate) id: u64,
}

impl AckSender {
    /// Sends the acknowledgement with `args`.
    pub fn send(self, args: Vec<Value>) -> Result<(), crate::eio::session::SendError> {
        let packet = Packet {
            kind: PacketKind::Ack,
            nsp: self.socket.ns.name().to_owned(),
            id: Some(self.id),
            data: Some(Value::Array(args)),
        };
        self.socket.send_packet(&packet, false)
    }
}

/// Where a client's acknowledgement goes.
pub(crate) enum AckSlot {
    /// `socket.emitWithAck`: all the arguments.
    Single(oneshot::Sender<Vec<Value>>),
    /// A broadcast with acks: the first argument, to the collector.
    Broadcast(mpsc::UnboundedSender<Value>),
}

/// The acknowledgements a socket waits for (allocated on first use).
#[derive(Default)]
pub(crate) struct PendingAcks(Mutex<HashMap<u64, AckSlot>>);

impl PendingAcks {
    pub fn insert(&self, id: u64, slot: AckSlot) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, slot);
    }

    pub fn remove(&self, id: u64) -> Option<AckSlot> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
    }

    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = HashMap::new();
    }
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Not within the timeout.
    #[error("acknowledgement timed out")]
    Timeout,
    /// The socket disconnected first, or the packet could not be queued.
    #[error("socket disconnected")]
    Disconnected,
}

/// Waits for one acknowledgement; the slot is removed on timeout.
pub(crate) async fn wait_single(
    socket: &Arc<Socket>,
    id: u64,
    rx: oneshot::Receiver<Vec<Value>>,
    timeout: Duration,
) -> Result<Vec<Value>, AckError> {
    match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(args)) => Ok(args),
        Ok(Err(_)) => Err(AckError::Disconnected),
        Err(_) => {
            socket.acks.remove(id);
            Err(AckError::Timeout)
        }
    }
}

/// The acknowledgements of a local broadcast, being collected.
pub struct PendingBroadcastAcks {
    pub(crate) id: u64,
    pub(crate) targets: Vec<Weak<Socket>>,
    pub(crate) rx: mpsc::UnboundedReceiver<Value>,
}

impl PendingBroadcastAcks {
    /// How many clients were sent the packet.
    pub fn expected(&self) -> usize {
        self.targets.len()
    }

    /// The next acknowledgement as it arrives; `None` once no target can answer any more (each answered,
    /// disconnected or was dropped). For adapters that relay acknowledgements one by one or merge them with
    /// other servers' answers; wrap it in a timeout.
    pub async fn recv(&mut self) -> Option<Value> {
        self.rx.recv().await
    }

    /// Collects until `expected` responses arrived or `timeout` passed.
    pub async fn collect(mut self, timeout: Duration, expected: usize) -> AckResponses {
        let mut responses = Vec::with_capacity(expected.min(1024));
        let deadline = tokio::time::Instant::now() + timeout;
        while responses.len() < expected {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) => responses.push(v),
                Ok(None) | Err(_) => break,
            }
        }
        let complete = responses.len() >= expected;
        AckResponses {
            responses,
            complete,
        }
    }
}

impl Drop for PendingBroadcastAcks {
    fn drop(&mut self) {
        for t in &self.targets {
            if let Some(s) = t.upgrade() {
                s.acks.remove(self.id);
            }
        }
    }
}
