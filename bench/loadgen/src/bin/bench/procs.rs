//! Child processes of the driver: Redis, the servers under test (Node, Rust, the raw fan-out
//! server), and load generator processes; each pinned with `taskset`, killed when dropped.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Driver errors are plain messages.
pub type Res<T> = Result<T, String>;

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> Res<u16> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// The last `n` bytes of a log file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let start = s.len().saturating_sub(n);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    s[i..].to_owned()
}

/// A child process with its log file; killed on drop.
pub struct Proc {
    /// What it is (for messages).
    pub name: String,
    /// The process.
    pub child: Child,
    /// Its pid.
    pub pid: u32,
    /// Where its stderr (and stdout unless piped) goes.
    pub log: PathBuf,
    stdout: Option<Lines<BufReader<ChildStdout>>>,
    stdin: Option<ChildStdin>,
}

impl Proc {
    /// Spawns `taskset -c <core> <program> <args>` with `env`; stdout piped when `pipe_stdout`.
    pub fn spawn(
        name: &str,
        core: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: PathBuf,
        pipe_stdout: bool,
    ) -> Res<Self> {
        let logf = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let logf2 = logf.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(core).arg(program).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stderr(Stdio::from(logf))
            .kill_on_drop(true);
        if pipe_stdout {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(Stdio::from(logf2));
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {name} ({}): {e}", program.display()))?;
        let pid = child.id().ok_or_else(|| format!("{name} exited at once"))?;
        let stdout = child.stdout.take().map(|s| BufReader::new(s).lines());
        let stdin = child.stdin.take();
        Ok(Self {
            name: name.to_owned(),
            child,
            pid,
            log,
            stdout,
            stdin,
        })
    }

    /// The next JSON line on stdout (non-JSON lines are skipped), within `timeout`.
    pub async fn next_json(&mut self, timeout: Duration) -> Res<Value> {
        let name = self.name.clone();
        let log = self.log.clone();
        let Some(lines) = self.stdout.as_mut() else {
            return Err(format!("{name}: stdout not piped"));
        };
        let fut = async {
            loop {
                match lines.next_line().await {
                    Ok(Some(l)) => {
                        if let Ok(v) = serde_json::from_str::<Value>(&l) {
                            return Ok(v);
                        }
                    }
                    Ok(None) => {
                        return Err(format!(
                            "{name} ended without a result; log tail:\n{}",
                            tail(&log, 3000)
                        ));
                    }
                    Err(e) => return Err(format!("{name}: {e}")),
                }
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "{name}: no result within {timeout:?}; log tail:\n{}",
                tail(&self.log, 3000)
            )),
        }
    }

    /// The next JSON line whose `event` is `event`.
    pub async fn expect_event(&mut self, event: &str, timeout: Duration) -> Res<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let v = self.next_json(left).await?;
            if v.get("event").and_then(Value::as_str) == Some(event) {
                return Ok(v);
            }
        }
    }

    /// Writes a line to stdin.
    pub async fn send_line(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = s.write_all(format!("{line}\n").as_bytes()).await;
            let _ = s.flush().await;
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the process and reaps it (bounded).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// Waits for it to exit by itself (bounded), then kills it.
    pub async fn finish(mut self, timeout: Duration) {
        if tokio::time::timeout(timeout, self.child.wait())
            .await
            .is_err()
        {
            self.stop().await;
        }
    }
}

/// One HTTP GET on 127.0.0.1 (Connection: close); status and body.
pub async fn http_get(port: u16, path: &str) -> Res<(u16, String)> {
    let fut = async {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(3), fut)
        .await
        .map_err(|_| "HTTP GET timed out".to_owned())?
}

/// A `redis-server` on a free port, no persistence, pinned to `core`.
pub struct Redis {
    /// The process.
    pub proc: Proc,
    /// Its port.
    pub port: u16,
}

impl Redis {
    /// Starts it and waits for PONG.
    pub async fn start(core: &str, dir: &Path, tag: &str) -> Res<Self> {
        let port = free_port()?;
        let args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--dir",
            &dir.display().to_string(),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut proc = Proc::spawn(
            &format!("redis-{tag}"),
            core,
            Path::new("redis-server"),
            &args,
            &[],
            dir.join(format!("redis-{tag}.log")),
            false,
        )?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
                let _ = s.write_all(b"PING\r\n").await;
                let mut b = [0u8; 16];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(1), s.read(&mut b)).await
                    && b[..n].starts_with(b"+PONG")
                {
                    return Ok(Self { proc, port });
                }
            }
            if !proc.running() || tokio::time::Instant::now() > deadline {
                return Err(format!(
                    "redis-server did not start: {}",
                    tail(&proc.log, 2000)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }
}

/// Which server implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Kind {
    /// Node socket.io 4.8 + @socket.io/redis-adapter 8.
    #[serde(rename = "node")]
    Node,
    /// The project's server, `TOKIO_WORKER_THREADS=1`.
    #[serde(rename = "rust")]
    Rust,
    /// The project's server with two tokio workers (on the one server core).
    #[serde(rename = "rust-mt")]
    RustMt,
}

