//! `bench`: the benchmark driver. Runs Node socket.io and the Rust server side by side on this
//! machine — A B B A per cycle, a fresh Redis and fresh replicas per workload, servers and Redis
//! pinned to one core and the generator to the other, the generator calibrated against the raw
//! fan-out server each cycle — and writes `<date>.json` (every raw number) and `<date>.md` (the
//! tables) to `bench/results/` (`--smoke`: to `target/bench-smoke/`). See `bench/README.md`.

mod procs;
mod report;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use loadgen::eio::Mode;
use serde_json::{Value, json};

use procs::{Kind, Res, ServerEnv, SrcAlloc};
use workloads::{Ctx, Settings, Variant};

#[derive(Parser)]
#[command(about = "Benchmark driver: Node socket.io vs the Rust server (see bench/README.md)")]
struct Cli {
    /// The tiny configuration that runs in the test command.
    #[arg(long)]
    smoke: bool,
    /// Cycles of A B B A (default: 3, smoke: 1 cycle of A B).
    #[arg(long)]
    cycles: Option<usize>,
    /// Leave out the Rust run with two tokio workers (multi-threaded, on the same core).
    #[arg(long)]
    no_mt: bool,
    /// Run order within a cycle instead of A B B A (+ rust-mt): comma list of node, rust,
    /// rust-mt (e.g. `--order rust` to measure the Rust server alone while tuning it).
    #[arg(long, value_delimiter = ',')]
    order: Vec<String>,
    /// Leave out the calibration against the raw fan-out server.
    #[arg(long)]
    no_calibrate: bool,
    /// Only these workloads (comma list of idle-ws, idle-polling, storm-ws, storm-polling,
    /// fanout-big, fanout-big-2k, fanout-split, fanout-chat, fanout-big-1k).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Engine.IO ping interval for both implementations, ms (the idle hold is two of them).
    #[arg(long)]
    ping_interval: Option<u64>,
    /// Idle clients per replica.
    #[arg(long)]
    idle_per_replica: Option<usize>,
    /// Fan-out room size / chat clients.
    #[arg(long)]
    receivers: Option<usize>,
    /// Connect storm connections.
    #[arg(long)]
    storm_clients: Option<usize>,
    /// Sending seconds per fan-out step.
    #[arg(long)]
    step_secs: Option<f64>,
    /// Output directory (default bench/results, smoke: target/bench-smoke).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Cargo profile whose binaries to run.
    #[arg(long, default_value = "release")]
    profile: String,
    /// The cluster protocol of both implementations: `classic` (pub/sub: Node's redis-adapter, the server's
    /// default) or `streams` (Redis Streams with connection state recovery on: Node's
    /// redis-streams-adapter, the server's `--redis-mode streams --recovery on`), to measure what recovery costs.
    #[arg(long, default_value = "classic", value_parser = ["classic", "streams"])]
    redis_mode: String,
    /// Give up after this many minutes.
    #[arg(long)]
    max_minutes: Option<u64>,
    /// Recompute the summary of an earlier results JSON and rewrite it and its Markdown (no run).
    #[arg(long)]
    render: Option<PathBuf>,
}

/// `--render`: summary and Markdown again from the raw runs of a results file.
fn render(path: &Path) -> Res<()> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let runs = doc["runs"].as_array().cloned().unwrap_or_default();
    let smoke = doc["meta"]["settings"]["smoke"] == true;
    let calibration = doc["calibration"].as_array().cloned().unwrap_or_default();
    doc["summary"] = report::summarize(&runs, &calibration, smoke);
    let out = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    let md = path.with_extension("md");
    std::fs::write(&md, report::markdown(&doc)).map_err(|e| format!("{}: {e}", md.display()))?;
    eprintln!("bench: rewrote {} and {}", path.display(), md.display());
    Ok(())
}

