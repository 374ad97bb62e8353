//! The human-readable form of a [`Report`].

use std::fmt::Write as _;

use crate::run::Report;

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