impl Kind {
    /// Its name in results.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Rust => "rust",
            Kind::RustMt => "rust-mt",
        }
    }
}

/// Paths and settings shared by every server start.
#[derive(Debug, Clone)]
pub struct ServerEnv {
    /// `target/<profile>/server`.
    pub rust_bin: PathBuf,
    /// `bench/node/server.mjs`.
    pub node_script: PathBuf,
    /// `target/<profile>/rawfan`.
    pub rawfan_bin: PathBuf,
    /// Engine.IO ping interval, ms.
    pub ping_interval_ms: u64,
    /// Engine.IO ping timeout, ms.
    pub ping_timeout_ms: u64,
    /// Redis Streams with connection state recovery instead of pub/sub (`--redis-mode streams`).
    pub streams: bool,
    /// The server core (`taskset -c`).
    pub core: String,
}

/// A server replica under test.
pub struct Server {
    /// The process.
    pub proc: Proc,
    /// socket.io port.
    pub port: u16,
    /// Name in results (`node-1`, `rust-2`, ...).
    pub id: String,
    /// The Rust server's admin port (metrics).
    pub admin_port: Option<u16>,
}

impl Server {
    /// Starts replica `n` (1-based) of `kind` on Redis `redis_port`, with `transports`. The ports are
    /// picked free before the server binds them, so another process may take one in between (a busy
    /// machine): the start is then retried on new ports, at most three times.
    pub async fn start(
        kind: Kind,
        n: usize,
        redis_port: u16,
        transports: &str,
        env: &ServerEnv,
        dir: &Path,
    ) -> Res<Self> {
        let mut attempt = 1;
        loop {
            match Self::start_once(kind, n, redis_port, transports, env, dir).await {
                Err(e) if attempt < 3 && e.to_lowercase().contains("address already in use") => {
                    attempt += 1
                }
                other => return other,
            }
        }
    }

