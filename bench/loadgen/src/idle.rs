//! Workloads that open many connections and hold them: `idle` (each client joins a personal and
//! a shared room, then stays idle answering pings) and `storm` (as many connections as possible
//! with a bounded number in flight, timing each handshake).
//!
//! Protocol with the driver (JSON lines on stdout): `{"event":"ready", ...}` once every
//! connection is set up (or failed), then the connections are held until `stop` on stdin, then
//! `{"event":"done", ...}` with the ping counts seen while holding.

use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{Notify, Semaphore};
use tokio::task::LocalSet;

use crate::common::{Errors, emit, note, src_ip, unix_us, wait_stop};
use crate::eio::{Client, Mode, Target};
use crate::hist::Lat;

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct HoldArgs {
    /// Servers; client `i` goes to `targets[i % len]`.
    pub targets: Vec<Target>,
    /// Clients opened by this process.
    pub clients: usize,
    /// First client number (personal room `u<n>`), so that processes do not overlap.
    pub id_offset: usize,
    /// The shared room every client joins (none for `storm`).
    pub shared_room: Option<String>,
    /// Whether each client joins its personal room `u<n>`.
    pub personal_room: bool,
    /// Connections being set up at the same time.
    pub inflight: usize,
    /// WebSocket straight away or polling then upgrade.
    pub mode: Mode,
    /// Source addresses, round robin.
    pub src_ips: Vec<IpAddr>,
    /// Start at this Unix time in ms (to align several processes).
    pub start_at_unix_ms: Option<u64>,
    /// Longest time to hold the connections without a `stop`.
    pub max_hold: Duration,
    /// Longest time one connection's setup may take.
    pub setup_timeout: Duration,
    /// Initial read buffer per connection.
    pub read_capacity: usize,
    /// Include every handshake latency (µs) in the `ready` line.
    pub raw_latencies: bool,
}

#[derive(Default)]
struct Shared {
    done: usize,
    ok: usize,
    setup_errors: Errors,
    hold_errors: Errors,
    latencies_us: Vec<u32>,
    lat: Lat,
    first_start_us: u64,
    last_done_us: u64,
    pings: Vec<u32>,
    closed_early: usize,
}

/// Opens, sets up and holds the connections; reports on stdout.
pub async fn run(a: HoldArgs) {
    let local = LocalSet::new();
    local.run_until(run_local(a)).await;
}

async fn run_local(a: HoldArgs) {
    if let Some(t) = a.start_at_unix_ms {
        crate::common::sleep_until_unix_ms(t).await;
    }
    let shared = Rc::new(RefCell::new(Shared {
        pings: vec![0; a.clients],
        first_start_us: u64::MAX,
        ..Shared::default()
    }));
    let all_set_up = Rc::new(Notify::new());
    let sem = Rc::new(Semaphore::new(a.inflight.max(1)));
    let started = Instant::now();
    let targets = Rc::new(a.targets.clone());
    for i in 0..a.clients {
        let shared = shared.clone();
        let all_set_up = all_set_up.clone();
        let sem = sem.clone();
        let targets = targets.clone();
        let a = a.clone();
        tokio::task::spawn_local(async move {
            let target = &targets[i % targets.len()];
            let src = src_ip(&a.src_ips, i);
            let permit = sem.acquire().await;
            let t0 = Instant::now();
            let t0_unix = unix_us();
            let setup = tokio::time::timeout(a.setup_timeout, setup(&a, target, src, i)).await;
            let elapsed = t0.elapsed();
            drop(permit);
            let client = {
                let mut s = shared.borrow_mut();
                s.done += 1;
                s.first_start_us = s.first_start_us.min(t0_unix);
                let c = match setup {
                    Ok(Ok(c)) => {
                        s.ok += 1;
                        let us = elapsed.as_micros() as u64;
                        s.lat.record(us);
                        s.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                        s.last_done_us = s.last_done_us.max(t0_unix + us);
                        Some(c)
                    }
                    Ok(Err(e)) => {
                        s.setup_errors.add(&e);
                        None
                    }
                    Err(_) => {
                        s.setup_errors
                            .add(&std::io::Error::other("setup timed out"));
                        None
                    }
                };
                if s.done == a.clients {
                    all_set_up.notify_one();
                }
                c
            };
            let Some(mut c) = client else { return };
            let sh = shared.clone();
            let e = c
                .idle(move || {
                    if let Some(p) = sh.borrow_mut().pings.get_mut(i) {
                        *p += 1;
                    }
                })
                .await;
            let mut s = shared.borrow_mut();
            s.closed_early += 1;
            s.hold_errors.add(&e);
        });
    }
    if a.clients > 0 {
        all_set_up.notified().await;
    }
    let setup_ms = started.elapsed().as_secs_f64() * 1000.0;
    {
        let s = shared.borrow();
        let span_us = s.last_done_us.saturating_sub(s.first_start_us);
        let mut line = json!({
            "event": "ready",
            "ok": s.ok,
            "failed": a.clients - s.ok,
            "setup_ms": setup_ms,
            "first_start_unix_us": s.first_start_us,
            "last_done_unix_us": s.last_done_us,
            "span_ms": span_us as f64 / 1000.0,
            "handshake": s.lat.summary(),
            "errors": s.setup_errors.json(),
        });
        if a.raw_latencies {
            line["latencies_us"] = json!(s.latencies_us);
        }
        emit(&line);
        if s.setup_errors.total() > 0 {
            note(&format!("setup errors: {:?}", s.setup_errors.0));
        }
    }
    wait_stop(a.max_hold).await;
    let s = shared.borrow();
    let held: Vec<u32> = s.pings.clone();
    emit(&json!({
        "event": "done",
        "ok": s.ok,
        "closed_early": s.closed_early,
        "pings_total": held.iter().map(|&p| u64::from(p)).sum::<u64>(),
        "pings_min": held.iter().copied().min().unwrap_or(0),
        "pings_max": held.iter().copied().max().unwrap_or(0),
        "without_pings": held.iter().filter(|&&p| p == 0).count(),
        "with_one_ping": held.iter().filter(|&&p| p == 1).count(),
        "hold_errors": s.hold_errors.json(),
    }));
}

async fn setup(
    a: &HoldArgs,
    target: &Target,
    src: Option<IpAddr>,
    i: usize,
) -> std::io::Result<Client> {
    let mut c = Client::connect(src, target, a.mode, None, a.read_capacity).await?;
    let n = a.id_offset + i;
    if a.personal_room {
        c.join(&format!("u{n}")).await?;
    }
    if let Some(room) = &a.shared_room {
        c.join(room).await?;
    }
    c.ws.shrink(a.read_capacity);
    Ok(c)
}
