//! What a run reports: the [`Report`] (its JSON form) and its human-readable table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::stats::{Latency, Spread};

#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub url: String,
    pub topic: String,
    pub connections: usize,
    pub threads: usize,
    pub source_ips: usize,
    pub warmup_s: f64,
    /// Length of the measurement window.
    pub window_s: f64,
    pub connect: Connect,
    pub delivery: Delivery,
    pub latency: Latency,
    /// `--rewind`: time from opening a connection to its last history message, and how
    /// many connections got their whole window.
    pub rewind: Option<(Latency, u64)>,
    pub disconnects: Disconnects,
    pub stalled: Stalled,
    pub server: Option<ServerUse>,
    pub client: ClientUse,
    pub machine: Machine,
}

/// The whole machine over the measurement window: the cores are shared, so this says
/// whether anything else competed with the server and the bench.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Busy percent of each CPU.
    pub cpu_busy_pct: Vec<f64>,
    /// Busy CPU not spent by the server or the bench (kernel threads such as ksoftirqd
    /// included), in percent of one core.
    pub others_pct: f64,
    pub load_avg_1m: f64,
}

#[derive(Debug, Serialize)]
pub struct Connect {
    pub subscribed: usize,
    pub failed: usize,
    pub seconds: f64,
    pub errors: BTreeMap<String, u64>,
}

/// Ticks to the clients that kept reading, in the measurement window.
#[derive(Debug, Serialize)]
pub struct Delivery {
    pub msgs: u64,
    pub msgs_per_s: f64,
    /// Ticks published on the topic in the window (from `seq`), per reading client.
    pub published: u64,
    /// Mean share of `published` a reading client received, in percent.
    pub delivered_pct: f64,
    /// Mean share of `--expect-rate` x window a reading client received, in percent.
    pub of_requested_pct: Option<f64>,
    pub gaps: u64,
    pub out_of_order: u64,
    pub lagged: u64,
    pub errors: u64,
    /// Ticks per reading client.
    pub per_connection: Spread,
}

#[derive(Debug, Serialize)]
pub struct Disconnects {
    /// Reading clients that were closed or broke during warm-up or measurement.
    pub reading: usize,
    pub stalled: usize,
    pub reasons: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct Stalled {
    pub clients: usize,
    pub ticks_before_stall: u64,
}

#[derive(Debug, Serialize)]
pub struct ServerUse {
    /// The processes sampled (summed).
    pub pids: Vec<u32>,
    pub rss_before_kib: u64,
    /// After every connection subscribed and `settle` passed.
    pub rss_connected_kib: u64,
    pub rss_peak_kib: u64,
    /// (rss_connected - rss_before) / subscribed connections.
    pub rss_per_connection_bytes: f64,
    /// CPU over the measurement window, in percent of one core.
    pub cpu_pct: f64,
}

#[derive(Debug, Serialize)]
pub struct ClientUse {
    pub cpu_pct: f64,
    /// CPU time of the bench per received tick.
    pub cpu_ns_per_msg: f64,
    pub rss_kib: u64,
}

/// A compact table of the figures that matter, one per line.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let d = &r.delivery;
    let l = &r.latency;
    let f = &d.per_connection;
    let label = if r.label.is_empty() { "run" } else { &r.label };
    let _ = writeln!(s, "== {label}: {} on {}", r.topic, r.url);
    let _ = writeln!(
        s,
        "connections   {} subscribed, {} failed in {:.1} s ({} threads, {} source IPs)",
        r.connect.subscribed, r.connect.failed, r.connect.seconds, r.threads, r.source_ips
    );
    for (why, n) in &r.connect.errors {
        let _ = writeln!(s, "  connect error  {n} x {why}");
    }
    let _ = writeln!(
        s,
        "delivered     {:.0} msgs/s over {:.1} s ({} msgs; {:.2} % of {} published per client)",
        d.msgs_per_s, r.window_s, d.msgs, d.delivered_pct, d.published
    );
    if let Some(pct) = d.of_requested_pct {
        let _ = writeln!(
            s,
            "of requested  {pct:.2} % of the ticks the server was asked to publish"
        );
    }
    let _ = writeln!(
        s,
        "per client    min {} / max {} / mean {:.1} / stddev {:.1} (spread {:.2} %)",
        f.min, f.max, f.mean, f.stddev, f.spread_pct
    );
    let _ = writeln!(
        s,
        "latency ms    p50 {:.3} / p90 {:.3} / p99 {:.3} / p99.9 {:.3} / max {:.3}",
        l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
    );
    if let Some((h, complete)) = &r.rewind {
        let _ = writeln!(
            s,
            "rewind        {complete} windows complete; open to last history message ms p50 {:.1} / p99 {:.1} / max {:.1}",
            h.p50_ms, h.p99_ms, h.max_ms
        );
    }
    let _ = writeln!(
        s,
        "anomalies     {} gaps, {} out of order, {} lagged, {} errors",
        d.gaps, d.out_of_order, d.lagged, d.errors
    );
    let _ = writeln!(
        s,
        "disconnects   {} reading, {} stalled",
        r.disconnects.reading, r.disconnects.stalled
    );
    for (why, n) in &r.disconnects.reasons {
        let _ = writeln!(s, "  ended  {n} x {why}");
    }
    if r.stalled.clients > 0 {
        let _ = writeln!(
            s,
            "stalled       {} clients stopped reading ({} ticks before)",
            r.stalled.clients, r.stalled.ticks_before_stall
        );
    }
    if let Some(sv) = &r.server {
        let _ = writeln!(
            s,
            "server        pid {:?}: CPU {:.0} %, RSS {} -> {} KiB connected ({:.0} B/conn), peak {} KiB",
            sv.pids,
            sv.cpu_pct,
            sv.rss_before_kib,
            sv.rss_connected_kib,
            sv.rss_per_connection_bytes,
            sv.rss_peak_kib
        );
    }
    let _ = writeln!(
        s,
        "client        CPU {:.0} % ({:.0} ns/msg), RSS {} KiB",
        r.client.cpu_pct, r.client.cpu_ns_per_msg, r.client.rss_kib
    );
    let busy: Vec<String> = r
        .machine
        .cpu_busy_pct
        .iter()
        .map(|p| format!("{p:.0} %"))
        .collect();
    let _ = writeln!(
        s,
        "machine       CPUs busy [{}], others {:.0} % of a core, load {:.2}",
        busy.join(", "),
        r.machine.others_pct,
        r.machine.load_avg_1m
    );
    s
}
