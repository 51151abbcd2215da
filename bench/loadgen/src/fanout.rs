//! The fan-out workload: rooms of receivers, messages sent open-loop at a swept rate, every
//! delivery timed from its scheduled send time and checked off by sequence number.
//!
//! Layouts:
//! - `big`: one room of `receivers` members on the last target, the publisher on the first;
//! - `split`: the same room spread over the targets (round robin), the publisher on the first;
//! - `chat`: `receivers` clients in rooms of `room_size`, members spread over the targets round
//!   robin, each member also a sender (messages rotate over rooms and members).
//!
//! Each message's `data` is `{"_k":step,"_s":room seq,"_t":scheduled µs,"_o":origin target,
//! "p":padding}`; the scheduled time is on this process's monotonic clock, so latency is measured
//! from when the message should have been sent (open loop: a late send counts against the
//! system, and the send lag is reported to check the generator itself).
//!
//! The sweep runs a warm-up, then rates `start, start*factor, ...` while the system keeps up (no
//! loss, backlog cleared within the drain time), then `refine` bisection steps between the last
//! rate that met the latency limit and the first that did not; optionally one more step at a
//! fraction of that capacity. One JSON line `{"event":"result", ...}` on stdout at the end.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use memchr::memmem::Finder;
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::LocalSet;

use crate::common::{Errors, emit, instant_of, note, now_us, src_ip};
use crate::eio::{Client, Mode, Packet, Target, classify, json_str};
use crate::hist::{Lat, LatSummary};
use crate::procfs::{self, CoreTimes, RedisSnap};
use crate::ws::opcode;

/// Room layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// One room on the last target, publisher on the first.
    Big,
    /// One room spread over the targets, publisher on the first.
    Split,
    /// Many small rooms spread over the targets, every member a sender.
    Chat,
}

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct FanoutArgs {
    /// Servers (replica 1 first).
    pub targets: Vec<Target>,
    /// Room layout.
    pub layout: Layout,
    /// Room members (`big`, `split`) or clients (`chat`).
    pub receivers: usize,
    /// Members per room (`chat`).
    pub room_size: usize,
    /// Approximate size of each message's `data`, bytes.
    pub payload_bytes: usize,
    /// First swept rate, messages/s.
    pub start_rate: f64,
    /// Highest swept rate.
    pub max_rate: f64,
    /// Rate multiplier between steps.
    pub factor: f64,
    /// Bisection steps after the sweep.
    pub refine: usize,
    /// Sending time per step, s.
    pub step_secs: f64,
    /// Time after the last send within which every delivery must have arrived, s.
    pub drain_secs: f64,
    /// Longest wait for a backlog to clear before the sweep gives up, s.
    pub backlog_secs: f64,
    /// p99 latency limit for a step to count toward capacity, ms.
    pub p99_limit_ms: f64,
    /// One more step at this fraction of the capacity found.
    pub extra_fraction: Option<f64>,
    /// Processes whose CPU time is measured per step (`name`, pid).
    pub watch: Vec<(String, u32)>,
    /// Redis to read `INFO` from per step.
    pub redis: Option<SocketAddr>,
    /// Source addresses, round robin.
    pub src_ips: Vec<IpAddr>,
    /// Connections set up at the same time.
    pub inflight: usize,
    /// A step where this process was busier than this fraction of a core is invalid.
    pub gen_busy_limit: f64,
    /// A step whose send lag p99 exceeds this (ms) is invalid.
    pub max_send_lag_ms: f64,
    /// A step where other processes took more than this fraction of either core (user time)
    /// is invalid: the machine was not quiet.
    pub max_foreign: f64,
    /// Calibrated generator ceiling, deliveries/s: steps above it are invalid.
    pub ceiling: Option<f64>,
    /// Initial read buffer per connection.
    pub read_capacity: usize,
    /// Longest setup time for all connections.
    pub setup_timeout: Duration,
    /// Connection mode.
    pub mode: Mode,
}

#[derive(Default)]
struct StepAcc {
    expected: u64,
    sent: u64,
    received: u64,
    dup: u64,
    all: Lat,
    local: Lat,
    cross: Lat,
    acks: u64,
    ack_lat: Lat,
}

