//! From raw runs to the summary: one number per metric per run, Rust/Node ratios per paired run
//! (A B B A: the first two runs of a cycle are a pair, the last two another), medians and spread,
//! the targets, and the Markdown table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

/// Metrics where smaller is better (for the wording only; ratios are always Rust/Node).
const LOWER_IS_BETTER: &[&str] = &[
    "idle_kb_per_conn",
    "idle_hold_cpu_us_per_conn_per_s",
    "idle_polling_kb_per_conn",
    "idle_retained_kb_per_conn",
    "chat_cross_p50_ms_at_25pct",
    "chat_cross_p99_ms_at_25pct",
    "storm_ws_p50_ms",
    "storm_ws_p99_ms",
    "storm_ws_cpu_us_per_conn",
    "storm_polling_p50_ms",
    "storm_polling_p99_ms",
    "storm_polling_cpu_us_per_conn",
    "redis_core_fraction_at_10k_publishes",
    "fanout_big-2k_p99_ms_at_40k",
    "fanout_big-2k_lost_at_40k",
];

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// One number per metric of one run (None: not measured or not valid).
pub fn run_metrics(run: &Value) -> BTreeMap<String, Option<f64>> {
    let mut m = BTreeMap::new();
    let w = &run["workloads"];
    for (key, name) in [
        ("idle-ws", "idle_kb_per_conn"),
        ("idle-polling", "idle_polling_kb_per_conn"),
    ] {
        if w.get(key).is_some() {
            let x = &w[key];
            m.insert(
                name.to_owned(),
                if x["valid"] == true {
                    f(&x["kb_per_conn"])
                } else {
                    None
                },
            );
        }
    }
    if let Some(x) = w.get("idle-ws")
        && x["valid"] == true
    {
        m.insert(
            "idle_hold_cpu_us_per_conn_per_s".to_owned(),
            f(&x["hold_cpu_us_per_conn_per_s"]),
        );
        m.insert(
            "idle_retained_kb_per_conn".to_owned(),
            f(&x["retained_kb_per_conn"]),
        );
    }
    for mode in ["ws", "polling"] {
        let key = format!("storm-{mode}");
        if let Some(x) = w.get(&key) {
            let ok = x["valid"] == true;
            let g = |v: &Value| if ok { f(v) } else { None };
            m.insert(format!("storm_{mode}_conns_per_s"), g(&x["conns_per_s"]));
            m.insert(format!("storm_{mode}_p50_ms"), g(&x["handshake"]["p50_ms"]));
            m.insert(format!("storm_{mode}_p99_ms"), g(&x["handshake"]["p99_ms"]));
            m.insert(
                format!("storm_{mode}_cpu_us_per_conn"),
                g(&x["server_cpu_us_per_conn"]),
            );
        }
    }
    if let Some(obj) = w.as_object() {
        for (key, x) in obj {
            let Some(variant) = key.strip_prefix("fanout-") else {
                continue;
            };
            let ok = x["ok"] == true;
            // A capacity of 0 needs a valid step that missed the limit; a sweep whose every
            // step was invalid (a busy machine) measured nothing.
            let any_valid = x["steps"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["label"] != "warmup" && s["valid"] == true)
            });
            let cap = if !ok || !any_valid {
                None
            } else if x["capacity"].is_null() {
                Some(0.0)
            } else {
                f(&x["capacity"]["delivered_per_s"])
            };
            m.insert(format!("fanout_{variant}_capacity_dps"), cap);
            m.insert(
                format!("fanout_{variant}_throughput_dps"),
                if ok {
                    f(&x["throughput"]["delivered_per_s"])
                } else {
                    None
                },
            );
            if variant == "big-2k" {
                // The engine issue's latency target: the valid step offering 40k deliveries/s.
                let at = x["steps"].as_array().and_then(|s| {
                    s.iter().rev().find(|s| {
                        s["label"] != "warmup"
                            && s["valid"] == true
                            && f(&s["offered_deliveries_per_s"])
                                .is_some_and(|o| (o - 40_000.0).abs() < 1.0)
                    })
                });
                m.insert(
                    "fanout_big-2k_p99_ms_at_40k".into(),
                    at.and_then(|s| f(&s["lat"]["p99_ms"])),
                );
                m.insert(
                    "fanout_big-2k_lost_at_40k".into(),
                    at.and_then(|s| f(&s["lost"])),
                );
            }
            if variant == "chat" {
                let at = x["steps"].as_array().and_then(|s| {
                    s.iter().find(|s| {
                        s["label"]
                            .as_str()
                            .is_some_and(|l| l.starts_with("at_fraction"))
                    })
                });
                let valid = at.is_some_and(|s| s["valid"] == true);
                m.insert(
                    "chat_cross_p50_ms_at_25pct".into(),
                    at.filter(|_| valid).and_then(|s| f(&s["cross"]["p50_ms"])),
                );
                m.insert(
                    "chat_cross_p99_ms_at_25pct".into(),
                    at.filter(|_| valid).and_then(|s| f(&s["cross"]["p99_ms"])),
                );
                // Redis: the valid step nearest 10k publishes/s (at least 1,000/s: below that
                // Redis's own timers dominate its CPU time).
                let dist = |s: &Value| {
                    let p = f(&s["redis"]["publishes_per_s"]).unwrap_or(0.0).max(1.0);
                    (p / 10_000.0).ln().abs()
                };
                let best = x["steps"].as_array().and_then(|s| {
                    s.iter()
                        .filter(|s| {
                            s["valid"] == true
                                && f(&s["redis"]["publishes_per_s"]).unwrap_or(0.0) >= 1000.0
                        })
                        .min_by(|a, b| dist(a).total_cmp(&dist(b)))
                });
                if let Some(b) = best {
                    let per = f(&b["redis"]["cpu_us_per_publish"]).unwrap_or(0.0);
                    m.insert(
                        "redis_core_fraction_at_10k_publishes".into(),
                        Some(per * 10_000.0 / 1e6),
                    );
                    m.insert(
                        "redis_publishes_per_s_measured".into(),
                        f(&b["redis"]["publishes_per_s"]),
                    );
                    m.insert(
                        "redis_commands_per_read".into(),
                        f(&b["redis"]["commands_per_read"]),
                    );
                }
            }
        }
    }
    m
}

