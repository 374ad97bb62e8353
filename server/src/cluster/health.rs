//! The NATS link's health: the connection state (`/healthz` readiness), the
//! `tickcast_nats_*` counters and their `/metrics` lines, and async-nats' connection events.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use async_nats::Event;
use async_nats::connection::State;

/// Counters of the NATS link, rendered into `/metrics`.
#[derive(Debug, Default)]
pub(super) struct LinkCounters {
    /// Messages that entered here and were handed to NATS.
    pub published: AtomicU64,
    /// Messages that entered here and were dropped (NATS down or too slow).
    pub dropped: AtomicU64,
    /// Messages received from NATS and fanned out here.
    pub received: AtomicU64,
    /// NATS messages that were not tickcast messages.
    pub rejected: AtomicU64,
    /// Times the connection was lost.
    pub disconnects: AtomicU64,
    /// Messages NATS dropped because this node fell behind.
    pub slow_consumer: AtomicU64,
    /// Messages published again (JetStream: unacknowledged after a failure or reconnect).
    pub republished: AtomicU64,
    /// NATS has no JetStream: the history is what arrives, loaded at once.
    pub plain: AtomicBool,
    /// With JetStream: `disconnects + 1` as of when the stream's reader last read what the
    /// stream held (0: not yet). A reconnect makes it stale until the reader catches up.
    pub loaded_through: AtomicU64,
}

impl LinkCounters {
    /// The history this node serves is loaded and current (see [`Self::loaded_through`]).
    pub fn history_loaded(&self) -> bool {
        self.plain.load(Relaxed)
            || self.loaded_through.load(Relaxed) == self.disconnects.load(Relaxed) + 1
    }
}

/// True while the NATS connection is up.
pub(super) fn ready(client: &async_nats::Client) -> bool {
    client.connection_state() == State::Connected
}

/// The NATS connection state in words, for `/healthz`.
pub(super) fn state(client: &async_nats::Client) -> &'static str {
    match client.connection_state() {
        State::Connected => "connected",
        State::Disconnected => "disconnected",
        State::Pending => "connecting",
    }
}

/// Counts and logs a connection event of async-nats.
pub(super) fn on_event(counters: &LinkCounters, event: Event) {
    match event {
        Event::Connected => tracing::info!("NATS connected"),
        Event::Disconnected => {
            counters.disconnects.fetch_add(1, Relaxed);
            tracing::warn!("NATS disconnected; reconnecting");
        }
        Event::SlowConsumer(_) => {
            // One event per dropped message: log the 1st, 2nd, 4th, 8th, ...
            let n = counters.slow_consumer.fetch_add(1, Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    times = n,
                    "NATS dropped messages: this node is not keeping up"
                );
            }
        }
        other => tracing::info!(event = %other, "NATS"),
    }
}

/// The NATS link's lines of `/metrics` (Prometheus text format).
pub(super) fn render_metrics(counters: &LinkCounters, connected: bool) -> String {
    let c = counters;
    let lines: [(&str, &str, &str, u64); 8] = [
        (
            "tickcast_nats_connected",
            "gauge",
            "1 while the NATS connection is up.",
            u64::from(connected),
        ),
        (
            "tickcast_nats_published_total",
            "counter",
            "Messages that entered through this node and were handed to NATS.",
            c.published.load(Relaxed),
        ),
        (
            "tickcast_nats_dropped_total",
            "counter",
            "Messages that entered through this node and were dropped (NATS down or too slow).",
            c.dropped.load(Relaxed),
        ),
        (
            "tickcast_nats_republished_total",
            "counter",
            "Messages published to JetStream again (unacknowledged after a failure or reconnect).",
            c.republished.load(Relaxed),
        ),
        (
            "tickcast_nats_received_total",
            "counter",
            "Messages received from NATS and fanned out here.",
            c.received.load(Relaxed),
        ),
        (
            "tickcast_nats_rejected_total",
            "counter",
            "NATS messages that were not tickcast messages (ignored).",
            c.rejected.load(Relaxed),
        ),
        (
            "tickcast_nats_disconnects_total",
            "counter",
            "Times the NATS connection was lost.",
            c.disconnects.load(Relaxed),
        ),
        (
            "tickcast_nats_slow_consumer_total",
            "counter",
            "Times NATS messages were dropped because this node fell behind.",
            c.slow_consumer.load(Relaxed),
        ),
    ];
    let mut out = String::with_capacity(1024);
    for (name, kind, help, value) in lines {
        crate::metrics::write_series(&mut out, name, kind, help, value);
    }
    out
}
