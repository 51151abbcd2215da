//! The workloads as the driver runs them: each starts a fresh Redis and two fresh replicas on the
//! server core, runs one or more generator processes on the generator core, reads the servers'
//! memory and CPU from `/proc`, and returns one JSON object.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use loadgen::eio::Mode;
use loadgen::hist::Lat;
use loadgen::procfs;
use serde_json::{Value, json};

use crate::procs::{Kind, Proc, Redis, Res, Server, ServerEnv, SrcAlloc, start_rawfan};

/// A fan-out variant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Variant {
    /// Name in results.
    pub name: String,
    /// `big`, `split` or `chat`.
    pub layout: String,
    /// Room members or clients.
    pub receivers: usize,
    /// Payload bytes.
    pub payload_bytes: usize,
    /// First rate.
    pub start_rate: f64,
    /// Highest rate.
    pub max_rate: f64,
    /// One more step at this fraction of capacity.
    pub extra_fraction: Option<f64>,
}

/// Every size and duration of a harness run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    /// Smoke configuration.
    pub smoke: bool,
    /// Cycles of A B B A.
    pub cycles: usize,
    /// Run order within a cycle.
    pub order: Vec<Kind>,
    /// Engine.IO ping interval/timeout for both implementations, ms.
    pub ping_interval_ms: u64,
    /// Ping timeout, ms.
    pub ping_timeout_ms: u64,
    /// Idle clients per replica.
    pub idle_per_replica: usize,
    /// Idle generator processes.
    pub idle_procs: usize,
    /// Also run the polling-then-upgrade idle variant.
    pub idle_polling: bool,
    /// Connections set up at once per idle generator process.
    pub idle_inflight: usize,
    /// Fan-out variants.
    pub variants: Vec<Variant>,
    /// Sending seconds per step.
    pub step_secs: f64,
    /// Drain seconds per step.
    pub drain_secs: f64,
    /// Bisection steps.
    pub refine: usize,
    /// Members per chat room.
    pub room_size: usize,
    /// Connect storm connections (total).
    pub storm_clients: usize,
    /// Connect storm connections in flight (total).
    pub storm_inflight: usize,
    /// Connect storm generator processes.
    pub storm_procs: usize,
    /// Also run the polling-handshake storm.
    pub storm_polling: bool,
    /// Calibrate against the raw fan-out server each cycle.
    pub calibrate: bool,
    /// Receivers of the calibration sweep.
    pub calibrate_receivers: usize,
    /// Highest rate of the calibration sweep (messages/s).
    pub calibrate_max_rate: f64,
    /// Cluster protocol of both implementations: `classic` or `streams` (with connection state recovery).
    pub redis_mode: String,
    /// Generator validity checks off (smoke on a busy machine).
    pub relaxed: bool,
    /// Server core.
    pub server_core: String,
    /// Generator core.
    pub gen_core: String,
}

/// What every workload needs: binaries, the log directory, source addresses.
pub struct Ctx {
    /// Server start settings.
    pub env: ServerEnv,
    /// `target/<profile>/loadgen`.
    pub loadgen: PathBuf,
    /// Logs of this harness run.
    pub dir: PathBuf,
    /// Source address allocator.
    pub src: SrcAlloc,
    /// Counter for log names.
    pub seq: usize,
}

impl Ctx {
    fn log_dir(&mut self, what: &str) -> Res<PathBuf> {
        self.seq += 1;
        let d = self.dir.join(format!("{:03}-{what}", self.seq));
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        Ok(d)
    }

    fn loadgen(&self, name: &str, args: Vec<String>, dir: &Path, core: &str) -> Res<Proc> {
        Proc::spawn(
            name,
            core,
            &self.loadgen,
            &args,
            &[],
            dir.join(format!("{name}.log")),
            true,
        )
    }
}

/// Redis and two replicas.
struct Cluster {
    redis: Redis,
    servers: Vec<Server>,
}