#[derive(Default)]
struct Stats {
    steps: Vec<StepAcc>,
    /// Per message id (= ack id): (step, scheduled µs).
    sched: Vec<(u32, u64)>,
    ready: usize,
    failed: usize,
    setup_done: usize,
    closed: usize,
    setup_errors: Errors,
    run_errors: Errors,
    unparsed: u64,
}

struct Finders {
    k: Finder<'static>,
    s: Finder<'static>,
    t: Finder<'static>,
    o: Finder<'static>,
}

impl Finders {
    fn new() -> Self {
        Self {
            k: Finder::new(b"\"_k\":"),
            s: Finder::new(b"\"_s\":"),
            t: Finder::new(b"\"_t\":"),
            o: Finder::new(b"\"_o\":"),
        }
    }

    fn field(f: &Finder<'_>, p: &[u8]) -> Option<u64> {
        let i = f.find(p)? + f.needle().len();
        crate::eio::split_number(&p[i..]).0
    }

    /// `(step, seq, scheduled µs, origin)` of a `message` event body.
    fn parse(&self, body: &[u8]) -> Option<(usize, u64, u64, u64)> {
        if !body.starts_with(b"[\"message\",") {
            return None;
        }
        Some((
            usize::try_from(Self::field(&self.k, body)?).ok()?,
            Self::field(&self.s, body)?,
            Self::field(&self.t, body)?,
            Self::field(&self.o, body)?,
        ))
    }
}

/// One client: where it connects and the room it joins.
#[derive(Debug, Clone)]
struct Member {
    target: usize,
    room: usize,
}

struct Plan {
    members: Vec<Member>,
    rooms: Vec<String>,
    /// Members of each room (client indexes).
    room_members: Vec<Vec<usize>>,
    /// Whether a client sends (and so has an outbox).
    senders: Vec<bool>,
    /// `big`/`split`: the publisher's index.
    publisher: Option<usize>,
}

fn plan(a: &FanoutArgs) -> Plan {
    let n_targets = a.targets.len().max(1);
    let mut members = Vec::new();
    let mut senders = Vec::new();
    let (rooms, publisher) = match a.layout {
        Layout::Big | Layout::Split => {
            for i in 0..a.receivers {
                let target = match a.layout {
                    Layout::Big => n_targets - 1,
                    _ => i % n_targets,
                };
                members.push(Member { target, room: 0 });
                senders.push(false);
            }
            members.push(Member { target: 0, room: 0 });
            senders.push(true);
            (vec!["big".to_owned()], Some(a.receivers))
        }
        Layout::Chat => {
            let size = a.room_size.max(2);
            let n_rooms = a.receivers.div_ceil(size);
            for i in 0..a.receivers {
                members.push(Member {
                    target: i % n_targets,
                    room: i / size,
                });
                senders.push(true);
            }
            ((0..n_rooms).map(|r| format!("c{r}")).collect(), None)
        }
    };
    let mut room_members = vec![Vec::new(); rooms.len()];
    for (i, m) in members.iter().enumerate() {
        room_members[m.room].push(i);
    }
    Plan {
        members,
        rooms,
        room_members,
        senders,
        publisher,
    }
}

struct Ctx {
    stats: RefCell<Stats>,
    finders: Finders,
    /// Per client: connected and not closed.
    alive: RefCell<Vec<bool>>,
}

/// Runs the sweep and prints the result.
pub async fn run(a: FanoutArgs) {
    let local = LocalSet::new();
    local.run_until(run_local(a)).await;
}