/// Server CPU µs per delivery of two runs' sweeps at the highest rate both sustained validly.
fn same_rate_cpu(node: &Value, rust: &Value) -> Option<(f64, f64, f64)> {
    let steps = |v: &Value| -> Vec<(f64, f64)> {
        v["steps"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter(|s| {
                        s["label"] != "warmup" && s["valid"] == true && s["sustained"] == true
                    })
                    .filter_map(|s| Some((f(&s["rate"])?, f(&s["server_cpu_us_per_delivery"])?)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let n = steps(node);
    let r = steps(rust);
    let mut best: Option<(f64, f64, f64)> = None;
    for (rate, nc) in &n {
        if let Some((_, rc)) = r.iter().find(|(rr, _)| (rr - rate).abs() < 1e-9)
            && best.is_none_or(|b| *rate > b.0)
        {
            best = Some((*rate, *nc, *rc));
        }
    }
    best
}

fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

fn stats(v: &[f64]) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    json!({"values": v, "median": median(v), "min": min, "max": max, "n": v.len()})
}

/// Pairs of (node run index, rust run index) in `runs`: within each cycle, A B B A.
fn pairs(runs: &[Value]) -> Vec<(usize, usize)> {
    let mut by_cycle: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, r) in runs.iter().enumerate() {
        by_cycle
            .entry(r["cycle"].as_u64().unwrap_or(0))
            .or_default()
            .push(i);
    }
    let mut out = Vec::new();
    for idx in by_cycle.values() {
        let nodes: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| runs[i]["kind"] == "node")
            .collect();
        let rusts: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| runs[i]["kind"] == "rust")
            .collect();
        // First Node with first Rust (A B), second Rust with second Node (B A).
        for (n, r) in nodes.iter().zip(rusts.iter()) {
            out.push((*n, *r));
        }
    }
    out
}

