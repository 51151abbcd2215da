//! The session writes of one namespace (streams mode with connection state recovery): an ordered, coalescing,
//! non-blocking queue.
//!
//! Why: Node's streams adapter keeps a session only when its socket disconnects, so the clients of a server that
//! crashes (or is killed) cannot recover anywhere. Here a connected socket's session is in Redis too, under Node's
//! key and in Node's format (so a Node server restores it as well), marked `live` with this server's uid, and kept
//! current: written when the socket connects, joins or leaves a room or gets new `data`, and rewritten every
//! [`Settings::refresh`] so that it does not expire while the socket stays connected. A recoverable disconnect
//! writes the final session (not live, kept for `maxDisconnectionDuration`, as Node does); any other disconnect
//! deletes it.
//!
//! The socket's handlers only queue a job and never wait for Redis. One task runs the jobs in order, pipelined in
//! batches on the shared connection (Redis applies them in order), so a socket's final write or delete always
//! lands after its live writes. A live write names only the socket and reads its state when it runs: a socket
//! already queued is not queued again (changes in quick succession cost one write), and a socket gone by then
//! costs none. [`SessionQueue::flush`] waits until what was queued before it is written (the drain).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::Sid;
use engine::adapter::PersistedSession;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::wire::SessionRecord;

/// Jobs queued beyond this are dropped (a Redis that cannot keep up); a dropped live write is made good by the
/// next refresh.
const QUEUE: usize = 65_536;

/// Most writes pipelined in one batch.
const BATCH: usize = 256;

/// Bounds of the refresh interval (a quarter of `maxDisconnectionDuration`).
const MIN_REFRESH: Duration = Duration::from_millis(100);
const MAX_REFRESH: Duration = Duration::from_secs(30);

/// One Redis write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// `SET <key> <value> PX <ttl>`.
    Set {
        key: String,
        value: String,
        ttl: Duration,
    },
    /// `DEL <key>`.
    Del { key: String },
}

/// Where the queue reads the local sockets' sessions and writes them: the namespace and Redis, or a test's fake.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The current session of local socket `sid`; `None` once it is gone.
    fn session(&self, sid: &Sid) -> Option<PersistedSession>;
    /// Every local socket (the refresh).
    fn sockets(&self) -> Vec<Sid>;
    /// Applies `writes` in order; resolves once Redis answered each, with the first failure.
    fn write(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), String>>;
}

/// What the writes look like.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The session key prefix (Node's `sessionKeyPrefix`).
    pub prefix: String,
    /// This server's uid, the `live` mark of its connected sockets' sessions.
    pub uid: String,
    /// `maxDisconnectionDuration`: how long a disconnected socket's session is kept.
    pub keep: Duration,
}

impl Settings {
    /// How often the live sessions are rewritten: a quarter of `keep` (within 100 ms..30 s).
    pub fn refresh(&self) -> Duration {
        (self.keep / 4).clamp(MIN_REFRESH, MAX_REFRESH)
    }

    /// How long a live session lives without a refresh: `keep` plus the refresh interval, so that after a crash
    /// the session stays recoverable for at least `keep` (and at most `keep` plus the interval).
    pub fn live_ttl(&self) -> Duration {
        self.keep + self.refresh()
    }

    fn set(&self, session: PersistedSession, live: bool) -> Write {
        let key = SessionRecord::key(&self.prefix, &session.pid);
        let record = SessionRecord {
            sid: session.sid,
            pid: session.pid,
            rooms: session.rooms,
            data: session.data,
            connected_offset: session.connected_offset,
            live: live.then(|| self.uid.clone()),
        };
        Write::Set {
            key,
            value: record.encode(),
            ttl: if live { self.live_ttl() } else { self.keep },
        }
    }
}

enum Job {
    /// Write socket `sid`'s session as it is when the job runs.
    Live(Sid),
    /// The socket disconnected in a recoverable way: its final session.
    Keep(PersistedSession),
    /// The socket left for good: its session goes.
    Forget(String),
    /// Answered once every job queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The sending side of the queue.
pub(crate) struct SessionQueue {
    tx: mpsc::Sender<Job>,
    /// Sockets with a live write queued and not yet read.
    queued: Arc<Mutex<HashSet<Sid>>>,
}

impl SessionQueue {
    /// Starts the queue's task; it ends when the queue is dropped.
    pub fn start(backend: impl Backend, settings: Settings) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let queued = Arc::new(Mutex::new(HashSet::new()));
        tokio::spawn(run(backend, settings, queued.clone(), rx));
        Self { tx, queued }
    }

