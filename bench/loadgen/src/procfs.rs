//! Readings from `/proc`: a process's CPU time and resident memory, per-core busy times, the load
//! average, and Redis `INFO` over a plain TCP connection.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `USER_HZ`: the unit of `/proc/<pid>/stat` and `/proc/stat` times (100 on Linux x86_64).
pub const TICKS_PER_SEC: u64 = 100;

/// User and system CPU time of a process (all its threads, dead ones included), in ticks.
pub fn cpu_ticks(pid: u32) -> io::Result<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat_times(&s).ok_or_else(|| io::Error::other(format!("cannot parse /proc/{pid}/stat")))
}

/// (utime, stime) from the text of `/proc/<pid>/stat`.
fn parse_stat_times(s: &str) -> Option<(u64, u64)> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(0) ppid(1) ... utime is field 14 overall, i.e. index 11 here.
    let utime = f.get(11)?.parse().ok()?;
    let stime = f.get(12)?.parse().ok()?;
    Some((utime, stime))
}

/// CPU seconds (user + system) of a process.
pub fn cpu_secs(pid: u32) -> io::Result<f64> {
    let (u, s) = cpu_ticks(pid)?;
    Ok((u + s) as f64 / TICKS_PER_SEC as f64)
}

/// CPU seconds of this process.
pub fn self_cpu_secs() -> f64 {
    cpu_secs(std::process::id()).unwrap_or(0.0)
}

/// User-mode CPU seconds of a process (0 when it cannot be read).
pub fn user_secs(pid: u32) -> f64 {
    cpu_ticks(pid).map_or(0.0, |(u, _)| u as f64 / TICKS_PER_SEC as f64)
}

/// User-mode time on core `core` between two readings not accounted to `ours` (user seconds of
/// the processes pinned there), as a fraction of the core: other work on the machine. Kernel and
/// interrupt time is left out on purpose (the network stack's work for our processes lands
/// there without being charged to them).
pub fn foreign_user_fraction(
    before: &[CoreTimes],
    after: &[CoreTimes],
    core: usize,
    ours_user_secs: f64,
) -> f64 {
    let (Some(b), Some(a)) = (before.get(core), after.get(core)) else {
        return 0.0;
    };
    let d = a.since(b);
    let total = d.total().max(1) as f64;
    let user = d.user as f64 / TICKS_PER_SEC as f64;
    let wall = total / TICKS_PER_SEC as f64;
    ((user - ours_user_secs) / wall).max(0.0)
}

/// Memory of a process from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Mem {
    /// Resident set (`VmRSS`).
    pub rss_kb: u64,
    /// Anonymous resident memory (`RssAnon`): the heap and stacks.
    pub anon_kb: u64,
    /// Peak resident set (`VmHWM`).
    pub hwm_kb: u64,
}

/// Reads [`Mem`] of a process.
pub fn mem(pid: u32) -> io::Result<Mem> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mut m = Mem::default();
    for line in s.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match k {
            "VmRSS:" => m.rss_kb = v,
            "RssAnon:" => m.anon_kb = v,
            "VmHWM:" => m.hwm_kb = v,
            _ => {}
        }
    }
    Ok(m)
}

/// Number of threads of a process.
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// Busy times of one core from `/proc/stat`, in ticks.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CoreTimes {
    /// user + nice.
    pub user: u64,
    /// system.
    pub system: u64,
    /// irq + softirq.
    pub irq: u64,
    /// idle + iowait.
    pub idle: u64,
    /// steal.
    pub steal: u64,
}

impl CoreTimes {
    /// Sum of every field.
    pub fn total(&self) -> u64 {
        self.user + self.system + self.irq + self.idle + self.steal
    }

    /// Field-wise difference `self - earlier`.
    pub fn since(&self, earlier: &CoreTimes) -> CoreTimes {
        CoreTimes {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            irq: self.irq.saturating_sub(earlier.irq),
            idle: self.idle.saturating_sub(earlier.idle),
            steal: self.steal.saturating_sub(earlier.steal),
        }
    }
}

/// Per-core times, indexed by core number.
pub fn cores() -> Vec<CoreTimes> {
    let Ok(s) = std::fs::read_to_string("/proc/stat") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in s.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .skip(1)
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        let g = |i: usize| f.get(i).copied().unwrap_or(0);
        out.push(CoreTimes {
            user: g(0) + g(1),
            system: g(2),
            idle: g(3) + g(4),
            irq: g(5) + g(6),
            steal: g(7),
        });
    }
    out
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0.0)
}

/// Sends `INFO <sections>` to Redis at `addr` (inline command) and parses `key:value` lines.
pub async fn redis_info(addr: SocketAddr, sections: &str) -> io::Result<HashMap<String, String>> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("INFO {sections}\r\n").as_bytes())
            .await?;
        let mut buf = Vec::with_capacity(8192);
        let mut chunk = [0u8; 8192];
        // `$<len>\r\n<body>\r\n`
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::Error::other("redis closed the connection"));
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(nl) = memchr::memmem::find(&buf, b"\r\n") {
                let len: usize = std::str::from_utf8(buf.get(1..nl).unwrap_or_default())
                    .ok()
                    .and_then(|x| x.parse().ok())
                    .ok_or_else(|| io::Error::other("bad INFO reply"))?;
                if buf.len() >= nl + 2 + len {
                    let body = String::from_utf8_lossy(&buf[nl + 2..nl + 2 + len]).into_owned();
                    let _ = s.set_zero_linger();
                    return Ok(body);
                }
            }
        }
    };
    let body = tokio::time::timeout(Duration::from_secs(3), fut)
        .await
        .map_err(|_| io::Error::other("redis INFO timed out"))??;
    let mut map = HashMap::new();
    for line in body.lines() {
        if let Some((k, v)) = line.split_once(':') {
            map.insert(k.to_owned(), v.to_owned());
        }
    }
    Ok(map)
}

/// A Redis counter snapshot: CPU seconds, commands, reads (events), PUBLISH calls.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RedisSnap {
    /// `used_cpu_sys + used_cpu_user`.
    pub cpu_secs: f64,
    /// `total_commands_processed`.
    pub commands: u64,
    /// `total_reads_processed`: read events on client connections.
    pub reads: u64,
    /// `cmdstat_publish` calls (and `spublish`).
    pub publishes: u64,
}

/// Takes a [`RedisSnap`].
pub async fn redis_snap(addr: SocketAddr) -> io::Result<RedisSnap> {
    let m = redis_info(addr, "all").await?;
    let f = |k: &str| {
        m.get(k)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let u = |k: &str| {
        m.get(k)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let calls = |k: &str| {
        m.get(k)
            .and_then(|v| {
                v.split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))
                    .and_then(|c| c.parse::<u64>().ok())
            })
            .unwrap_or(0)
    };
    Ok(RedisSnap {
        cpu_secs: f("used_cpu_sys") + f("used_cpu_user"),
        commands: u("total_commands_processed"),
        reads: u("total_reads_processed"),
        publishes: calls("cmdstat_publish") + calls("cmdstat_spublish"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_names() {
        let s = "1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 111 222 0 0 20 0 1 0";
        assert_eq!(parse_stat_times(s), Some((111, 222)));
    }

    #[test]
    fn reads_self() {
        assert!(mem(std::process::id()).unwrap().rss_kb > 0);
        assert!(cpu_ticks(std::process::id()).is_ok());
        assert!(!cores().is_empty());
    }
}