/// Writes the results JSON (raw runs and their summary) and its Markdown beside it; returns both.
fn write_results(
    json_path: &Path,
    meta: &Value,
    calibration: &[Value],
    runs: &[Value],
    smoke: bool,
) -> Res<(Value, String)> {
    let summary = report::summarize(runs, calibration, smoke);
    let doc = json!({"meta": meta, "calibration": calibration, "runs": runs, "summary": summary});
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(json_path, text).map_err(|e| format!("{}: {e}", json_path.display()))?;
    let md = report::markdown(&doc);
    let md_path = json_path.with_extension("md");
    std::fs::write(&md_path, &md).map_err(|e| format!("{}: {e}", md_path.display()))?;
    Ok((doc, md))
}

fn settings(cli: &Cli) -> Settings {
    let smoke = cli.smoke;
    let receivers = cli.receivers.unwrap_or(if smoke { 200 } else { 10_000 });
    let v = |name: &str, layout: &str, payload: usize, start: f64, max: f64, extra: Option<f64>| {
        Variant {
            name: name.to_owned(),
            layout: layout.to_owned(),
            receivers,
            payload_bytes: payload,
            start_rate: start,
            max_rate: max,
            extra_fraction: extra,
        }
    };
    let mut variants = if smoke {
        vec![
            v("big", "big", 0, 10.0, 10.0, None),
            v("chat", "chat", 0, 40.0, 40.0, Some(0.25)),
        ]
    } else {
        vec![
            v("big", "big", 0, 1.0, 2000.0, None),
            // The engine issue's fan-out room: 2,000 receivers.
            Variant {
                name: "big-2k".to_owned(),
                receivers: receivers.min(2_000),
                ..v("big-2k", "big", 0, 5.0, 10_000.0, None)
            },
            v("split", "split", 0, 1.0, 2000.0, None),
            v("chat", "chat", 0, 250.0, 200_000.0, Some(0.25)),
            v("big-1k", "big", 1024, 1.0, 2000.0, None),
        ]
    };
    let mut order = if smoke {
        vec![Kind::Node, Kind::Rust]
    } else {
        vec![Kind::Node, Kind::Rust, Kind::Rust, Kind::Node]
    };
    if !smoke && !cli.no_mt {
        order.push(Kind::RustMt);
    }
    if !cli.order.is_empty() {
        order = cli
            .order
            .iter()
            .filter_map(|k| match k.as_str() {
                "node" => Some(Kind::Node),
                "rust" => Some(Kind::Rust),
                "rust-mt" => Some(Kind::RustMt),
                _ => None,
            })
            .collect();
    }
    if !cli.only.is_empty() {
        variants.retain(|x| cli.only.iter().any(|o| o == &format!("fanout-{}", x.name)));
    }
    // The raw server is calibrated in the engine issue's fan-out room when that variant runs:
    // its throughput there is what the 2,000-receiver target compares against.
    let calibrate_receivers = if variants.iter().any(|v| v.name == "big-2k") {
        receivers.min(2_000)
    } else {
        receivers
    };
    let ping = cli
        .ping_interval
        .unwrap_or(if smoke { 500 } else { 25_000 });
    Settings {
        smoke,
        cycles: cli.cycles.unwrap_or(if smoke { 1 } else { 3 }),
        order,
        ping_interval_ms: ping,
        ping_timeout_ms: if smoke { 2000 } else { 20_000 },
        idle_per_replica: cli
            .idle_per_replica
            .unwrap_or(if smoke { 100 } else { 15_000 }),
        idle_procs: if smoke { 1 } else { 2 },
        idle_polling: !smoke,
        idle_inflight: if smoke { 32 } else { 256 },
        variants,
        step_secs: cli.step_secs.unwrap_or(if smoke { 0.5 } else { 3.0 }),
        drain_secs: if smoke { 0.5 } else { 1.0 },
        refine: if smoke { 0 } else { 2 },
        room_size: 10,
        storm_clients: cli
            .storm_clients
            .unwrap_or(if smoke { 400 } else { 30_000 }),
        storm_inflight: if smoke { 64 } else { 512 },
        storm_procs: 2,
        storm_polling: true,
        calibrate: !cli.no_calibrate,
        calibrate_receivers,
        calibrate_max_rate: if smoke { 20.0 } else { 100_000.0 },
        redis_mode: cli.redis_mode.clone(),
        relaxed: smoke,
        server_core: "0".into(),
        gen_core: "1".into(),
    }
}

