//! What the connections count, and the summary the report is made of.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, up to an hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A fresh latency histogram (microseconds, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant, valid bounds")
}

/// What one connection saw, handed back when it ends.
#[derive(Debug, Clone, Default)]
pub struct ConnResult {
    pub stalled: bool,
    /// The upgrade and the subscribe went through.
    pub subscribed: bool,
    /// Ticks received in the measurement window.
    pub window_ticks: u64,
    /// `seq` of the first and last tick received in the window (0: none).
    pub window_first_seq: u64,
    pub window_last_seq: u64,
    /// Ticks received over the whole run.
    pub total_ticks: u64,
    /// Ticks missing in the window, by `seq`.
    pub gaps: u64,
    /// Ticks whose `seq` did not go up.
    pub out_of_order: u64,
    pub lagged: u64,
    pub errors: u64,
    /// Why it ended before the run did: a close code, "eof" or an I/O error.
    pub ended: Option<String>,
    /// Whether it ended during the measurement window (or the warm-up before it).
    pub ended_in_run: bool,
}

/// Counts shared by the connections of one thread.
#[derive(Debug)]
pub struct ThreadStats {
    pub latency: Histogram<u64>,
    /// Time from opening to the last history message, per connection (`--rewind`).
    pub history: Histogram<u64>,
    pub conns: Vec<ConnResult>,
    /// Failures to connect or upgrade, by reason.
    pub connect_errors: BTreeMap<String, u64>,
}

impl Default for ThreadStats {
    fn default() -> Self {
        Self {
            latency: histogram(),
            history: histogram(),
            conns: Vec::new(),
            connect_errors: BTreeMap::new(),
        }
    }
}

impl ThreadStats {
    pub fn merge(&mut self, other: ThreadStats) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.history.add(&other.history);
        self.conns.extend(other.conns);
        for (k, v) in other.connect_errors {
            *self.connect_errors.entry(k).or_default() += v;
        }
    }
}

/// min / max / mean / stddev of per-connection counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    pub clients: usize,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    pub stddev: f64,
    /// (max - min) / mean, in percent.
    pub spread_pct: f64,
}

impl Spread {
    pub fn of(counts: impl IntoIterator<Item = u64>) -> Self {
        let counts: Vec<u64> = counts.into_iter().collect();
        if counts.is_empty() {
            return Self::default();
        }
        let n = counts.len() as f64;
        let mean = counts.iter().sum::<u64>() as f64 / n;
        let var = counts
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let (min, max) = (
            counts.iter().copied().min().unwrap_or(0),
            counts.iter().copied().max().unwrap_or(0),
        );
        Self {
            clients: counts.len(),
            min,
            max,
            mean,
            stddev: var.sqrt(),
            spread_pct: if mean > 0.0 {
                (max - min) as f64 / mean * 100.0
            } else {
                0.0
            },
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Self::default();
        }
        Self {
            samples: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_counts() {
        let s = Spread::of([90, 100, 110]);
        assert_eq!((s.clients, s.min, s.max), (3, 90, 110));
        assert!((s.mean - 100.0).abs() < 1e-9);
        assert!((s.spread_pct - 20.0).abs() < 1e-9);
        assert!((s.stddev - (200.0f64 / 3.0).sqrt()).abs() < 1e-9);
        assert_eq!(Spread::of([]).clients, 0);
    }

    #[test]
    fn latency_percentiles_in_ms() {
        let mut h = histogram();
        for us in 1..=1000 {
            h.record(us).unwrap();
        }
        let l = Latency::of(&h);
        assert_eq!(l.samples, 1000);
        assert!((l.p50_ms - 0.5).abs() < 0.01, "{l:?}");
        assert!((l.p99_ms - 0.99).abs() < 0.01, "{l:?}");
        assert!((l.max_ms - 1.0).abs() < 0.01, "{l:?}");
    }
}