/// The summary object: per-metric statistics, pairs with ratios, and targets (not evaluated
/// for a smoke run, whose sizes are too small to mean anything).
pub fn summarize(runs: &[Value], calibration: &[Value], smoke: bool) -> Value {
    let metrics: Vec<BTreeMap<String, Option<f64>>> = runs.iter().map(run_metrics).collect();
    let mut names: Vec<String> = metrics.iter().flat_map(|m| m.keys().cloned()).collect();
    names.sort();
    names.dedup();
    let prs = pairs(runs);
    let mut per_metric = serde_json::Map::new();
    for name in &names {
        let mut by_kind = serde_json::Map::new();
        for kind in ["node", "rust", "rust-mt"] {
            let vals: Vec<f64> = runs
                .iter()
                .zip(metrics.iter())
                .filter(|(r, _)| r["kind"] == kind)
                .filter_map(|(_, m)| m.get(name).copied().flatten())
                .collect();
            if !vals.is_empty() {
                by_kind.insert(kind.to_owned(), stats(&vals));
            }
        }
        let mut ratios = Vec::new();
        let mut pair_rows = Vec::new();
        for (n, r) in &prs {
            let nv = metrics[*n].get(name).copied().flatten();
            let rv = metrics[*r].get(name).copied().flatten();
            let ratio = match (nv, rv) {
                (Some(a), Some(b)) if a > 0.0 => Some(b / a),
                _ => None,
            };
            if let Some(x) = ratio {
                ratios.push(x);
            }
            pair_rows.push(
                json!({"node_run": n, "rust_run": r, "node": nv, "rust": rv, "ratio": ratio}),
            );
        }
        per_metric.insert(
            name.clone(),
            json!({
                "lower_is_better": LOWER_IS_BETTER.contains(&name.as_str()),
                "by_kind": by_kind,
                "pairs": pair_rows,
                "ratio": stats(&ratios),
            }),
        );
    }
    // CPU per delivery at the same offered rate, per variant and pair.
    let mut same_rate = serde_json::Map::new();
    let variants: Vec<String> = names
        .iter()
        .filter_map(|n| {
            n.strip_prefix("fanout_")
                .and_then(|x| x.strip_suffix("_capacity_dps"))
                .map(str::to_owned)
        })
        .collect();
    for v in &variants {
        let key = format!("fanout-{v}");
        let mut rows = Vec::new();
        let mut ratios = Vec::new();
        for (n, r) in &prs {
            if let Some((rate, nc, rc)) =
                same_rate_cpu(&runs[*n]["workloads"][&key], &runs[*r]["workloads"][&key])
            {
                let ratio = if nc > 0.0 { rc / nc } else { f64::NAN };
                if ratio.is_finite() {
                    ratios.push(ratio);
                }
                rows.push(json!({"node_run": n, "rust_run": r, "rate": rate,
                                 "node_us": nc, "rust_us": rc, "ratio": ratio}));
            }
        }
        same_rate.insert(v.clone(), json!({"pairs": rows, "ratio": stats(&ratios)}));
    }
    let mut targets = targets(&per_metric, &same_rate, rawfan_2k(calibration));
    if smoke && let Some(ts) = targets.as_array_mut() {
        for t in ts {
            t["status"] = json!("not evaluated (smoke)");
        }
    }
    json!({
        "pairs": prs.iter().map(|(n, r)| json!([n, r])).collect::<Vec<_>>(),
        "metrics": per_metric,
        "cpu_per_delivery_same_rate": same_rate,
        "targets": targets,
    })
}

fn med(per_metric: &serde_json::Map<String, Value>, name: &str, kind: &str) -> Option<f64> {
    per_metric.get(name)?["by_kind"][kind]["median"].as_f64()
}

fn ratio_med(per_metric: &serde_json::Map<String, Value>, name: &str) -> Option<f64> {
    per_metric.get(name)?["ratio"]["median"].as_f64()
}

fn status(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "not met",
        None => "no valid data",
    }
}

/// The raw calibration server's highest valid throughput in the 2,000-receiver room (median over
/// cycles), and whether the generator rather than the raw server set it.
fn rawfan_2k(calibration: &[Value]) -> Option<(f64, bool)> {
    let cs: Vec<&Value> = calibration
        .iter()
        .filter(|c| c["payload_bytes"] == 0 && c["receivers"] == 2_000 && c["ok"] == true)
        .collect();
    let v: Vec<f64> = cs
        .iter()
        .filter_map(|c| f(&c["max_valid_delivered_per_s"]))
        .filter(|x| *x > 0.0)
        .collect();
    Some((median(&v)?, cs.iter().any(|c| c["generator_bound"] == true)))
}

/// Median over pairs of one field of the same-rate CPU comparison of a variant.
fn same_rate_us(same_rate: &serde_json::Map<String, Value>, variant: &str, k: &str) -> Option<f64> {
    let v: Vec<f64> = same_rate.get(variant)?["pairs"]
        .as_array()?
        .iter()
        .filter_map(|p| p[k].as_f64())
        .collect();
    median(&v)
}