impl Cluster {
    async fn start(
        kind: Kind,
        transports: &str,
        st: &Settings,
        ctx: &Ctx,
        dir: &Path,
    ) -> Res<Self> {
        let redis = Redis::start(&st.server_core, dir, kind.name()).await?;
        // Both replicas start at once (Node takes a moment to load).
        let (a, b) = tokio::join!(
            Server::start(kind, 1, redis.port, transports, &ctx.env, dir),
            Server::start(kind, 2, redis.port, transports, &ctx.env, dir),
        );
        match (a, b) {
            (Ok(a), Ok(b)) => Ok(Self {
                redis,
                servers: vec![a, b],
            }),
            (a, b) => {
                let mut err = String::new();
                for r in [a, b] {
                    match r {
                        Ok(s) => s.proc.stop().await,
                        Err(e) => err = e,
                    }
                }
                redis.proc.stop().await;
                Err(err)
            }
        }
    }

    fn targets(&self) -> String {
        self.servers
            .iter()
            .map(|s| s.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn pids(&self) -> HashMap<String, u32> {
        self.servers
            .iter()
            .map(|s| (s.id.clone(), s.proc.pid))
            .collect()
    }

    fn watch(&self) -> String {
        let mut w: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("{}={}", s.id, s.proc.pid))
            .collect();
        w.push(format!("redis={}", self.redis.proc.pid));
        w.join(",")
    }

    fn server_cpu(&self) -> f64 {
        self.servers
            .iter()
            .map(|s| procfs::cpu_secs(s.proc.pid).unwrap_or(0.0))
            .sum()
    }

    /// User seconds of the servers and Redis (everything on the server core).
    fn user_secs(&self) -> f64 {
        self.servers
            .iter()
            .map(|s| procfs::user_secs(s.proc.pid))
            .sum::<f64>()
            + procfs::user_secs(self.redis.proc.pid)
    }

    fn threads(&self) -> Value {
        self.servers
            .iter()
            .map(|s| (s.id.clone(), json!(procfs::threads(s.proc.pid))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// Kills everything; notes servers that died during the workload.
    async fn stop(mut self) -> Vec<String> {
        let mut died = Vec::new();
        for s in &mut self.servers {
            if !s.proc.running() {
                died.push(format!(
                    "{} exited during the workload: {}",
                    s.id,
                    crate::procs::tail(&s.proc.log, 1500)
                ));
            }
        }
        for s in self.servers {
            s.proc.stop().await;
        }
        self.redis.proc.stop().await;
        died
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Ws => "ws",
        Mode::Polling => "polling",
    }
}

fn transports(m: Mode) -> &'static str {
    match m {
        Mode::Ws => "websocket",
        Mode::Polling => "polling,websocket",
    }
}

fn common_args(sub: &str, targets: &str, src: &str, inflight: usize, mode: Mode) -> Vec<String> {
    vec![
        sub.to_owned(),
        "--targets".into(),
        targets.to_owned(),
        "--src-ips".into(),
        src.to_owned(),
        "--inflight".into(),
        inflight.to_string(),
        "--mode".into(),
        mode_name(mode).into(),
    ]
}

/// Source addresses for `clients` connections (at most 8,000 per address).
fn src_count(clients: usize) -> usize {
    clients.div_ceil(8000).max(2)
}

/// Seconds between the last idle client leaving and the "after" memory reading.
const AFTER_LEAVE_SECS: u64 = 15;

/// Idle memory: `idle_per_replica` clients on each replica, each in a personal and a shared
/// room, held past two ping intervals; then what stays resident once they have left.
pub async fn idle(kind: Kind, mode: Mode, st: &Settings, ctx: &mut Ctx) -> Res<Value> {
    let dir = ctx.log_dir(&format!("{}-idle-{}", kind.name(), mode_name(mode)))?;
    let cluster = Cluster::start(kind, transports(mode), st, ctx, &dir).await?;
    let r = idle_inner(&cluster, mode, st, ctx, &dir).await;
    let died = cluster.stop().await;
    let mut v = r?;
    v["server_exits"] = json!(died);
    Ok(v)
}

async fn idle_inner(
    cluster: &Cluster,
    mode: Mode,
    st: &Settings,
    ctx: &mut Ctx,
    dir: &Path,
) -> Res<Value> {
    // Let the servers settle (Node's JIT, lazy allocations) before the baseline.
    tokio::time::sleep(Duration::from_millis(if st.smoke { 200 } else { 1000 })).await;
    let pids = cluster.pids();
    let base = crate::procs::mem_of(&pids);
    let total = st.idle_per_replica * 2;
    let procs = st.idle_procs.max(1);
    // Even per process, so that round robin over the two replicas stays balanced.
    let per = (total / procs) & !1;
    let mut gens = Vec::new();
    let targets = cluster.targets();
    let hold = Duration::from_millis(2 * st.ping_interval_ms + if st.smoke { 300 } else { 1500 });
    for p in 0..procs {
        let clients = if p + 1 == procs {
            total - per * (procs - 1)
        } else {
            per
        };
        let mut args = common_args(
            "idle",
            &targets,
            &ctx.src.take(src_count(clients)),
            st.idle_inflight,
            mode,
        );
        args.extend([
            "--clients".into(),
            clients.to_string(),
            "--id-offset".into(),
            (p * per).to_string(),
            "--max-hold".into(),
            (hold.as_secs() + 600).to_string(),
            "--read-capacity".into(),
            "1024".into(),
        ]);
        gens.push(ctx.loadgen(&format!("idle-gen{p}"), args, dir, &st.gen_core)?);
    }
    let mut ready = Vec::new();
    for g in &mut gens {
        ready.push(g.expect_event("ready", Duration::from_secs(600)).await?);
    }
    let at_ready = crate::procs::mem_of(&pids);
    let cpu_ready = cluster.server_cpu();
    tokio::time::sleep(hold).await;
    let held = crate::procs::mem_of(&pids);
    // Holding idle connections costs CPU too (heartbeats, timers).
    let idle_cpu = (cluster.server_cpu() - cpu_ready) / hold.as_secs_f64();
    let threads = cluster.threads();
    let mut done = Vec::new();
    for g in &mut gens {
        g.send_line("stop").await;
    }
    for g in &mut gens {
        done.push(g.expect_event("done", Duration::from_secs(60)).await?);
    }
    for g in gens {
        g.finish(Duration::from_secs(10)).await;
    }
    // What the server gives back once every client has left (issue 13: an allocator that keeps
    // a flood's memory starves the next one): resident memory after a fixed settling time.
    tokio::time::sleep(Duration::from_secs(if st.smoke {
        1
    } else {
        AFTER_LEAVE_SECS
    }))
    .await;
    let after = crate::procs::mem_of(&pids);
    let ok: u64 = ready.iter().filter_map(|r| r["ok"].as_u64()).sum();
    let failed: u64 = ready.iter().filter_map(|r| r["failed"].as_u64()).sum();
    let closed: u64 = done.iter().filter_map(|d| d["closed_early"].as_u64()).sum();
    let pings_min = done
        .iter()
        .filter_map(|d| d["pings_min"].as_u64())
        .min()
        .unwrap_or(0);
    let setup_ms = ready
        .iter()
        .filter_map(|r| r["setup_ms"].as_f64())
        .fold(0.0, f64::max);
    let per_replica_conns = ok as f64 / 2.0;
    let mut replicas = serde_json::Map::new();
    let mut per_conn = Vec::new();
    let mut retained_per_conn = Vec::new();
    for s in &cluster.servers {
        let (b, r, h, a) = (
            base.get(&s.id).copied().unwrap_or_default(),
            at_ready.get(&s.id).copied().unwrap_or_default(),
            held.get(&s.id).copied().unwrap_or_default(),
            after.get(&s.id).copied().unwrap_or_default(),
        );
        let kb = (h.rss_kb as f64 - b.rss_kb as f64) / per_replica_conns.max(1.0);
        per_conn.push(kb);
        let retained = (a.rss_kb as f64 - b.rss_kb as f64) / per_replica_conns.max(1.0);
        retained_per_conn.push(retained);
        replicas.insert(
            s.id.clone(),
            json!({
                "rss_base_kb": b.rss_kb, "rss_ready_kb": r.rss_kb, "rss_held_kb": h.rss_kb,
                "rss_after_leave_kb": a.rss_kb,
                "anon_base_kb": b.anon_kb, "anon_held_kb": h.anon_kb, "hwm_kb": h.hwm_kb,
                "kb_per_conn": kb, "retained_kb_per_conn": retained,
                "anon_kb_per_conn": (h.anon_kb as f64 - b.anon_kb as f64) / per_replica_conns.max(1.0),
            }),
        );
    }
    let mut problems = Vec::new();
    if ok < total as u64 {
        problems.push(format!("{} of {total} clients set up", ok));
    }
    if closed > 0 {
        problems.push(format!("{closed} connections closed while held"));
    }
    if pings_min < 2 {
        problems.push(format!(
            "a connection answered only {pings_min} pings while held"
        ));
    }
    Ok(json!({
        "mode": mode_name(mode),
        "clients": total,
        "clients_per_replica": st.idle_per_replica,
        "connected": ok,
        "failed": failed,
        "setup_secs": setup_ms / 1000.0,
        "hold_secs": hold.as_secs_f64(),
        "pings_min": pings_min,
        "closed_while_held": closed,
        "kb_per_conn": per_conn.iter().sum::<f64>() / per_conn.len().max(1) as f64,
        "after_leave_secs": if st.smoke { 1 } else { AFTER_LEAVE_SECS },
        "retained_kb_per_conn": retained_per_conn.iter().sum::<f64>() / retained_per_conn.len().max(1) as f64,
        "hold_core_fraction": idle_cpu,
        "hold_cpu_us_per_conn_per_s": idle_cpu * 1e6 / (ok.max(1) as f64),
        "replicas": replicas,
        "threads": threads,
        "setup_errors": ready.iter().map(|r| r["errors"].clone()).collect::<Vec<_>>(),
        "valid": problems.is_empty(),
        "problems": problems,
    }))
}

/// Connect storm: `storm_clients` connections over both replicas, `storm_inflight` in flight.
pub async fn storm(kind: Kind, mode: Mode, st: &Settings, ctx: &mut Ctx) -> Res<Value> {
    let dir = ctx.log_dir(&format!("{}-storm-{}", kind.name(), mode_name(mode)))?;
    let cluster = Cluster::start(kind, transports(mode), st, ctx, &dir).await?;
    let r = storm_inner(&cluster, mode, st, ctx, &dir).await;
    let died = cluster.stop().await;
    let mut v = r?;
    v["server_exits"] = json!(died);
    Ok(v)
}

async fn storm_inner(
    cluster: &Cluster,
    mode: Mode,
    st: &Settings,
    ctx: &mut Ctx,
    dir: &Path,
) -> Res<Value> {
    let procs = st.storm_procs.max(1);
    let per = st.storm_clients / procs;
    let inflight = (st.storm_inflight / procs).max(1);
    let targets = cluster.targets();
    // Both generator processes start together, once they are up.
    let start_at = loadgen::common::unix_us() / 1000 + if st.smoke { 300 } else { 1500 };
    let cpu0 = cluster.server_cpu();
    let user0 = cluster.user_secs();
    let cores0 = procfs::cores();
    let mut gens = Vec::new();
    for p in 0..procs {
        let clients = if p + 1 == procs {
            st.storm_clients - per * (procs - 1)
        } else {
            per
        };
        let mut args = common_args(
            "storm",
            &targets,
            &ctx.src.take(src_count(clients * 2)),
            inflight,
            mode,
        );
        args.extend([
            "--clients".into(),
            clients.to_string(),
            "--start-at-unix-ms".into(),
            start_at.to_string(),
            "--read-capacity".into(),
            "1024".into(),
            "--setup-timeout".into(),
            "30".into(),
        ]);
        gens.push(ctx.loadgen(&format!("storm-gen{p}"), args, dir, &st.gen_core)?);
    }
    let mut ready = Vec::new();
    for g in &mut gens {
        ready.push(g.expect_event("ready", Duration::from_secs(900)).await?);
    }
    let cpu1 = cluster.server_cpu();
    let user1 = cluster.user_secs();
    let gen_user: f64 = gens.iter().map(|g| procfs::user_secs(g.pid)).sum();
    let cores1 = procfs::cores();
    let foreign = [
        procfs::foreign_user_fraction(&cores0, &cores1, 0, user1 - user0),
        procfs::foreign_user_fraction(&cores0, &cores1, 1, gen_user),
    ];
    for g in &mut gens {
        g.send_line("stop").await;
    }
    for g in &mut gens {
        let _ = g.expect_event("done", Duration::from_secs(60)).await;
    }
    for g in gens {
        g.finish(Duration::from_secs(10)).await;
    }
    let mut lat = Lat::new();
    let mut ok = 0u64;
    let mut failed = 0u64;
    let mut first = u64::MAX;
    let mut last = 0u64;
    let mut errors = Vec::new();
    for r in &ready {
        ok += r["ok"].as_u64().unwrap_or(0);
        failed += r["failed"].as_u64().unwrap_or(0);
        first = first.min(r["first_start_unix_us"].as_u64().unwrap_or(u64::MAX));
        last = last.max(r["last_done_unix_us"].as_u64().unwrap_or(0));
        if let Some(ls) = r["latencies_us"].as_array() {
            for l in ls {
                lat.record(l.as_u64().unwrap_or(0));
            }
        }
        errors.push(r["errors"].clone());
    }
    let secs = last.saturating_sub(first) as f64 / 1e6;
    let cpu = cpu1 - cpu0;
    let core_busy: Vec<f64> = cores1
        .iter()
        .zip(cores0.iter())
        .map(|(a, b)| {
            let d = a.since(b);
            let t = d.total().max(1) as f64;
            (t - d.idle as f64) / t
        })
        .collect();
    let mut problems = Vec::new();
    if failed > 0 {
        problems.push(format!("{failed} connections failed"));
    }
    for (core, x) in foreign.iter().enumerate() {
        if !st.relaxed && *x > 0.15 {
            problems.push(format!(
                "other processes took {:.0}% of core {core}",
                x * 100.0
            ));
        }
    }
    Ok(json!({
        "mode": mode_name(mode),
        "foreign_user": foreign,
        "clients": st.storm_clients,
        "inflight": st.storm_inflight,
        "ok": ok,
        "failed": failed,
        "secs": secs,
        "conns_per_s": if secs > 0.0 { ok as f64 / secs } else { 0.0 },
        "handshake": lat.summary(),
        "server_cpu_secs": cpu,
        "server_cpu_us_per_conn": cpu * 1e6 / ok.max(1) as f64,
        "core_busy": core_busy,
        "errors": errors,
        "valid": problems.is_empty(),
        "problems": problems,
    }))
}

fn fanout_args(v: &Variant, st: &Settings) -> Vec<String> {
    let mut a = vec![
        "--layout".into(),
        v.layout.clone(),
        "--receivers".into(),
        v.receivers.to_string(),
        "--room-size".into(),
        st.room_size.to_string(),
        "--payload-bytes".into(),
        v.payload_bytes.to_string(),
        "--start-rate".into(),
        v.start_rate.to_string(),
        "--max-rate".into(),
        v.max_rate.to_string(),
        "--refine".into(),
        st.refine.to_string(),
        "--step-secs".into(),
        st.step_secs.to_string(),
        "--drain-secs".into(),
        st.drain_secs.to_string(),
        "--read-capacity".into(),
        "4096".into(),
    ];
    if let Some(f) = v.extra_fraction {
        a.extend(["--extra-fraction".into(), f.to_string()]);
    }
    if st.relaxed {
        a.extend([
            "--gen-busy-limit".into(),
            "10".into(),
            "--max-send-lag-ms".into(),
            "10000".into(),
            "--max-foreign".into(),
            "2".into(),
            "--backlog-secs".into(),
            "10".into(),
        ]);
    }
    a
}

/// One fan-out variant's sweep.
pub async fn fanout(
    kind: Kind,
    v: &Variant,
    ceiling: Option<f64>,
    st: &Settings,
    ctx: &mut Ctx,
) -> Res<Value> {
    let dir = ctx.log_dir(&format!("{}-fanout-{}", kind.name(), v.name))?;
    let cluster = Cluster::start(kind, "websocket", st, ctx, &dir).await?;
    let r = async {
        let mut args = common_args(
            "fanout",
            &cluster.targets(),
            &ctx.src.take(src_count(v.receivers + 1)),
            256,
            Mode::Ws,
        );
        args.extend(fanout_args(v, st));
        args.extend([
            "--watch".into(),
            cluster.watch(),
            "--redis".into(),
            cluster.redis.addr().to_string(),
        ]);
        if let Some(c) = ceiling {
            args.extend(["--ceiling".into(), c.to_string()]);
        }
        let mut g = ctx.loadgen("fanout-gen", args, &dir, &st.gen_core)?;
        let res = g.expect_event("result", Duration::from_secs(1800)).await;
        g.finish(Duration::from_secs(10)).await;
        res
    }
    .await;
    let threads = cluster.threads();
    let mut counters = serde_json::Map::new();
    for s in &cluster.servers {
        counters.insert(s.id.clone(), s.counters().await);
    }
    let died = cluster.stop().await;
    let mut res = r?;
    res["server_counters"] = Value::Object(counters);
    res["variant"] = json!(v.name);
    res["threads"] = threads;
    res["server_exits"] = json!(died);
    Ok(res)
}

/// The generator against the raw fan-out server: the highest delivery rate it can measure.
pub async fn calibrate(payload_bytes: usize, st: &Settings, ctx: &mut Ctx) -> Res<Value> {
    let dir = ctx.log_dir(&format!("calibrate-{payload_bytes}"))?;
    let (raw, port) = start_rawfan(&ctx.env, &dir).await?;
    let v = Variant {
        name: format!("calibration-{payload_bytes}"),
        layout: "big".into(),
        receivers: st.calibrate_receivers,
        payload_bytes,
        start_rate: st.variants.first().map_or(1.0, |v| v.start_rate),
        max_rate: st.calibrate_max_rate,
        extra_fraction: None,
    };
    let r = async {
        let mut args = common_args(
            "fanout",
            &format!("127.0.0.1:{port}"),
            &ctx.src.take(src_count(v.receivers + 1)),
            256,
            Mode::Ws,
        );
        args.extend(fanout_args(&v, st));
        args.extend(["--watch".into(), format!("rawfan={}", raw.pid)]);
        let mut g = ctx.loadgen("calibrate-gen", args, &dir, &st.gen_core)?;
        let res = g.expect_event("result", Duration::from_secs(1800)).await;
        g.finish(Duration::from_secs(10)).await;
        res
    }
    .await;
    raw.stop().await;
    let mut res = r?;
    // The ceiling is only the generator's when the sweep ended on the generator's limit; if
    // the raw server gave out first, no server under test can outrun the generator either.
    let steps = res["steps"].as_array().cloned().unwrap_or_default();
    let best = steps
        .iter()
        .filter(|s| s["label"] != "warmup" && s["valid"] == true && s["sustained"] == true)
        .filter_map(|s| s["delivered_per_s"].as_f64())
        .fold(0.0, f64::max);
    let gen_bound = res["generator_bound"] == true;
    res["payload_bytes"] = json!(payload_bytes);
    res["max_valid_delivered_per_s"] = json!(best);
    res["ceiling"] = if gen_bound && best > 0.0 {
        json!(best)
    } else {
        Value::Null
    };
    Ok(res)
}