fn wanted(cli: &Cli, name: &str) -> bool {
    cli.only.is_empty() || cli.only.iter().any(|o| o == name)
}

/// UTC calendar date and time of a Unix time.
fn utc(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn cmd_out(program: &str, args: &[&str]) -> String {
    let fut = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(Ok(o)) => {
            let s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            if s.is_empty() {
                String::from_utf8_lossy(&o.stderr).trim().to_owned()
            } else {
                s
            }
        }
        _ => "?".to_owned(),
    }
}

fn npm_version(root: &Path, pkg: &str) -> String {
    let p = root
        .join("bench/node/node_modules")
        .join(pkg)
        .join("package.json");
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn lock_version(root: &Path, krate: &str) -> String {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let needle = format!("name = \"{krate}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| {
            let rest = &lock[i + needle.len()..];
            rest.find('"').map(|j| rest[..j].to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// When a file was last modified (UTC), for the binaries under test.
fn mtime(path: &Path) -> String {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(
            || "?".to_owned(),
            |d| {
                let (y, mo, dd, h, mi, s) = utc(d.as_secs());
                format!("{y:04}-{mo:02}-{dd:02}T{h:02}:{mi:02}:{s:02}Z")
            },
        )
}

async fn meta(
    root: &Path,
    st: &Settings,
    started: &str,
    command: &str,
    server_bin: &Path,
) -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':').map(|(_, v)| v.trim().to_owned()))
        })
        .unwrap_or_else(|| "?".into());
    let commit = cmd_out(
        "git",
        &[
            "-C",
            &root.display().to_string(),
            "rev-parse",
            "--short",
            "HEAD",
        ],
    )
    .await;
    let dirty = cmd_out(
        "git",
        &[
            "-C",
            &root.display().to_string(),
            "status",
            "--porcelain",
            "--untracked-files=no",
        ],
    )
    .await;
    json!({
        "started": started,
        "command": command,
        "settings": st,
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "loadavg_before": loadgen::procfs::loadavg(),
        "versions": {
            "server commit": format!("{commit}{}", if dirty.is_empty() || dirty == "?" { "" } else { " (uncommitted changes)" }),
            "server binary built": mtime(server_bin),
            "rustc": cmd_out("rustc", &["--version"]).await,
            "engine": "the workspace crate engine/ (see the server commit)",
            "tokio": lock_version(root, "tokio"),
            "hyper": lock_version(root, "hyper"),
            "node": cmd_out("node", &["--version"]).await,
            "socket.io": npm_version(root, "socket.io"),
            "engine.io": npm_version(root, "engine.io"),
            "ws": npm_version(root, "ws"),
            "@socket.io/redis-adapter": npm_version(root, "@socket.io/redis-adapter"),
            "ioredis": npm_version(root, "ioredis"),
            "bufferutil": npm_version(root, "bufferutil"),
            "redis-server": cmd_out("redis-server", &["--version"]).await,
        },
    })
}

fn out_path(dir: &Path, date: &str) -> PathBuf {
    let mut n = 1;
    loop {
        let stem = if n == 1 {
            date.to_owned()
        } else {
            format!("{date}-{n}")
        };
        let p = dir.join(format!("{stem}.json"));
        if !p.exists() {
            return dir.join(stem);
        }
        n += 1;
    }
}