async fn run_local(a: FanoutArgs) {
    let plan = plan(&a);
    let n = plan.members.len();
    let ctx = Rc::new(Ctx {
        stats: RefCell::new(Stats::default()),
        finders: Finders::new(),
        alive: RefCell::new(vec![false; n]),
    });
    let sem = Rc::new(Semaphore::new(a.inflight.max(1)));
    let mut outboxes: Vec<Option<mpsc::UnboundedSender<Vec<u8>>>> = Vec::with_capacity(n);
    let setup_started = std::time::Instant::now();
    for (i, m) in plan.members.iter().enumerate() {
        let (tx, rx) = if plan.senders[i] {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        outboxes.push(tx);
        let target = a.targets[m.target].clone();
        let room = plan.rooms[m.room].clone();
        let src = src_ip(&a.src_ips, i);
        let ctx = ctx.clone();
        let sem = sem.clone();
        let (mode, cap, timeout) = (a.mode, a.read_capacity, a.setup_timeout);
        let replica = m.target as u64;
        tokio::task::spawn_local(async move {
            let permit = sem.acquire().await;
            let setup = tokio::time::timeout(timeout, async {
                let mut c = Client::connect(src, &target, mode, None, cap).await?;
                c.join(&room).await?;
                Ok::<_, std::io::Error>(c)
            })
            .await;
            drop(permit);
            let client = {
                let mut s = ctx.stats.borrow_mut();
                s.setup_done += 1;
                match setup {
                    Ok(Ok(c)) => {
                        s.ready += 1;
                        Some(c)
                    }
                    Ok(Err(e)) => {
                        s.failed += 1;
                        s.setup_errors.add(&e);
                        None
                    }
                    Err(_) => {
                        s.failed += 1;
                        s.setup_errors
                            .add(&std::io::Error::other("setup timed out"));
                        None
                    }
                }
            };
            let Some(c) = client else { return };
            if let Some(a) = ctx.alive.borrow_mut().get_mut(i) {
                *a = true;
            }
            let e = conn_loop(&ctx, c, rx, replica).await;
            if let Some(a) = ctx.alive.borrow_mut().get_mut(i) {
                *a = false;
            }
            let mut s = ctx.stats.borrow_mut();
            s.closed += 1;
            s.run_errors.add(&e);
        });
    }
    // Wait for every connection to be set up (or to fail).
    let deadline = tokio::time::Instant::now() + a.setup_timeout + Duration::from_secs(5);
    loop {
        if ctx.stats.borrow().setup_done >= n || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (ready, failed, setup_errors) = {
        let s = ctx.stats.borrow();
        (s.ready, s.failed, s.setup_errors.json())
    };
    let setup_secs = setup_started.elapsed().as_secs_f64();
    note(&format!(
        "fanout {:?}: {ready}/{n} clients ready in {setup_secs:.1}s",
        a.layout
    ));
    let setup = json!({"clients": n, "ready": ready, "failed": failed, "secs": setup_secs,
                       "errors": setup_errors});
    if ready < n {
        emit(&json!({"event": "result", "ok": false,
                     "error": format!("only {ready} of {n} clients set up"), "setup": setup}));
        return;
    }
    let mut sw = Sweeper {
        a: &a,
        plan: &plan,
        ctx: &ctx,
        outboxes,
        room_seq: vec![0; plan.rooms.len()],
        msg_counter: 0,
        results: Vec::new(),
    };
    // Warm-up: every path works (cross-replica subscriptions included) before measuring.
    let warm_rate = a.start_rate.max(1.0);
    let warm = sw.step(warm_rate, a.step_secs.min(1.0), "warmup").await;
    if warm.received < warm.expected {
        let (lost, exp) = (warm.expected - warm.received, warm.expected);
        emit(&json!({"event": "result", "ok": false, "setup": setup,
                     "error": format!("warm-up: {lost} of {exp} deliveries missing"),
                     "steps": [warm]}));
        return;
    }
    sw.results.push(warm);
    let mut rate = a.start_rate;
    let mut last_pass: Option<f64> = None;
    let mut first_fail: Option<f64> = None;
    let mut stop_reason = "max rate reached";
    let mut retried = false;
    loop {
        let r = sw.step(rate, a.step_secs, "sweep").await;
        let (valid, pass, sustained) = (r.valid, r.pass, r.sustained);
        sw.results.push(r);
        if !valid {
            // Once per sweep, a step spoiled by a passing disturbance is run again.
            if !retried {
                retried = true;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            stop_reason = "invalid step (generator limit)";
            break;
        }
        if pass {
            last_pass = Some(rate);
        } else if first_fail.is_none() {
            first_fail = Some(rate);
        }
        if !sustained {
            stop_reason = "not sustained (loss or backlog)";
            break;
        }
        if rate >= a.max_rate {
            break;
        }
        rate = round_rate((rate * a.factor).min(a.max_rate));
    }
    for _ in 0..a.refine {
        let (Some(p), Some(f)) = (last_pass, first_fail) else {
            break;
        };
        let mid = round_rate((p * f).sqrt());
        if mid <= p || mid >= f {
            break;
        }
        let r = sw.step(mid, a.step_secs, "refine").await;
        let (valid, pass) = (r.valid, r.pass);
        sw.results.push(r);
        if !valid {
            break;
        }
        if pass {
            last_pass = Some(mid);
        } else {
            first_fail = Some(mid);
        }
    }
    if let Some(frac) = a.extra_fraction {
        let base = last_pass.unwrap_or(a.start_rate);
        let r = round_rate((base * frac).max(a.start_rate.min(base)));
        let label = if last_pass.is_some() {
            "at_fraction"
        } else {
            "at_fraction_of_start"
        };
        let step = sw.step(r, a.step_secs, label).await;
        sw.results.push(step);
    }
    // Final accounting: deliveries that arrived after their step's check.
    tokio::time::sleep(Duration::from_secs_f64(a.drain_secs.min(2.0))).await;
    {
        let s = ctx.stats.borrow();
        for r in &mut sw.results {
            if let Some(acc) = s.steps.get(r.k) {
                r.late = acc.received.saturating_sub(r.received);
                r.lost = acc.expected.saturating_sub(acc.received);
                r.dup = acc.dup;
            }
        }
    }
    let cap = last_pass.and_then(|p| {
        sw.results
            .iter()
            .filter(|r| r.label != "warmup" && r.label != "at_fraction" && r.pass)
            .find(|r| (r.rate - p).abs() < 1e-9)
    });
    let thr = sw
        .results
        .iter()
        .filter(|r| r.label != "warmup" && r.valid && r.sustained)
        .max_by(|x, y| x.delivered_per_s.total_cmp(&y.delivered_per_s));
    let generator_bound = sw.results.iter().any(|r| !r.valid);
    let s = ctx.stats.borrow();
    emit(&json!({
        "event": "result",
        "ok": true,
        "layout": a.layout,
        "payload_bytes": a.payload_bytes,
        "receivers": a.receivers,
        "fanout": sw.fanout(),
        "setup": setup,
        "stop_reason": stop_reason,
        "generator_bound": generator_bound,
        "capacity": cap.map(|r| json!({"rate": r.rate, "delivered_per_s": r.delivered_per_s,
                                        "p99_ms": r.lat.p99_ms})),
        "first_latency_fail_rate": first_fail,
        "throughput": thr.map(|r| json!({"rate": r.rate, "delivered_per_s": r.delivered_per_s,
                                          "p99_ms": r.lat.p99_ms})),
        "closed_during_run": s.closed,
        "run_errors": s.run_errors.json(),
        "unparsed": s.unparsed,
        "steps": sw.results,
    }));
}

fn round_rate(r: f64) -> f64 {
    if r >= 100.0 {
        r.round()
    } else {
        (r * 10.0).round() / 10.0
    }
}

/// The connection's event loop: receive and account deliveries and acks, answer pings, send
/// what the scheduler queued.
async fn conn_loop(
    ctx: &Ctx,
    mut c: Client,
    mut outbox: Option<mpsc::UnboundedReceiver<Vec<u8>>>,
    replica: u64,
) -> std::io::Error {
    let mut seen: Vec<u64> = Vec::new();
    loop {
        let next_out = async {
            match outbox.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            filled = c.ws.fill() => {
                match filled {
                    Ok(true) => {}
                    Ok(false) => return std::io::Error::new(std::io::ErrorKind::UnexpectedEof,
                                                            "server closed"),
                    Err(e) => return e,
                }
                if let Err(e) = handle_frames(ctx, &mut c, &mut seen, replica) {
                    return e;
                }
            }
            msg = next_out => {
                let Some(msg) = msg else {
                    // The scheduler is gone: stay a receiver.
                    outbox = None;
                    continue;
                };
                c.ws.queue(opcode::TEXT, &msg);
                if let Some(rx) = outbox.as_mut() {
                    while let Ok(m) = rx.try_recv() {
                        c.ws.queue(opcode::TEXT, &m);
                    }
                }
            }
        }
        if let Err(e) = c.ws.flush().await {
            return e;
        }
    }
}

fn handle_frames(
    ctx: &Ctx,
    c: &mut Client,
    seen: &mut Vec<u64>,
    replica: u64,
) -> std::io::Result<()> {
    let mut pong = 0usize;
    let mut ws_pongs: Vec<Vec<u8>> = Vec::new();
    while let Some(f) = c.ws.next_buffered()? {
        match f.op {
            opcode::TEXT => {
                let p = c.ws.payload(&f);
                match classify(p) {
                    Packet::Event(None, body) => {
                        let now = now_us();
                        let Some((k, seq, t, origin)) = ctx.finders.parse(body) else {
                            ctx.stats.borrow_mut().unparsed += 1;
                            continue;
                        };
                        let word = (seq / 64) as usize;
                        if seen.len() <= word {
                            seen.resize(word + 1, 0);
                        }
                        let bit = 1u64 << (seq % 64);
                        let mut s = ctx.stats.borrow_mut();
                        let Some(acc) = s.steps.get_mut(k) else {
                            continue;
                        };
                        if seen[word] & bit != 0 {
                            acc.dup += 1;
                            continue;
                        }
                        seen[word] |= bit;
                        acc.received += 1;
                        let lat = now.saturating_sub(t);
                        acc.all.record(lat);
                        if origin == replica {
                            acc.local.record(lat);
                        } else {
                            acc.cross.record(lat);
                        }
                    }
                    Packet::Ack(id, _) => {
                        let now = now_us();
                        let mut s = ctx.stats.borrow_mut();
                        let Some(&(k, t)) = usize::try_from(id).ok().and_then(|i| s.sched.get(i))
                        else {
                            continue;
                        };
                        if let Some(acc) = s.steps.get_mut(k as usize) {
                            acc.acks += 1;
                            acc.ack_lat.record(now.saturating_sub(t));
                        }
                    }
                    Packet::Ping => {
                        c.pings += 1;
                        pong += 1;
                    }
                    Packet::Close | Packet::Disconnect => {
                        return Err(std::io::Error::other("server disconnected the socket"));
                    }
                    _ => {}
                }
            }
            opcode::PING => ws_pongs.push(c.ws.payload(&f).to_vec()),
            opcode::CLOSE => return Err(std::io::Error::other("server sent a close frame")),
            _ => {}
        }
    }
    for _ in 0..pong {
        c.ws.queue(opcode::TEXT, b"3");
    }
    for p in ws_pongs {
        c.ws.queue(opcode::PONG, &p);
    }
    Ok(())
}

/// One step's outcome.
#[derive(Debug, Clone, Serialize)]
struct StepResult {
    k: usize,
    label: &'static str,
    /// Offered messages/s.
    rate: f64,
    secs: f64,
    messages: u64,
    /// Offered deliveries/s (messages/s times recipients).
    offered_deliveries_per_s: f64,
    expected: u64,
    /// Deliveries that arrived by the step's check (drain time after the last send).
    received: u64,
    /// Arrived after the check.
    late: u64,
    /// Never arrived (at the end of the sweep).
    lost: u64,
    dup: u64,
    delivered_per_s: f64,
    lat: LatSummary,
    local: LatSummary,
    cross: LatSummary,
    ack: LatSummary,
    acks: u64,
    send_lag: LatSummary,
    /// Window over which server CPU was measured (start to every delivery in, or give-up).
    window_secs: f64,
    /// CPU seconds per watched process over the window.
    cpu: serde_json::Map<String, serde_json::Value>,
    /// Server CPU µs per delivery (every watched process but `redis`).
    server_cpu_us_per_delivery: f64,
    /// Server CPU as a fraction of one core over the window.
    server_core_fraction: f64,
    redis: Option<serde_json::Value>,
    /// This process's CPU as a fraction of one core while sending.
    generator_core_fraction: f64,
    /// Generator CPU µs per delivery.
    generator_cpu_us_per_delivery: f64,
    /// Busy fraction of each core over the window (everything on the machine).
    core_busy: Vec<f64>,
    /// Busy time on core 0 not accounted to a watched process (other work on the machine,
    /// interrupts), fraction of the core.
    core0_unaccounted: f64,
    /// User time of other processes on the server core / generator core, fraction.
    foreign_user: [f64; 2],
    /// Every delivery arrived by the check and none was lost.
    sustained: bool,
    /// The generator was not the limit (busy fraction, send lag, calibrated ceiling).
    valid: bool,
    /// Valid, sustained and p99 within the limit.
    pass: bool,
    flags: Vec<String>,
}

struct Sweeper<'a> {
    a: &'a FanoutArgs,
    plan: &'a Plan,
    ctx: &'a Ctx,
    outboxes: Vec<Option<mpsc::UnboundedSender<Vec<u8>>>>,
    room_seq: Vec<u64>,
    msg_counter: u64,
    results: Vec<StepResult>,
}

struct Snap {
    wall_us: u64,
    cpu: Vec<f64>,
    user: Vec<f64>,
    own: f64,
    own_user: f64,
    cores: Vec<CoreTimes>,
    redis: Option<RedisSnap>,
}

impl Sweeper<'_> {
    /// Recipients of a message per room (members minus the sender), for the JSON.
    fn fanout(&self) -> f64 {
        match self.a.layout {
            Layout::Chat => self.a.room_size.saturating_sub(1) as f64,
            _ => self.a.receivers as f64,
        }
    }

    async fn snap(&self) -> Snap {
        let redis = match self.a.redis {
            Some(addr) => procfs::redis_snap(addr).await.ok(),
            None => None,
        };
        Snap {
            wall_us: now_us(),
            cpu: self
                .a
                .watch
                .iter()
                .map(|(_, pid)| procfs::cpu_secs(*pid).unwrap_or(0.0))
                .collect(),
            user: self
                .a
                .watch
                .iter()
                .map(|(_, pid)| procfs::user_secs(*pid))
                .collect(),
            own: procfs::self_cpu_secs(),
            own_user: procfs::user_secs(std::process::id()),
            cores: procfs::cores(),
            redis,
        }
    }

    /// Chooses sender and room for message number `g`.
    fn route(&self, g: u64) -> (usize, usize) {
        match self.plan.publisher {
            Some(p) => (p, 0),
            None => {
                let n_rooms = self.plan.rooms.len() as u64;
                let room = (g % n_rooms) as usize;
                let members = &self.plan.room_members[room];
                let j = ((g / n_rooms) % members.len() as u64) as usize;
                (members[j], room)
            }
        }
    }

    async fn step(&mut self, rate: f64, secs: f64, label: &'static str) -> StepResult {
        let k = {
            let mut s = self.ctx.stats.borrow_mut();
            s.steps.push(StepAcc::default());
            s.steps.len() - 1
        };
        let messages = ((rate * secs).round() as u64).max(1);
        let interval_us = 1e6 / rate;
        let pad = "x".repeat(self.a.payload_bytes.saturating_sub(60));
        let mut send_lag = Lat::new();
        let before = self.snap().await;
        // A little lead so that the first send is on time.
        let t0 = now_us() + 2_000;
        let mut text = Vec::with_capacity(128 + pad.len());
        for i in 0..messages {
            let t = t0 + (i as f64 * interval_us) as u64;
            if now_us() < t {
                tokio::time::sleep_until(instant_of(t)).await;
            }
            let g = self.msg_counter;
            self.msg_counter += 1;
            let (sender, room) = self.route(g);
            let seq = self.room_seq[room];
            self.room_seq[room] += 1;
            let recipients = {
                let alive = self.ctx.alive.borrow();
                self.plan.room_members[room]
                    .iter()
                    .filter(|&&m| m != sender && alive.get(m).copied().unwrap_or(false))
                    .count() as u64
            };
            let sender_alive = self
                .ctx
                .alive
                .borrow()
                .get(sender)
                .copied()
                .unwrap_or(false);
            let id = {
                let mut s = self.ctx.stats.borrow_mut();
                let id = s.sched.len() as u64;
                s.sched.push((k as u32, t));
                id
            };
            text.clear();
            let data = format!(
                "{{\"room\":{},\"data\":{{\"_k\":{k},\"_s\":{seq},\"_t\":{t},\"_o\":{},\"p\":\"{pad}\"}}}}",
                json_str(&self.plan.rooms[room]),
                self.plan.members[sender].target
            );
            crate::eio::event_packet(&mut text, Some(id), "message", &data);
            let queued = sender_alive
                && self.outboxes[sender]
                    .as_ref()
                    .is_some_and(|tx| tx.send(text.clone()).is_ok());
            send_lag.record(now_us().saturating_sub(t).max(1));
            if queued {
                let mut s = self.ctx.stats.borrow_mut();
                if let Some(acc) = s.steps.get_mut(k) {
                    acc.sent += 1;
                    acc.expected += recipients;
                }
            }
            // Let the connection tasks run between sends of a batch that is due at once.
            if i % 64 == 63 {
                tokio::task::yield_now().await;
            }
        }
        let t_last = t0 + ((messages - 1) as f64 * interval_us) as u64;
        let sent_end_us = now_us();
        let own_after_send = procfs::self_cpu_secs();
        // Wait for every delivery, at most the drain time after the last scheduled send.
        let check_at = t_last + (self.a.drain_secs * 1e6) as u64;
        let complete = |ctx: &Ctx| {
            let s = ctx.stats.borrow();
            s.steps.get(k).is_some_and(|a| a.received >= a.expected)
        };
        while !complete(self.ctx) && now_us() < check_at {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let in_time = complete(self.ctx);
        let received_at_check = self
            .ctx
            .stats
            .borrow()
            .steps
            .get(k)
            .map_or(0, |a| a.received);
        let mut flags = Vec::new();
        if !in_time {
            // Let the backlog clear so that the next step starts from an idle server.
            let give_up = now_us() + (self.a.backlog_secs * 1e6) as u64;
            while !complete(self.ctx) && now_us() < give_up {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            flags.push(if complete(self.ctx) {
                "backlog cleared late".to_owned()
            } else {
                "backlog not cleared".to_owned()
            });
        }
        let after = self.snap().await;
        let window_secs = (after.wall_us - before.wall_us) as f64 / 1e6;
        let send_secs = (sent_end_us.saturating_sub(before.wall_us)) as f64 / 1e6;
        let s = self.ctx.stats.borrow();
        let empty = StepAcc::default();
        let acc = s.steps.get(k).unwrap_or(&empty);
        let mut cpu = serde_json::Map::new();
        let mut server_cpu = 0.0;
        let mut watched_cpu = 0.0;
        for (i, (name, _)) in self.a.watch.iter().enumerate() {
            let d = after.cpu.get(i).copied().unwrap_or(0.0)
                - before.cpu.get(i).copied().unwrap_or(0.0);
            cpu.insert(name.clone(), json!(d));
            watched_cpu += d;
            if !name.starts_with("redis") {
                server_cpu += d;
            }
        }
        let delivered = received_at_check.max(1) as f64;
        let gen_cpu = own_after_send - before.own;
        let generator_core_fraction = gen_cpu / send_secs.max(1e-3);
        let core_busy: Vec<f64> = after
            .cores
            .iter()
            .zip(before.cores.iter())
            .map(|(a, b)| {
                let d = a.since(b);
                let total = d.total().max(1) as f64;
                (total - d.idle as f64) / total
            })
            .collect();
        let core0_unaccounted = core_busy
            .first()
            .map_or(0.0, |b| (b - watched_cpu / window_secs.max(1e-3)).max(0.0));
        let watched_user: f64 = after
            .user
            .iter()
            .zip(before.user.iter())
            .map(|(a, b)| a - b)
            .sum();
        let foreign0 = procfs::foreign_user_fraction(&before.cores, &after.cores, 0, watched_user);
        let foreign1 = procfs::foreign_user_fraction(
            &before.cores,
            &after.cores,
            1,
            after.own_user - before.own_user,
        );
        let redis = match (before.redis, after.redis) {
            (Some(b), Some(a)) => {
                let cpu = a.cpu_secs - b.cpu_secs;
                let publishes = a.publishes.saturating_sub(b.publishes);
                let commands = a.commands.saturating_sub(b.commands);
                let reads = a.reads.saturating_sub(b.reads);
                Some(json!({
                    "cpu_secs": cpu,
                    "core_fraction": cpu / window_secs.max(1e-3),
                    "publishes": publishes,
                    "publishes_per_s": publishes as f64 / window_secs.max(1e-3),
                    "commands": commands,
                    "reads": reads,
                    "commands_per_read": commands as f64 / reads.max(1) as f64,
                    "cpu_us_per_publish": if publishes > 0 { cpu * 1e6 / publishes as f64 } else { 0.0 },
                }))
            }
            _ => None,
        };
        let lat = acc.all.summary();
        let send_lag_s = send_lag.summary();
        let sustained = in_time && received_at_check >= acc.expected;
        let mut valid = true;
        if generator_core_fraction > self.a.gen_busy_limit {
            valid = false;
            flags.push(format!(
                "generator busy {:.0}% of its core",
                generator_core_fraction * 100.0
            ));
        }
        if send_lag_s.p99_ms > self.a.max_send_lag_ms {
            valid = false;
            flags.push(format!("send lag p99 {:.1} ms", send_lag_s.p99_ms));
        }
        // Over the scheduled sending time (messages are whole: rate x secs rounded).
        let delivered_per_s = received_at_check as f64 * rate / messages as f64;
        if let Some(ceiling) = self.a.ceiling
            && delivered_per_s > ceiling
        {
            valid = false;
            flags.push(format!(
                "{delivered_per_s:.0}/s is above the calibrated generator ceiling {ceiling:.0}/s"
            ));
        }
        if foreign0 > self.a.max_foreign {
            valid = false;
            flags.push(format!(
                "other processes took {:.0}% of the server core",
                foreign0 * 100.0
            ));
        }
        if foreign1 > self.a.max_foreign {
            valid = false;
            flags.push(format!(
                "other processes took {:.0}% of the generator core",
                foreign1 * 100.0
            ));
        }
        if s.closed > 0 {
            flags.push(format!("{} connections closed so far", s.closed));
        }
        let pass = valid && sustained && lat.p99_ms <= self.a.p99_limit_ms;
        let r = StepResult {
            k,
            label,
            rate,
            secs,
            messages,
            offered_deliveries_per_s: rate * self.fanout(),
            expected: acc.expected,
            received: received_at_check,
            late: 0,
            lost: acc.expected.saturating_sub(acc.received),
            dup: acc.dup,
            delivered_per_s,
            lat,
            local: acc.local.summary(),
            cross: acc.cross.summary(),
            ack: acc.ack_lat.summary(),
            acks: acc.acks,
            send_lag: send_lag_s,
            window_secs,
            cpu,
            server_cpu_us_per_delivery: server_cpu * 1e6 / delivered,
            server_core_fraction: server_cpu / window_secs.max(1e-3),
            redis,
            generator_core_fraction,
            generator_cpu_us_per_delivery: gen_cpu * 1e6 / delivered,
            core_busy,
            core0_unaccounted,
            foreign_user: [foreign0, foreign1],
            sustained,
            valid,
            pass,
            flags,
        };
        note(&format!(
            "step {k} {label} rate {rate}/s: {:.0} deliveries/s p50 {:.2} p99 {:.2} ms, \
             lost {} server {:.0}% gen {:.0}% {}",
            r.delivered_per_s,
            r.lat.p50_ms,
            r.lat.p99_ms,
            r.lost,
            r.server_core_fraction * 100.0,
            r.generator_core_fraction * 100.0,
            if r.pass { "PASS" } else { "fail" }
        ));
        r
    }
}