/// The engine issue's targets (issue 12), each met / not met / without valid data.
fn targets(
    per_metric: &serde_json::Map<String, Value>,
    same_rate: &serde_json::Map<String, Value>,
    rawfan: Option<(f64, bool)>,
) -> Value {
    let mut out = Vec::new();
    // Idle memory, WebSocket.
    let r = med(per_metric, "idle_kb_per_conn", "rust");
    let n = med(per_metric, "idle_kb_per_conn", "node");
    let ratio = ratio_med(per_metric, "idle_kb_per_conn");
    let ok = match (r, ratio) {
        (Some(r), Some(q)) => Some(r <= 6.0 && q <= 0.5),
        (Some(r), None) if r > 6.0 => Some(false),
        _ => None,
    };
    out.push(
        json!({"target": "idle WebSocket connection, resident memory <= 6 KB and <= 0.5x Node",
        "rust": r, "node": n, "unit": "KB", "ratio": ratio, "status": status(ok)}),
    );
    // Idle memory, polling then upgrade.
    let r = med(per_metric, "idle_polling_kb_per_conn", "rust");
    out.push(
        json!({"target": "idle polling-then-upgrade connection, resident memory <= 8 KB",
        "rust": r, "node": med(per_metric, "idle_polling_kb_per_conn", "node"), "unit": "KB",
        "ratio": ratio_med(per_metric, "idle_polling_kb_per_conn"),
        "status": status(r.map(|r| r <= 8.0))}),
    );
    // CPU per delivery at the same offered rate, both rooms.
    for (variant, room) in [("big-2k", "2,000"), ("big", "10,000")] {
        let q = same_rate
            .get(variant)
            .and_then(|v| v["ratio"]["median"].as_f64());
        out.push(json!({"target": format!("CPU time per delivery at the same offered rate <= 0.4x Node ({room}-receiver room)"),
            "rust": same_rate_us(same_rate, variant, "rust_us"),
            "node": same_rate_us(same_rate, variant, "node_us"), "unit": "µs",
            "ratio": q, "status": status(q.map(|q| q <= 0.4))}));
    }
    // Throughput at saturation, 2,000 receivers, against Node and the raw server.
    let r = med(per_metric, "fanout_big-2k_throughput_dps", "rust");
    let n = med(per_metric, "fanout_big-2k_throughput_dps", "node");
    let ratio = ratio_med(per_metric, "fanout_big-2k_throughput_dps");
    let raw = rawfan.map(|(x, _)| x);
    let vs_raw = r.zip(raw).map(|(r, x)| r / x);
    let ok = match (ratio, vs_raw) {
        (Some(q), Some(v)) => Some(q >= 3.0 && v >= 0.9),
        (Some(q), None) if q < 3.0 => Some(false),
        (None, Some(v)) if v < 0.9 => Some(false),
        _ => None,
    };
    out.push(json!({"target": "fan-out throughput at saturation, 2,000 receivers, one core >= 3x Node and >= 0.9x rawfan",
        "rust": r, "node": n, "unit": "deliveries/s", "ratio": ratio,
        "rawfan": raw, "rust_vs_rawfan": vs_raw,
        "note": match rawfan {
            Some((x, true)) => format!("rawfan {}/s (generator-bound: the generator's ceiling), Rust/rawfan {}", fmt(Some(x)), fmt(vs_raw)),
            Some((x, false)) => format!("rawfan {}/s, Rust/rawfan {}", fmt(Some(x)), fmt(vs_raw)),
            None => "no valid 2,000-receiver calibration".to_owned(),
        },
        "status": status(ok)}));
    // Latency at 40k deliveries/s, 2,000 receivers.
    let p99 = med(per_metric, "fanout_big-2k_p99_ms_at_40k", "rust");
    let lost = per_metric
        .get("fanout_big-2k_lost_at_40k")
        .and_then(|m| m["by_kind"]["rust"]["max"].as_f64());
    let ok = p99.zip(lost).map(|(p, l)| p <= 25.0 && l == 0.0);
    out.push(json!({"target": "latency at 40k deliveries/s, 2,000 receivers, one core: p99 <= 25 ms, no loss",
        "rust": p99, "node": med(per_metric, "fanout_big-2k_p99_ms_at_40k", "node"), "unit": "ms p99",
        "ratio": ratio_med(per_metric, "fanout_big-2k_p99_ms_at_40k"),
        "note": format!("lost (worst run): Rust {}, Node {}", fmt(lost),
            fmt(per_metric.get("fanout_big-2k_lost_at_40k").and_then(|m| m["by_kind"]["node"]["max"].as_f64()))),
        "status": status(ok)}));
    // Capacity at p99 <= 50 ms, 2,000 receivers.
    let r = med(per_metric, "fanout_big-2k_capacity_dps", "rust");
    let n = med(per_metric, "fanout_big-2k_capacity_dps", "node");
    let ratio = ratio_med(per_metric, "fanout_big-2k_capacity_dps");
    let ok = match (r, n) {
        (Some(r), Some(n)) if n > 0.0 => Some(r / n >= 2.0),
        (Some(r), Some(_)) => Some(r > 0.0),
        _ => None,
    };
    out.push(
        json!({"target": "capacity at p99 <= 50 ms, 2,000 receivers, one core >= 2x Node",
        "rust": r, "node": n, "unit": "deliveries/s", "ratio": ratio,
        "note": if n == Some(0.0) { "Node met p99 <= 50 ms at no rate" } else { "" },
        "status": status(ok)}),
    );
    // Connect storm.
    let r = med(per_metric, "storm_ws_conns_per_s", "rust");
    let ratio = ratio_med(per_metric, "storm_ws_conns_per_s");
    out.push(json!({"target": "connect storm (WebSocket) >= 3x Node",
        "rust": r, "node": med(per_metric, "storm_ws_conns_per_s", "node"), "unit": "connections/s",
        "ratio": ratio, "status": status(ratio.map(|q| q >= 3.0))}));
    // Cross-replica latency.
    let p50 = med(per_metric, "chat_cross_p50_ms_at_25pct", "rust");
    let p99 = med(per_metric, "chat_cross_p99_ms_at_25pct", "rust");
    let ok = match (p50, p99) {
        (Some(a), Some(b)) => Some(a <= 2.0 && b <= 10.0),
        _ => None,
    };
    out.push(json!({"target": "cross-replica latency at 25% load (1,000 rooms of 10) p50 <= 2 ms, p99 <= 10 ms",
        "rust_p50_ms": p50, "rust_p99_ms": p99,
        "node_p50_ms": med(per_metric, "chat_cross_p50_ms_at_25pct", "node"),
        "node_p99_ms": med(per_metric, "chat_cross_p99_ms_at_25pct", "node"),
        "status": status(ok)}));
    json!(out)
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "–".to_owned(),
        Some(x) if !x.is_finite() => "–".to_owned(),
        Some(x) if x.abs() >= 1000.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.3}"),
    }
}