    fn queued(&self) -> std::sync::MutexGuard<'_, HashSet<Sid>> {
        self.queued.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Socket `sid`'s state changed: its live session is written (once for changes until the write reads it).
    pub fn changed(&self, sid: Sid) {
        let mut queued = self.queued();
        if !queued.insert(sid) {
            return;
        }
        if self.tx.try_send(Job::Live(sid)).is_err() {
            queued.remove(&sid);
            tracing::debug!("session queue full; live session written at the next refresh");
        }
    }

    /// The socket disconnected in a recoverable way: its final session is written, kept for `keep`.
    pub fn keep(&self, session: PersistedSession) {
        let sid = session.sid.clone();
        self.finish(&sid, Job::Keep(session));
    }

    /// The socket left for good: its session is deleted.
    pub fn forget(&self, sid: &str, pid: &str) {
        self.finish(sid, Job::Forget(pid.to_owned()));
    }

    fn finish(&self, sid: &str, job: Job) {
        // A socket that comes back with this id later (a recovery here) gets a live write after this job, not
        // merged into one queued before it.
        if let Some(sid) = Sid::parse(sid) {
            self.queued().remove(&sid);
        }
        if self.tx.try_send(job).is_err() {
            tracing::warn!("session queue full; a disconnected socket's session was not written");
        }
    }

    /// Waits until every job queued before is written (or failed); `false` when `timeout` passed first.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = oneshot::channel();
        let flushed = async { self.tx.send(Job::Flush(done)).await.is_ok() && wait.await.is_ok() };
        tokio::time::timeout(timeout, flushed)
            .await
            .unwrap_or(false)
    }
}

async fn run(
    backend: impl Backend,
    settings: Settings,
    queued: Arc<Mutex<HashSet<Sid>>>,
    mut rx: mpsc::Receiver<Job>,
) {
    let refresh_every = settings.refresh();
    let mut refresh = tokio::time::interval_at(Instant::now() + refresh_every, refresh_every);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    let mut jobs = Vec::with_capacity(BATCH);
    let queue = Jobs {
        backend: &backend,
        settings: &settings,
        queued: &queued,
    };
    loop {
        tokio::select! {
            n = rx.recv_many(&mut jobs, BATCH) => {
                if n == 0 {
                    return;
                }
                queue.run(&mut jobs, &mut failing).await;
            }
            _ = refresh.tick() => {
                for sids in backend.sockets().chunks(BATCH) {
                    let writes = sids
                        .iter()
                        .filter_map(|sid| backend.session(sid))
                        .map(|session| settings.set(session, true))
                        .collect();
                    apply(&backend, writes, &mut failing).await;
                    // Jobs queued meanwhile go in between: a restore waiting for a flush does not wait for a
                    // whole refresh (the order of a socket's own jobs is kept, and a refresh write reads the
                    // socket as it is then).
                    while jobs.len() < BATCH
                        && let Ok(job) = rx.try_recv()
                    {
                        jobs.push(job);
                    }
                    queue.run(&mut jobs, &mut failing).await;
                }
            }
        }
    }
}

/// Runs queued jobs.
struct Jobs<'a, B> {
    backend: &'a B,
    settings: &'a Settings,
    queued: &'a Mutex<HashSet<Sid>>,
}

impl<B: Backend> Jobs<'_, B> {
    /// Writes what `jobs` ask, in order, then answers their flushes; leaves `jobs` empty.
    async fn run(&self, jobs: &mut Vec<Job>, failing: &mut bool) {
        let mut writes = Vec::with_capacity(jobs.len());
        let mut flushed = Vec::new();
        for job in jobs.drain(..) {
            match job {
                Job::Live(sid) => {
                    // Unmarked before the read: a change after it queues a new write.
                    self.queued
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&sid);
                    if let Some(session) = self.backend.session(&sid) {
                        writes.push(self.settings.set(session, true));
                    }
                }
                Job::Keep(session) => writes.push(self.settings.set(session, false)),
                Job::Forget(pid) => writes.push(Write::Del {
                    key: SessionRecord::key(&self.settings.prefix, &pid),
                }),
                Job::Flush(done) => flushed.push(done),
            }
        }
        apply(self.backend, writes, failing).await;
        for done in flushed {
            let _ = done.send(());
        }
    }
}