async fn run_kind(
    kind: Kind,
    cli: &Cli,
    st: &Settings,
    ctx: &mut Ctx,
    ceilings: &[(usize, Option<f64>)],
) -> (Value, Value) {
    let mut workloads = serde_json::Map::new();
    let mut errors = serde_json::Map::new();
    let mut record = |name: &str, r: Res<Value>| match r {
        Ok(v) => {
            workloads.insert(name.to_owned(), v);
        }
        Err(e) => {
            eprintln!("bench: {} {name} failed: {e}", kind.name());
            errors.insert(name.to_owned(), json!(e));
        }
    };
    if wanted(cli, "idle-ws") {
        eprintln!("bench: {} idle-ws", kind.name());
        record("idle-ws", workloads::idle(kind, Mode::Ws, st, ctx).await);
    }
    if st.idle_polling && wanted(cli, "idle-polling") {
        eprintln!("bench: {} idle-polling", kind.name());
        record(
            "idle-polling",
            workloads::idle(kind, Mode::Polling, st, ctx).await,
        );
    }
    for v in &st.variants {
        let ceiling = ceilings
            .iter()
            .find(|(p, _)| *p == v.payload_bytes)
            .and_then(|(_, c)| *c);
        eprintln!("bench: {} fanout-{}", kind.name(), v.name);
        record(
            &format!("fanout-{}", v.name),
            workloads::fanout(kind, v, ceiling, st, ctx).await,
        );
    }
    if wanted(cli, "storm-ws") {
        eprintln!("bench: {} storm-ws", kind.name());
        record("storm-ws", workloads::storm(kind, Mode::Ws, st, ctx).await);
    }
    if st.storm_polling && wanted(cli, "storm-polling") {
        eprintln!("bench: {} storm-polling", kind.name());
        record(
            "storm-polling",
            workloads::storm(kind, Mode::Polling, st, ctx).await,
        );
    }
    (Value::Object(workloads), Value::Object(errors))
}

