//! `loadgen`: the load generator's command line. Each subcommand runs one workload on a
//! single-threaded runtime (pin the process with `taskset`) and reports JSON lines on stdout.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use loadgen::common::parse_ips;
use loadgen::eio::{Mode, Target};
use loadgen::fanout::{self, FanoutArgs, Layout};
use loadgen::idle::{self, HoldArgs};

#[derive(Parser)]
#[command(about = "Open-loop socket.io load generator (see bench/README.md)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Idle clients: each joins a personal and a shared room, then is held answering pings.
    Idle(IdleCli),
    /// Connect storm: open connections with a bounded number in flight, time each handshake.
    Storm(StormCli),
    /// Fan-out: rooms of receivers, open-loop rate sweep, latency and loss per step.
    Fanout(FanoutCli),
}

#[derive(Args, Clone)]
struct Common {
    /// Servers, `host:port` comma list (replica 1 first).
    #[arg(long, value_delimiter = ',', required = true)]
    targets: Vec<SocketAddr>,
    /// Engine.IO path.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// Source addresses (127.x.y.z), comma list, round robin over connections.
    #[arg(long, default_value = "")]
    src_ips: String,
    /// Connections being set up at the same time.
    #[arg(long, default_value_t = 256)]
    inflight: usize,
    /// `ws` or `polling` (handshake over long-polling, then upgrade).
    #[arg(long, value_enum, default_value_t = Mode::Ws)]
    mode: Mode,
    /// Initial read buffer per connection, bytes.
    #[arg(long, default_value_t = 2048)]
    read_capacity: usize,
    /// Longest setup time per connection, seconds.
    #[arg(long, default_value_t = 60.0)]
    setup_timeout: f64,
}

impl Common {
    fn targets(&self) -> Vec<Target> {
        self.targets
            .iter()
            .map(|&addr| Target {
                addr,
                path: self.path.clone(),
            })
            .collect()
    }
}

#[derive(Args)]
struct IdleCli {
    #[command(flatten)]
    common: Common,
    /// Clients of this process.
    #[arg(long)]
    clients: usize,
    /// First client number (personal rooms `u<n>`).
    #[arg(long, default_value_t = 0)]
    id_offset: usize,
    /// Shared room.
    #[arg(long, default_value = "lobby")]
    shared_room: String,
    /// Longest hold without `stop` on stdin, seconds.
    #[arg(long, default_value_t = 600)]
    max_hold: u64,
    /// Start at this Unix time (ms).
    #[arg(long)]
    start_at_unix_ms: Option<u64>,
}

#[derive(Args)]
struct StormCli {
    #[command(flatten)]
    common: Common,
    /// Connections of this process.
    #[arg(long)]
    clients: usize,
    /// Start at this Unix time (ms), to align several processes.
    #[arg(long)]
    start_at_unix_ms: Option<u64>,
    /// Longest hold without `stop` on stdin, seconds.
    #[arg(long, default_value_t = 600)]
    max_hold: u64,
}

