//! Tracking of cluster requests: ids, the answers expected, and timeouts.
//!
//! A requester registers a request id and gets a [`Pending`] handle; the message loop hands
//! every response to [`Requests::deliver`]; the handle collects answers until enough arrived or
//! the timeout elapsed. A timeout is an error that carries the partial answers, never a silent
//! partial success.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// A request that did not get every expected answer in time.
#[derive(Debug, thiserror::Error)]
#[error("timeout reached: only {} responses received out of {expected}", .partial.len())]
pub struct RequestTimeout<R: std::fmt::Debug> {
    /// The answers that did arrive.
    pub partial: Vec<R>,
    /// How many were expected.
    pub expected: usize,
}

type Table<R, K> = HashMap<String, (K, mpsc::UnboundedSender<R>)>;

/// The table of requests in flight, keyed by request id; `K` is the kind of each request
/// (what its answers look like).
pub struct Requests<R, K = ()> {
    pending: Mutex<Table<R, K>>,
}

impl<R, K> Default for Requests<R, K> {
    fn default() -> Self {
        Self {
            pending: Mutex::new(HashMap::new()),
        }
    }
}

impl<R: Send + std::fmt::Debug + 'static, K: Copy + Send + 'static> Requests<R, K> {
    /// Registers `id` of kind `kind`; answers are kept until the returned handle is dropped.
    pub fn register(self: &Arc<Self>, id: String, kind: K) -> Pending<R, K> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(id.clone(), (kind, tx));
        Pending {
            id,
            rx,
            requests: self.clone(),
        }
    }

    /// Hands `answer` to the request `id`; false when no such request waits (late or foreign).
    pub fn deliver(&self, id: &str, answer: R) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|(_, tx)| tx.send(answer).is_ok())
    }

    /// The kind of request `id`, if it is one of this server's requests in flight.
    pub fn kind_of(&self, id: &str) -> Option<K> {
        self.lock().get(id).map(|(kind, _)| *kind)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table<R, K>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One request in flight.
pub struct Pending<R, K = ()> {
    id: String,
    rx: mpsc::UnboundedReceiver<R>,
    requests: Arc<Requests<R, K>>,
}

impl<R: std::fmt::Debug, K> Pending<R, K> {
    /// Waits for `expected` answers for at most `timeout`.
    pub async fn collect(
        mut self,
        expected: usize,
        timeout: Duration,
    ) -> Result<Vec<R>, RequestTimeout<R>> {
        let deadline = Instant::now() + timeout;
        let mut answers = Vec::with_capacity(expected);
        while answers.len() < expected {
            match self.next_before(deadline).await {
                Some(answer) => answers.push(answer),
                None => {
                    return Err(RequestTimeout {
                        partial: answers,
                        expected,
                    });
                }
            }
        }
        Ok(answers)
    }

    /// The next answer, or `None` once `deadline` passed.
    pub async fn next_before(&mut self, deadline: Instant) -> Option<R> {
        tokio::time::timeout_at(deadline, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

impl<R, K> Drop for Pending<R, K> {
    fn drop(&mut self) {
        self.requests
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collects_expected_answers() {
        let requests = Arc::new(Requests::<u32>::default());
        let pending = requests.register("r1".into(), ());
        assert!(requests.deliver("r1", 1));
        assert!(requests.deliver("r1", 2));
        assert!(!requests.deliver("other", 3));
        assert_eq!(
            pending.collect(2, Duration::from_secs(1)).await.unwrap(),
            vec![1, 2]
        );
        assert!(
            requests.kind_of("r1").is_none(),
            "dropped handles unregister"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_reports_partial_answers() {
        let requests = Arc::new(Requests::<u32>::default());
        let pending = requests.register("r1".into(), ());
        requests.deliver("r1", 7);
        let err = pending
            .collect(3, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert_eq!((err.partial, err.expected), (vec![7], 3));
        assert_eq!(
            RequestTimeout {
                partial: vec![1u8],
                expected: 2
            }
            .to_string(),
            "timeout reached: only 1 responses received out of 2"
        );
    }
}