    async fn start_once(
        kind: Kind,
        n: usize,
        redis_port: u16,
        transports: &str,
        env: &ServerEnv,
        dir: &Path,
    ) -> Res<Self> {
        let port = free_port()?;
        let id = format!("{}-{n}", kind.name());
        let redis_url = format!("redis://127.0.0.1:{redis_port}");
        let log = dir.join(format!("{id}.log"));
        match kind {
            Kind::Node => {
                let vars: Vec<(String, String)> = [
                    ("NODE_ENV", "production".to_owned()),
                    ("PORT", port.to_string()),
                    ("HOST", "127.0.0.1".to_owned()),
                    ("REDIS_URL", redis_url),
                    ("NODE_ID", id.clone()),
                    ("TRANSPORTS", transports.to_owned()),
                    ("PING_INTERVAL", env.ping_interval_ms.to_string()),
                    ("PING_TIMEOUT", env.ping_timeout_ms.to_string()),
                    ("RATE_LIMIT", "1000000".to_owned()),
                    ("RATE_BURST", "1000000".to_owned()),
                    (
                        "ADAPTER",
                        if env.streams { "streams" } else { "classic" }.to_owned(),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                let mut proc = Proc::spawn(
                    &id,
                    &env.core,
                    Path::new("node"),
                    &[env.node_script.display().to_string()],
                    &vars,
                    log,
                    true,
                )?;
                let v = proc.next_json(Duration::from_secs(20)).await?;
                if v.get("ready").and_then(Value::as_bool) != Some(true) {
                    return Err(format!("{id}: unexpected first line {v}"));
                }
                Ok(Self {
                    proc,
                    port,
                    id,
                    admin_port: None,
                })
            }
            Kind::Rust | Kind::RustMt => {
                let admin = free_port()?;
                let mut args: Vec<String> = [
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--admin-port",
                    &admin.to_string(),
                    "--redis-url",
                    &redis_url,
                    "--node-id",
                    &id,
                    "--transports",
                    transports,
                    "--presence",
                    "off",
                    "--max-buffer",
                    "1000000",
                    // Node has no byte budget: none here either, for the comparison.
                    "--max-buffer-bytes",
                    "1073741824",
                    "--rate-limit",
                    "1000000",
                    "--rate-burst",
                    "1000000",
                    "--ping-interval",
                    &env.ping_interval_ms.to_string(),
                    "--ping-timeout",
                    &env.ping_timeout_ms.to_string(),
                ]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
                if env.streams {
                    args.extend(["--redis-mode", "streams", "--recovery", "on"].map(str::to_owned));
                }
                // Pinned to one core, tokio's default would also be one worker (it counts the
                // cores the process may use), so the multi-threaded variant asks for two.
                let workers = if kind == Kind::Rust { "1" } else { "2" };
                let vars = vec![
                    ("RUST_LOG".to_owned(), "warn".to_owned()),
                    ("TOKIO_WORKER_THREADS".to_owned(), workers.to_owned()),
                ];
                let mut proc =
                    Proc::spawn(&id, &env.core, &env.rust_bin, &args, &vars, log, false)?;
                // Ready when it answers /ready and its adapter is connected to Redis.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                loop {
                    if let Ok((200, body)) = http_get(admin, "/metrics").await
                        && body
                            .lines()
                            .any(|l| l.starts_with("sio_adapter_connected") && l.ends_with(" 1"))
                        && matches!(http_get(admin, "/ready").await, Ok((200, _)))
                    {
                        return Ok(Self {
                            proc,
                            port,
                            id,
                            admin_port: Some(admin),
                        });
                    }
                    if !proc.running() || tokio::time::Instant::now() > deadline {
                        return Err(format!(
                            "{id} did not become ready: {}",
                            tail(&proc.log, 2000)
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Its socket.io address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The Rust server's counters that explain lost deliveries (publish errors, slow consumers,
    /// disconnections), from its Prometheus endpoint; nothing for Node.
    pub async fn counters(&self) -> Value {
        let Some(admin) = self.admin_port else {
            return Value::Null;
        };
        let Ok((200, body)) = http_get(admin, "/metrics").await else {
            return Value::Null;
        };
        let mut out = serde_json::Map::new();
        for line in body.lines() {
            if line.starts_with('#') {
                continue;
            }
            let interesting = [
                "sio_adapter_publish_errors",
                "sio_adapter_published",
                "sio_adapter_received",
                "sio_adapter_reconnects",
                "sio_adapter_malformed",
                "sio_slow_consumer_disconnects",
                "sio_disconnections",
                "sio_packets_sent",
            ];
            if interesting.iter().any(|p| line.starts_with(p))
                && let Some((k, v)) = line.rsplit_once(' ')
                && let Ok(v) = v.parse::<f64>()
            {
                out.insert(k.to_owned(), serde_json::json!(v));
            }
        }
        Value::Object(out)
    }
}

/// The raw fan-out calibration server.
pub async fn start_rawfan(env: &ServerEnv, dir: &Path) -> Res<(Proc, u16)> {
    let mut proc = Proc::spawn(
        "rawfan",
        &env.core,
        &env.rawfan_bin,
        &[],
        &[],
        dir.join("rawfan.log"),
        true,
    )?;
    let v = proc.next_json(Duration::from_secs(10)).await?;
    let port = v
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| format!("rawfan: unexpected first line {v}"))?;
    Ok((proc, port))
}

/// Hands out distinct groups of loopback source addresses (127.x.y.z), so that no two generator
/// processes of a run share a source address and no run reuses one of an earlier run.
pub struct SrcAlloc {
    next: u32,
    base: u32,
}

impl SrcAlloc {
    /// Starts at a block chosen from the process id (different runs, different blocks).
    pub fn new() -> Self {
        Self {
            next: 0,
            base: (std::process::id() % 40) * 1000,
        }
    }

    /// `n` fresh addresses, comma-separated.
    pub fn take(&mut self, n: usize) -> String {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let k = self.base + self.next;
            self.next += 1;
            // 127.(20 + k / 62500 % 200).(k / 250 % 250).(k % 250 + 2)
            let a = 20 + (k / 62_500) % 200;
            let b = (k / 250) % 250;
            let c = k % 250 + 2;
            out.push(format!("127.{a}.{b}.{c}"));
        }
        out.join(",")
    }
}

/// Reads memory of several pids.
pub fn mem_of(pids: &HashMap<String, u32>) -> HashMap<String, loadgen::procfs::Mem> {
    pids.iter()
        .map(|(k, p)| (k.clone(), loadgen::procfs::mem(*p).unwrap_or_default()))
        .collect()
}