async fn apply(backend: &impl Backend, writes: Vec<Write>, failing: &mut bool) {
    if writes.is_empty() {
        return;
    }
    match backend.write(writes).await {
        Ok(()) if *failing => {
            *failing = false;
            tracing::info!("session writes to redis work again");
        }
        Ok(()) => {}
        Err(err) if !*failing => {
            *failing = true;
            tracing::warn!(%err, "session write to redis failed; sessions are rewritten at the next refresh (logged once until writes work again)");
        }
        Err(err) => tracing::debug!(%err, "session write to redis failed"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use futures_util::FutureExt;
    use rmpv::Value;

    use super::*;

    /// Sockets in a map, writes recorded; a write can be held until the test releases it.
    #[derive(Clone)]
    struct Fake {
        sockets: Arc<Mutex<HashMap<Sid, PersistedSession>>>,
        writes: Arc<Mutex<Vec<Write>>>,
        gate: Arc<tokio::sync::Semaphore>,
    }

    impl Fake {
        /// Writes wait until the test adds permits to `gate`.
        fn held() -> Self {
            Self {
                sockets: Arc::default(),
                writes: Arc::default(),
                gate: Arc::new(tokio::sync::Semaphore::new(0)),
            }
        }

        fn open() -> Self {
            let fake = Self::held();
            fake.gate.add_permits(1_000_000);
            fake
        }

        fn connect(&self, sid: Sid, rooms: &[&str]) {
            let mut all = vec![sid.to_string()];
            all.extend(rooms.iter().map(|r| r.to_string()));
            self.sockets.lock().unwrap().insert(
                sid,
                PersistedSession {
                    sid: sid.to_string(),
                    pid: format!("pid-{sid}"),
                    rooms: all,
                    data: Value::Nil,
                    connected_offset: None,
                },
            );
        }

        fn leave(&self, sid: &Sid) -> PersistedSession {
            self.sockets.lock().unwrap().remove(sid).unwrap()
        }

        /// The writes so far, as (key, live rooms or "DEL"/"KEEP").
        fn log(&self) -> Vec<(String, String)> {
            self.writes
                .lock()
                .unwrap()
                .iter()
                .map(|w| match w {
                    Write::Set { key, value, .. } => {
                        let r = SessionRecord::decode(value.as_bytes()).unwrap();
                        let what = match r.live {
                            Some(_) => r.rooms[1..].join(","),
                            None => "KEEP".into(),
                        };
                        (key.clone(), what)
                    }
                    Write::Del { key } => (key.clone(), "DEL".into()),
                })
                .collect()
        }
    }

    impl Backend for Fake {
        fn session(&self, sid: &Sid) -> Option<PersistedSession> {
            self.sockets.lock().unwrap().get(sid).cloned()
        }

        fn sockets(&self) -> Vec<Sid> {
            self.sockets.lock().unwrap().keys().copied().collect()
        }

        fn write(&self, writes: Vec<Write>) -> BoxFuture<'_, Result<(), String>> {
            async move {
                let _permit = self.gate.acquire().await.unwrap();
                self.writes.lock().unwrap().extend(writes);
                Ok(())
            }
            .boxed()
        }
    }

    fn settings(keep: Duration) -> Settings {
        Settings {
            prefix: "sio:session:".into(),
            uid: "me".into(),
            keep,
        }
    }

    fn key(sid: &Sid) -> String {
        format!("sio:session:pid-{sid}")
    }

    const LONG: Duration = Duration::from_secs(3600);

    /// Until the queue's task has read every queued live write.
    async fn taken(q: &SessionQueue) {
        while !q.queued().is_empty() {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn changes_in_quick_succession_cost_one_write_of_the_latest_state() {
        let fake = Fake::held();
        let q = SessionQueue::start(fake.clone(), settings(LONG));
        let (a, b) = (Sid::new(), Sid::new());
        fake.connect(a, &["r1"]);
        q.changed(a);
        // The first write is taken and held; these changes queue one more write of `a` and one of `b`.
        taken(&q).await;
        for rooms in [&["r1", "r2"][..], &["r1", "r2", "r3"]] {
            fake.connect(a, rooms);
            q.changed(a);
        }
        fake.connect(b, &[]);
        q.changed(b);
        q.changed(b);
        fake.gate.add_permits(1_000);
        assert!(q.flush(Duration::from_secs(5)).await);
        assert_eq!(
            fake.log(),
            [
                (key(&a), "r1".into()),
                (key(&a), "r1,r2,r3".into()),
                (key(&b), "".into()),
            ]
        );
    }

    #[tokio::test]
    async fn a_final_write_or_delete_comes_after_the_live_writes_and_a_gone_socket_costs_nothing() {
        let fake = Fake::open();
        let q = SessionQueue::start(fake.clone(), settings(LONG));
        let (a, b) = (Sid::new(), Sid::new());
        fake.connect(a, &["r"]);
        fake.connect(b, &["s"]);
        q.changed(a);
        q.changed(b);
        // `a` disconnects in a recoverable way, `b` for good, before their live writes ran.
        let kept = fake.leave(&a);
        q.keep(kept);
        let gone = fake.leave(&b);
        q.forget(&gone.sid, &gone.pid);
        assert!(q.flush(Duration::from_secs(5)).await);
        assert_eq!(
            fake.log(),
            [(key(&a), "KEEP".into()), (key(&b), "DEL".into())]
        );
        let Write::Set { ttl, .. } = &fake.writes.lock().unwrap()[0] else {
            panic!("a SET first");
        };
        assert_eq!(
            *ttl, LONG,
            "a disconnected socket's session is kept for the maximum"
        );
    }

    #[tokio::test]
    async fn a_socket_back_after_its_final_write_is_written_again_after_it() {
        let fake = Fake::held();
        let q = SessionQueue::start(fake.clone(), settings(LONG));
        let a = Sid::new();
        fake.connect(a, &["r"]);
        q.changed(a);
        taken(&q).await; // the first write is held
        fake.connect(a, &["r", "x"]);
        q.changed(a); // queued, not read yet
        q.keep(fake.leave(&a));
        fake.connect(a, &["r"]); // recovered here
        q.changed(a);
        fake.gate.add_permits(1_000);
        assert!(q.flush(Duration::from_secs(5)).await);
        let log = fake.log();
        assert_eq!(log.last(), Some(&(key(&a), "r".into())), "{log:?}");
        assert!(log.iter().any(|(_, w)| w == "KEEP"), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn live_sessions_are_rewritten_before_they_expire() {
        let fake = Fake::open();
        let keep = Duration::from_secs(8);
        let s = settings(keep);
        assert_eq!(s.refresh(), Duration::from_secs(2));
        assert_eq!(s.live_ttl(), Duration::from_secs(10));
        let q = SessionQueue::start(fake.clone(), s);
        let a = Sid::new();
        fake.connect(a, &["r"]);
        q.changed(a);
        assert!(q.flush(Duration::from_secs(1)).await);
        assert_eq!(fake.log().len(), 1);
        tokio::time::sleep(Duration::from_millis(4_100)).await;
        assert_eq!(fake.log().len(), 3, "rewritten every 2 s");
        let Write::Set { ttl, .. } = fake.writes.lock().unwrap()[2].clone() else {
            panic!("a SET");
        };
        assert_eq!(ttl, Duration::from_secs(10));
        fake.leave(&a);
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(fake.log().len(), 3, "nothing for a socket that is gone");
    }

    #[tokio::test(start_paused = true)]
    async fn flush_is_bounded() {
        let fake = Fake::held(); // writes never complete
        let q = SessionQueue::start(fake.clone(), settings(LONG));
        let a = Sid::new();
        fake.connect(a, &[]);
        q.changed(a);
        assert!(!q.flush(Duration::from_millis(500)).await);
    }
}
