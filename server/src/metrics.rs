//! Counters and the publish-to-write latency histogram behind `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, in microseconds.
const LATENCY_BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000,
];

/// Process-wide counters; all updates are relaxed atomics (never a lock on the hot path).
#[derive(Debug, Default)]
pub struct Metrics {
    pub connections: AtomicU64,
    /// Connections with no task: quiet, waiting on their socket and outbox.
    pub parked_connections: AtomicU64,
    /// Parked connections given a task again (not for a pong, a heartbeat or a tick the
    /// servicer wrote in place).
    pub unparked_total: AtomicU64,
    pub connections_total: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub subscriptions: AtomicU64,
    pub ticks_published: AtomicU64,
    pub messages_published: AtomicU64,
    pub frames_delivered: AtomicU64,
    pub bytes_delivered: AtomicU64,
    pub conflated: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    pub errors_sent: AtomicU64,
    /// Holes in what this node received from elsewhere (cluster ingest), announced.
    pub ingest_holes: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// Records the time from enqueue to socket write of one batch.
    pub fn observe_latency(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if let Some(i) = LATENCY_BUCKETS_US.iter().position(|&b| us <= b) {
            self.latency_buckets[i].fetch_add(1, Relaxed);
        }
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let counters: [(&str, &str, &str, &AtomicU64); 14] = [
            (
                "tickcast_connections",
                "gauge",
                "Open WebSocket connections.",
                &self.connections,
            ),
            (
                "tickcast_parked_connections",
                "gauge",
                "Open WebSocket connections that are parked: quiet, with no task.",
                &self.parked_connections,
            ),
            (
                "tickcast_unparked_total",
                "counter",
                "Parked connections given a task again: a request, a burst or a full socket (pongs, heartbeats and sparse ticks are handled without one).",
                &self.unparked_total,
            ),
            (
                "tickcast_connections_total",
                "counter",
                "WebSocket connections accepted.",
                &self.connections_total,
            ),
            (
                "tickcast_rejected_connections_total",
                "counter",
                "Requests to /ws that did not become a WebSocket (any refusal: method, headers, origin, token, limits) and handshakes that timed out.",
                &self.rejected_connections,
            ),
            (
                "tickcast_subscriptions",
                "gauge",
                "Subscription patterns across all connections.",
                &self.subscriptions,
            ),
            (
                "tickcast_ticks_published_total",
                "counter",
                "Ticks accepted by the broker.",
                &self.ticks_published,
            ),
            (
                "tickcast_messages_published_total",
                "counter",
                "Messages (ticks, bars, status) fanned out by the broker.",
                &self.messages_published,
            ),
            (
                "tickcast_frames_delivered_total",
                "counter",
                "Frames written to client sockets.",
                &self.frames_delivered,
            ),
            (
                "tickcast_bytes_delivered_total",
                "counter",
                "Bytes written to client sockets.",
                &self.bytes_delivered,
            ),
            (
                "tickcast_conflated_total",
                "counter",
                "Updates replaced by a newer one for slow or rate-limited clients.",
                &self.conflated,
            ),
            (
                "tickcast_slow_consumer_closes_total",
                "counter",
                "Connections closed by the disconnect slow-consumer policy.",
                &self.slow_consumer_closes,
            ),
            (
                "tickcast_errors_sent_total",
                "counter",
                "Error frames sent to clients.",
                &self.errors_sent,
            ),
            (
                "tickcast_ingest_holes_total",
                "counter",
                "Seq jumps in messages taken in from NATS (lost upstream), each announced to subscribers with recovered: false.",
                &self.ingest_holes,
            ),
        ];
        for (name, kind, help, value) in counters {
            write_series(&mut out, name, kind, help, value.load(Relaxed));
        }
        let name = "tickcast_publish_to_write_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from enqueue to socket write per write batch.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS_US.iter().zip(&self.latency_buckets) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let total = self.latency_count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.latency_sum_us.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {total}");
        out
    }
}

/// One un-labelled series in the Prometheus text format: its HELP, TYPE and value lines.
pub fn write_series(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.observe_latency(Duration::from_micros(40));
        m.observe_latency(Duration::from_micros(700));
        m.observe_latency(Duration::from_secs(5));
        let text = m.render();
        assert!(text.contains("tickcast_publish_to_write_seconds_bucket{le=\"0.00005\"} 1\n"));
        assert!(text.contains("tickcast_publish_to_write_seconds_bucket{le=\"0.001\"} 2\n"));
        assert!(text.contains("tickcast_publish_to_write_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(text.contains("tickcast_publish_to_write_seconds_count 3\n"));
    }
}