fn cell(stat: &Value) -> String {
    if stat.is_null() {
        return "–".to_owned();
    }
    let med = fmt(stat["median"].as_f64());
    if stat["n"].as_u64().unwrap_or(0) > 1 {
        format!(
            "{med} [{}–{}]",
            fmt(stat["min"].as_f64()),
            fmt(stat["max"].as_f64())
        )
    } else {
        med
    }
}

/// The Markdown report.
pub fn markdown(doc: &Value) -> String {
    let mut s = String::new();
    let meta = &doc["meta"];
    let _ = writeln!(
        s,
        "# Benchmark: Rust server vs Node socket.io — {}\n",
        meta["started"].as_str().unwrap_or("")
    );
    let _ = writeln!(s, "Command: `{}`  ", meta["command"].as_str().unwrap_or(""));
    let _ = writeln!(
        s,
        "Configuration: {}; {} cycle(s), order per cycle {}; servers and Redis on core {}, generator on core {}.  ",
        if meta["settings"]["smoke"] == true {
            "**smoke** (tiny sizes, validity checks relaxed: numbers are not meaningful)"
        } else {
            "full"
        },
        meta["settings"]["cycles"],
        meta["settings"]["order"],
        meta["settings"]["server_core"].as_str().unwrap_or("0"),
        meta["settings"]["gen_core"].as_str().unwrap_or("1"),
    );
    let _ = writeln!(
        s,
        "Machine: {} ({} cores), kernel {}; load average {} before, {} after; {:.0} s in all.  ",
        meta["cpu"].as_str().unwrap_or("?"),
        meta["cores"],
        meta["kernel"].as_str().unwrap_or("?"),
        meta["loadavg_before"],
        meta["loadavg_after"],
        meta["elapsed_secs"].as_f64().unwrap_or(0.0),
    );
    let mut ran: Vec<String> = doc["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| {
            let mut k: Vec<String> = r["workloads"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            k.extend(
                r["errors"]
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
            k
        })
        .collect();
    ran.sort();
    ran.dedup();
    let _ = writeln!(
        s,
        "Workloads run: {}.  ",
        if ran.is_empty() {
            "none".to_owned()
        } else {
            ran.join(", ")
        }
    );
    if let Some(v) = meta["versions"].as_object() {
        let list: Vec<String> = v
            .iter()
            .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?")))
            .collect();
        let _ = writeln!(s, "Versions: {}.\n", list.join(", "));
    }
    if let Some(note) = meta["note"].as_str() {
        let _ = writeln!(s, "\nNote: {note}\n");
    }
    if meta["command"]
        .as_str()
        .is_some_and(|c| c.contains("--only"))
    {
        let _ = writeln!(
            s,
            "\n**Partial run** (`--only`): only the workloads listed above ran; the other targets have no data here.\n"
        );
    }
    if meta["complete"] == false {
        let _ = writeln!(
            s,
            "\n**Incomplete run**: written while the run was still going, or the run was cut short (time limit, signal); only the runs listed below finished.\n"
        );
    }
    let summary = &doc["summary"];
    let _ = writeln!(s, "## Targets (issue 12)\n");
    let _ = writeln!(
        s,
        "| target | Rust | Node | Rust/Node | status |\n|---|---|---|---|---|"
    );
    if let Some(ts) = summary["targets"].as_array() {
        for t in ts {
            let name = t["target"].as_str().unwrap_or("");
            let (rust, node) = if t.get("rust_p50_ms").is_some() {
                (
                    format!(
                        "p50 {} / p99 {} ms",
                        fmt(t["rust_p50_ms"].as_f64()),
                        fmt(t["rust_p99_ms"].as_f64())
                    ),
                    format!(
                        "p50 {} / p99 {} ms",
                        fmt(t["node_p50_ms"].as_f64()),
                        fmt(t["node_p99_ms"].as_f64())
                    ),
                )
            } else {
                let unit = t["unit"]
                    .as_str()
                    .map(|u| format!(" {u}"))
                    .unwrap_or_default();
                (
                    format!("{}{unit}", fmt(t["rust"].as_f64())),
                    format!("{}{unit}", fmt(t["node"].as_f64())),
                )
            };
            let note = t["note"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {name} | {rust} | {node} | {} | {}{note} |",
                fmt(t["ratio"].as_f64()),
                t["status"].as_str().unwrap_or("")
            );
        }
    }
    let _ = writeln!(
        s,
        "\n## Metrics: median [min–max] over runs; Rust/Node ratio of each A B / B A pair\n"
    );
    let _ = writeln!(
        s,
        "| metric | Node | Rust (1 worker) | Rust (2 workers, same core) | Rust/Node per pair | median ratio |\n|---|---|---|---|---|---|"
    );
    if let Some(ms) = summary["metrics"].as_object() {
        for (name, m) in ms {
            let pr: Vec<String> = m["pairs"]
                .as_array()
                .map(|p| p.iter().map(|x| fmt(x["ratio"].as_f64())).collect())
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "| {name}{} | {} | {} | {} | {} | {} |",
                if m["lower_is_better"] == true {
                    " (lower is better)"
                } else {
                    ""
                },
                cell(&m["by_kind"]["node"]),
                cell(&m["by_kind"]["rust"]),
                cell(&m["by_kind"]["rust-mt"]),
                pr.join(", "),
                cell(&m["ratio"]),
            );
        }
    }
    let has_same_rate = summary["cpu_per_delivery_same_rate"]
        .as_object()
        .is_some_and(|o| !o.is_empty());
    let has_calibration = doc["calibration"].as_array().is_some_and(|c| !c.is_empty());
    if has_same_rate {
        let _ = writeln!(
            s,
            "\n## Server CPU per delivery at the same offered rate (highest rate both sustained)\n"
        );
        let _ = writeln!(
            s,
            "| variant | pairs: rate msg/s → Node µs / Rust µs (ratio) | median ratio |\n|---|---|---|"
        );
        if let Some(sr) = summary["cpu_per_delivery_same_rate"].as_object() {
            for (v, x) in sr {
                let rows: Vec<String> = x["pairs"]
                    .as_array()
                    .map(|p| {
                        p.iter()
                            .map(|r| {
                                format!(
                                    "{} → {} / {} ({})",
                                    fmt(r["rate"].as_f64()),
                                    fmt(r["node_us"].as_f64()),
                                    fmt(r["rust_us"].as_f64()),
                                    fmt(r["ratio"].as_f64())
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let _ = writeln!(s, "| {v} | {} | {} |", rows.join("; "), cell(&x["ratio"]));
            }
        }
    }
    if has_calibration {
        let _ = writeln!(
            s,
            "\n## Calibration (generator against the raw fan-out server)\n"
        );
        let _ = writeln!(
            s,
            "| cycle | payload | highest valid deliveries/s | generator-bound | ceiling applied |\n|---|---|---|---|---|"
        );
        if let Some(cs) = doc["calibration"].as_array() {
            for c in cs {
                let _ = writeln!(
                    s,
                    "| {} | {} B | {} | {} | {} |",
                    c["cycle"],
                    c["payload_bytes"],
                    fmt(c["max_valid_delivered_per_s"].as_f64()),
                    c["generator_bound"],
                    fmt(c["ceiling"].as_f64()),
                );
            }
        }
    }
    let _ = writeln!(s, "\n## Runs\n");
    let _ = writeln!(
        s,
        "| # | cycle | kind | idle KB/conn | fan-out capacity (big) deliveries/s | throughput (big) | chat cross p50/p99 at 25% | storm conn/s | invalid steps | problems |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    if let Some(runs) = doc["runs"].as_array() {
        for (i, r) in runs.iter().enumerate() {
            let m = run_metrics(r);
            let g = |k: &str| fmt(m.get(k).copied().flatten());
            let (invalid, problems) = run_validity(r);
            let _ = writeln!(
                s,
                "| {i} | {} | {} | {} | {} | {} | {} / {} | {} | {invalid} | {} |",
                r["cycle"],
                r["kind"].as_str().unwrap_or(""),
                g("idle_kb_per_conn"),
                g("fanout_big_capacity_dps"),
                g("fanout_big_throughput_dps"),
                g("chat_cross_p50_ms_at_25pct"),
                g("chat_cross_p99_ms_at_25pct"),
                g("storm_ws_conns_per_s"),
                if problems.is_empty() {
                    "–".to_owned()
                } else {
                    problems.join("; ")
                },
            );
        }
    }
    let has_sweeps = doc["runs"].as_array().is_some_and(|rs| {
        rs.iter().any(|r| {
            r["workloads"]
                .as_object()
                .is_some_and(|w| w.keys().any(|k| k.starts_with("fanout-")))
        })
    });
    if has_sweeps {
        let _ = writeln!(s, "\n## Fan-out sweeps\n");
        let _ = writeln!(
            s,
            "Each step: offered msg/s → delivered/s, p50/p99/p99.9 ms, server CPU µs per delivery, server share of the core, generator share of its core; `!` invalid, `x` over the latency limit or not sustained.\n"
        );
        if let Some(runs) = doc["runs"].as_array() {
            for (i, r) in runs.iter().enumerate() {
                if let Some(ws) = r["workloads"].as_object() {
                    for (k, w) in ws {
                        if !k.starts_with("fanout-") {
                            continue;
                        }
                        let steps: Vec<String> = w["steps"]
                            .as_array()
                            .map(|st| {
                                st.iter()
                                .filter(|x| x["label"] != "warmup")
                                .map(|x| {
                                    let mark = if x["valid"] != true {
                                        "!"
                                    } else if x["pass"] != true {
                                        "x"
                                    } else {
                                        ""
                                    };
                                    format!(
                                        "{}{mark} → {} ({}/{}/{} ms, {} µs, {:.0}%, gen {:.0}%)",
                                        fmt(x["rate"].as_f64()),
                                        fmt(x["delivered_per_s"].as_f64()),
                                        fmt(x["lat"]["p50_ms"].as_f64()),
                                        fmt(x["lat"]["p99_ms"].as_f64()),
                                        fmt(x["lat"]["p999_ms"].as_f64()),
                                        fmt(x["server_cpu_us_per_delivery"].as_f64()),
                                        x["server_core_fraction"].as_f64().unwrap_or(0.0) * 100.0,
                                        x["generator_core_fraction"].as_f64().unwrap_or(0.0)
                                            * 100.0,
                                    )
                                })
                                .collect()
                            })
                            .unwrap_or_default();
                        let err = w["error"]
                            .as_str()
                            .map(|e| format!(" error: {e}"))
                            .unwrap_or_default();
                        let _ = writeln!(
                            s,
                            "- run {i} {} {k}:{err} {}",
                            r["kind"].as_str().unwrap_or(""),
                            steps.join("; ")
                        );
                    }
                }
            }
        }
    }
    let _ = writeln!(s, "\nRaw numbers: the JSON file of the same name.");
    s
}

/// Invalid fan-out steps and problems of a run.
pub fn run_validity(r: &Value) -> (usize, Vec<String>) {
    let mut invalid = 0;
    let mut problems = Vec::new();
    if let Some(e) = r["errors"].as_object() {
        for (k, v) in e {
            problems.push(format!(
                "{k}: {}",
                v.as_str()
                    .unwrap_or("")
                    .chars()
                    .take(120)
                    .collect::<String>()
            ));
        }
    }
    if let Some(ws) = r["workloads"].as_object() {
        for (k, w) in ws {
            if let Some(steps) = w["steps"].as_array() {
                invalid += steps
                    .iter()
                    .filter(|s| s["valid"] != true && s["label"] != "warmup")
                    .count();
            }
            if let Some(ps) = w["problems"].as_array() {
                for p in ps {
                    problems.push(format!("{k}: {}", p.as_str().unwrap_or("")));
                }
            }
            if w["ok"] == false {
                problems.push(format!("{k}: {}", w["error"].as_str().unwrap_or("failed")));
            }
            if let Some(ex) = w["server_exits"].as_array()
                && !ex.is_empty()
            {
                problems.push(format!("{k}: a server exited"));
            }
        }
    }
    (invalid, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    /// The issue 12 rows that compare against Node and the raw server come out of the runs.
    #[test]
    fn engine_targets_from_runs() {
        let step = |rate: f64, dps: f64, p99: f64, cpu: f64| {
            json!({"label": "sweep", "valid": true, "sustained": true, "rate": rate,
                   "offered_deliveries_per_s": rate * 2000.0, "delivered_per_s": dps,
                   "lat": {"p99_ms": p99}, "lost": 0, "server_cpu_us_per_delivery": cpu})
        };
        let fan = |cap: f64, thr: f64, p99: f64, cpu: f64| {
            json!({"ok": true, "capacity": {"delivered_per_s": cap},
                   "throughput": {"delivered_per_s": thr},
                   "steps": [step(20.0, 40_000.0, p99, cpu)]})
        };
        let runs = vec![
            json!({"cycle": 0, "kind": "node", "workloads": {
                "idle-ws": {"valid": true, "kb_per_conn": 16.0},
                "fanout-big-2k": fan(40_000.0, 100_000.0, 80.0, 20.0)}}),
            json!({"cycle": 0, "kind": "rust", "workloads": {
                "idle-ws": {"valid": true, "kb_per_conn": 5.0},
                "fanout-big-2k": fan(160_000.0, 250_000.0, 10.0, 6.0)}}),
        ];
        let cal = vec![json!({"payload_bytes": 0, "receivers": 2000, "ok": true,
                              "max_valid_delivered_per_s": 300_000.0})];
        let t = summarize(&runs, &cal, false)["targets"].clone();
        let row = |prefix: &str| {
            t.as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|r| r["target"].as_str().is_some_and(|n| n.starts_with(prefix)))
                })
                .cloned()
                .unwrap_or(Value::Null)
        };
        assert_eq!(row("idle WebSocket")["status"], "met");
        assert_eq!(
            row("CPU time per delivery at the same offered rate <= 0.4x Node (2,000")["status"],
            "met"
        );
        // 2.5x Node and 0.83x the raw server: both halves fail.
        let thr = row("fan-out throughput");
        assert_eq!(thr["status"], "not met");
        assert!((thr["rust_vs_rawfan"].as_f64().unwrap_or(0.0) - 250.0 / 300.0).abs() < 1e-9);
        assert_eq!(row("latency at 40k")["status"], "met");
        assert_eq!(row("capacity at p99")["status"], "met");
        assert_eq!(row("connect storm")["status"], "no valid data");
    }

    #[test]
    fn pairs_follow_abba() {
        let runs: Vec<Value> = ["node", "rust", "rust", "node", "rust-mt"]
            .iter()
            .map(|k| json!({"cycle": 0, "kind": k}))
            .collect();
        assert_eq!(pairs(&runs), vec![(0, 1), (3, 2)]);
    }
}