async fn run(cli: Cli) -> Res<bool> {
    let st = settings(&cli);
    let root = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .map_err(|e| format!("workspace root: {e}"))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target_dir.join(&cli.profile);
    let env = ServerEnv {
        rust_bin: bin.join("server"),
        node_script: root.join("bench/node/server.mjs"),
        rawfan_bin: bin.join("rawfan"),
        ping_interval_ms: st.ping_interval_ms,
        ping_timeout_ms: st.ping_timeout_ms,
        streams: st.redis_mode == "streams",
        core: st.server_core.clone(),
    };
    for p in [&env.rust_bin, &env.rawfan_bin, &bin.join("loadgen")] {
        if !p.exists() {
            return Err(format!(
                "{} is missing: build it first (bench/run.sh does)",
                p.display()
            ));
        }
    }
    if !root.join("bench/node/node_modules/socket.io").exists() {
        return Err(
            "bench/node/node_modules is missing: run `npm ci` in bench/node (bench/run.sh does)"
                .into(),
        );
    }
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        return Err("the harness needs two cores (servers on core 0, generator on core 1)".into());
    }
    let t = now_secs();
    let (y, mo, d, h, mi, s) = utc(t);
    let date = format!("{y:04}-{mo:02}-{d:02}");
    let started = format!("{date}T{h:02}:{mi:02}:{s:02}Z");
    let out_dir = cli.out.clone().unwrap_or_else(|| {
        if st.smoke {
            target_dir.join("bench-smoke")
        } else {
            root.join("bench/results")
        }
    });
    let logs = target_dir
        .join("bench-logs")
        .join(format!("{date}T{h:02}{mi:02}{s:02}"));
    std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let command = format!(
        "bench/run.sh{}",
        std::env::args()
            .skip(1)
            .map(|a| format!(" {a}"))
            .collect::<String>()
    );
    let mut meta = meta(&root, &st, &started, &command, &env.rust_bin).await;
    eprintln!(
        "bench: {} run, {} cycle(s), logs in {}; load average {:.2}",
        if st.smoke { "smoke" } else { "full" },
        st.cycles,
        logs.display(),
        loadgen::procfs::loadavg()
    );
    let mut ctx = Ctx {
        env,
        loadgen: bin.join("loadgen"),
        dir: logs.clone(),
        src: SrcAlloc::new(),
        seq: 0,
    };
    let clock = Instant::now();
    let stem = out_path(&out_dir, &date);
    let json_path = stem.with_extension("json");
    let md_path = stem.with_extension("md");
    let mut runs = Vec::new();
    let mut calibration = Vec::new();
    for cycle in 0..st.cycles {
        let mut ceilings: Vec<(usize, Option<f64>)> = Vec::new();
        if st.calibrate {
            let mut payloads: Vec<usize> = st.variants.iter().map(|v| v.payload_bytes).collect();
            payloads.sort_unstable();
            payloads.dedup();
            for p in payloads {
                eprintln!("bench: cycle {cycle} calibration, payload {p} B");
                match workloads::calibrate(p, &st, &mut ctx).await {
                    Ok(mut c) => {
                        ceilings.push((p, c["ceiling"].as_f64()));
                        c["cycle"] = json!(cycle);
                        calibration.push(c);
                    }
                    Err(e) => {
                        eprintln!("bench: calibration failed: {e}");
                        calibration.push(json!({"cycle": cycle, "payload_bytes": p, "error": e}));
                    }
                }
            }
        }
        for (pos, kind) in st.order.iter().enumerate() {
            eprintln!("bench: cycle {cycle} run {pos}: {}", kind.name());
            let t0 = Instant::now();
            let (workloads, errors) = run_kind(*kind, &cli, &st, &mut ctx, &ceilings).await;
            runs.push(json!({
                "cycle": cycle, "position": pos, "kind": kind.name(),
                "secs": t0.elapsed().as_secs_f64(),
                "loadavg_after": loadgen::procfs::loadavg(),
                "workloads": workloads, "errors": errors,
            }));
            // Written after every run: a run cut short (time limit, signal) keeps what it measured.
            meta["complete"] = json!(false);
            write_results(&json_path, &meta, &calibration, &runs, st.smoke)?;
        }
    }
    meta["loadavg_after"] = json!(loadgen::procfs::loadavg());
    meta["elapsed_secs"] = json!(clock.elapsed().as_secs_f64());
    // Relative to the checkout when inside it: results are committed, and a machine's absolute path
    // means nothing in another clone (scripts/check-self-contained.sh rejects it).
    meta["logs"] = json!(
        logs.strip_prefix(&root)
            .unwrap_or(&logs)
            .display()
            .to_string()
    );
    meta["complete"] = json!(true);
    let (doc, md) = write_results(&json_path, &meta, &calibration, &runs, st.smoke)?;
    eprintln!(
        "bench: wrote {} and {}",
        json_path.display(),
        md_path.display()
    );
    // The harness worked when every workload produced a result and no server died.
    let mut healthy = true;
    for r in doc["runs"].as_array().into_iter().flatten() {
        let (_, problems) = report::run_validity(r);
        if r["errors"].as_object().is_some_and(|e| !e.is_empty())
            || problems
                .iter()
                .any(|p| p.contains("server exited") || p.contains("failed"))
        {
            healthy = false;
        }
    }
    println!("{md}");
    Ok(healthy)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(p) = &cli.render {
        return match render(p) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let max = Duration::from_secs(60 * cli.max_minutes.unwrap_or(if cli.smoke { 5 } else { 300 }));
    let smoke = cli.smoke;
    let outcome = rt.block_on(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let term_fut = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        // Dropping the run (on a signal or the time limit) kills every child process.
        tokio::select! {
            r = tokio::time::timeout(max, run(cli)) => r.unwrap_or_else(|_| Err(format!("gave up after {max:?}"))),
            _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
            () = term_fut => Err("terminated".into()),
        }
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("bench: some workloads failed (see the report)");
            if smoke {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}
