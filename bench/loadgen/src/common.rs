//! Pieces every workload uses: source addresses, the JSON-lines protocol with the driver, the stop
//! signal, error tallies and clocks.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncBufReadExt;

/// Prints one JSON line on stdout (the driver reads these) and flushes.
pub fn emit(v: &serde_json::Value) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Prints a progress note on stderr.
pub fn note(msg: &str) {
    let _ = writeln!(io::stderr(), "loadgen: {msg}");
}

/// The source address of connection `i` (round robin), or none (the kernel chooses).
pub fn src_ip(ips: &[IpAddr], i: usize) -> Option<IpAddr> {
    if ips.is_empty() {
        None
    } else {
        Some(ips[i % ips.len()])
    }
}

/// Waits for `stop` (or the end of stdin) from the driver, at most `max`.
pub async fn wait_stop(max: Duration) {
    let wait = async {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            match lines.next_line().await {
                Ok(Some(l)) if l.trim() == "stop" => return,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    };
    let _ = tokio::time::timeout(max, wait).await;
}

/// Counts errors by a short description.
#[derive(Debug, Default)]
pub struct Errors(pub BTreeMap<String, u64>);

impl Errors {
    /// Counts one error.
    pub fn add(&mut self, e: &io::Error) {
        let mut s = format!("{:?}: {e}", e.kind());
        if s.len() > 100 {
            let mut cut = 100;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
        }
        *self.0.entry(s).or_default() += 1;
    }

    /// Total count.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// As JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }
}

/// Microseconds since the Unix epoch (for aligning processes).
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Monotonic microseconds since this process's first call (the generator's clock; the send
/// times carried in payloads are on it).
#[inline]
pub fn now_us() -> u64 {
    base().elapsed().as_micros() as u64
}

/// The `Instant` of a [`now_us`] value.
pub fn instant_of(us: u64) -> tokio::time::Instant {
    tokio::time::Instant::from_std(base() + Duration::from_micros(us))
}

/// Sleeps until the Unix time `unix_ms` (no-op if past).
pub async fn sleep_until_unix_ms(unix_ms: u64) {
    let now = unix_us() / 1000;
    if unix_ms > now {
        tokio::time::sleep(Duration::from_millis(unix_ms - now)).await;
    }
}

/// Parses `a,b,c` into IP addresses.
pub fn parse_ips(s: &str) -> Result<Vec<IpAddr>, String> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| x.trim().parse().map_err(|e| format!("{x}: {e}")))
        .collect()
}