#[derive(Args)]
struct FanoutCli {
    #[command(flatten)]
    common: Common,
    /// Room layout.
    #[arg(long, value_enum, default_value_t = Layout::Big)]
    layout: Layout,
    /// Room members (big, split) or clients (chat).
    #[arg(long, default_value_t = 10_000)]
    receivers: usize,
    /// Members per room (chat).
    #[arg(long, default_value_t = 10)]
    room_size: usize,
    /// Approximate size of each message's data, bytes.
    #[arg(long, default_value_t = 0)]
    payload_bytes: usize,
    /// First rate (messages/s).
    #[arg(long, default_value_t = 1.0)]
    start_rate: f64,
    /// Highest rate.
    #[arg(long, default_value_t = 100_000.0)]
    max_rate: f64,
    /// Rate multiplier between steps.
    #[arg(long, default_value_t = 2.0)]
    factor: f64,
    /// Bisection steps after the sweep.
    #[arg(long, default_value_t = 2)]
    refine: usize,
    /// Sending seconds per step.
    #[arg(long, default_value_t = 3.0)]
    step_secs: f64,
    /// Seconds after the last send within which deliveries must arrive.
    #[arg(long, default_value_t = 1.0)]
    drain_secs: f64,
    /// Longest wait for a backlog to clear, seconds.
    #[arg(long, default_value_t = 30.0)]
    backlog_secs: f64,
    /// p99 limit for capacity, ms.
    #[arg(long, default_value_t = 50.0)]
    p99_limit_ms: f64,
    /// One more step at this fraction of the capacity.
    #[arg(long)]
    extra_fraction: Option<f64>,
    /// Processes to measure, `name=pid` comma list.
    #[arg(long, value_delimiter = ',')]
    watch: Vec<String>,
    /// Redis to read INFO from, `host:port`.
    #[arg(long)]
    redis: Option<SocketAddr>,
    /// Generator busy fraction above which a step is invalid.
    #[arg(long, default_value_t = 0.9)]
    gen_busy_limit: f64,
    /// Send lag p99 (ms) above which a step is invalid.
    #[arg(long, default_value_t = 5.0)]
    max_send_lag_ms: f64,
    /// Calibrated generator ceiling, deliveries/s.
    #[arg(long)]
    ceiling: Option<f64>,
    /// Other processes' share of a core (user time) above which a step is invalid.
    #[arg(long, default_value_t = 0.15)]
    max_foreign: f64,
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.cmd {
        Cmd::Idle(a) => {
            let src_ips = match parse_ips(&a.common.src_ips) {
                Ok(v) => v,
                Err(e) => return usage(&e),
            };
            rt.block_on(idle::run(HoldArgs {
                targets: a.common.targets(),
                clients: a.clients,
                id_offset: a.id_offset,
                shared_room: Some(a.shared_room),
                personal_room: true,
                inflight: a.common.inflight,
                mode: a.common.mode,
                src_ips,
                start_at_unix_ms: a.start_at_unix_ms,
                max_hold: Duration::from_secs(a.max_hold),
                setup_timeout: Duration::from_secs_f64(a.common.setup_timeout),
                read_capacity: a.common.read_capacity,
                raw_latencies: false,
            }));
        }
        Cmd::Storm(a) => {
            let src_ips = match parse_ips(&a.common.src_ips) {
                Ok(v) => v,
                Err(e) => return usage(&e),
            };
            rt.block_on(idle::run(HoldArgs {
                targets: a.common.targets(),
                clients: a.clients,
                id_offset: 0,
                shared_room: None,
                personal_room: false,
                inflight: a.common.inflight,
                mode: a.common.mode,
                src_ips,
                start_at_unix_ms: a.start_at_unix_ms,
                max_hold: Duration::from_secs(a.max_hold),
                setup_timeout: Duration::from_secs_f64(a.common.setup_timeout),
                read_capacity: a.common.read_capacity,
                raw_latencies: true,
            }));
        }
        Cmd::Fanout(a) => {
            let src_ips = match parse_ips(&a.common.src_ips) {
                Ok(v) => v,
                Err(e) => return usage(&e),
            };
            let mut watch = Vec::new();
            for w in &a.watch {
                let Some((name, pid)) = w.split_once('=') else {
                    return usage(&format!("--watch {w}: expected name=pid"));
                };
                let Ok(pid) = pid.parse::<u32>() else {
                    return usage(&format!("--watch {w}: bad pid"));
                };
                watch.push((name.to_owned(), pid));
            }
            if a.start_rate <= 0.0 || a.factor <= 1.0 {
                return usage("--start-rate must be > 0 and --factor > 1");
            }
            rt.block_on(fanout::run(FanoutArgs {
                targets: a.common.targets(),
                layout: a.layout,
                receivers: a.receivers,
                room_size: a.room_size,
                payload_bytes: a.payload_bytes,
                start_rate: a.start_rate,
                max_rate: a.max_rate,
                factor: a.factor,
                refine: a.refine,
                step_secs: a.step_secs,
                drain_secs: a.drain_secs,
                backlog_secs: a.backlog_secs,
                p99_limit_ms: a.p99_limit_ms,
                extra_fraction: a.extra_fraction,
                watch,
                redis: a.redis,
                src_ips,
                inflight: a.common.inflight,
                gen_busy_limit: a.gen_busy_limit,
                max_send_lag_ms: a.max_send_lag_ms,
                ceiling: a.ceiling,
                max_foreign: a.max_foreign,
                read_capacity: a.common.read_capacity,
                setup_timeout: Duration::from_secs_f64(a.common.setup_timeout),
                mode: a.common.mode,
            }));
        }
    }
    ExitCode::SUCCESS
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("loadgen: {msg}");
    ExitCode::from(2)
}
