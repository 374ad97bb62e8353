//! Connection statistics for the status bar: message rate, end-to-end latency percentiles,
//! gaps and lagged notices.

use std::collections::VecDeque;

const SECOND_NS: u64 = 1_000_000_000;
/// Latency samples kept for the percentiles.
const LATENCY_SAMPLES: usize = 4096;

/// Messages per second over the last full second.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    window_start_ns: u64,
    count: u64,
    per_second: f64,
}

impl RateMeter {
    pub fn record(&mut self, now_ns: u64) {
        self.roll(now_ns);
        self.count += 1;
    }

    /// Closes the window when a second has passed; true when the rate changed.
    pub fn roll(&mut self, now_ns: u64) -> bool {
        if self.window_start_ns == 0 {
            self.window_start_ns = now_ns;
            return false;
        }
        let elapsed_ns = now_ns.saturating_sub(self.window_start_ns);
        if elapsed_ns < SECOND_NS {
            return false;
        }
        let before = self.per_second;
        self.per_second = if elapsed_ns >= 2 * SECOND_NS {
            // A quiet stretch: the count spread over all of it.
            self.count as f64 * SECOND_NS as f64 / elapsed_ns as f64
        } else {
            self.count as f64
        };
        self.count = 0;
        self.window_start_ns = now_ns;
        before != self.per_second
    }

    pub fn per_second(&self) -> f64 {
        self.per_second
    }
}

/// A window of recent latencies with cached percentiles.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    samples_ns: VecDeque<u64>,
    fresh: bool,
    p50_ns: Option<u64>,
    p99_ns: Option<u64>,
}

impl Latency {
    /// Records `now - sent`; clocks that disagree (negative latency) count as zero.
    pub fn record(&mut self, sent_ns: u64, now_ns: u64) {
        if self.samples_ns.len() == LATENCY_SAMPLES {
            self.samples_ns.pop_front();
        }
        self.samples_ns.push_back(now_ns.saturating_sub(sent_ns));
        self.fresh = true;
    }

    /// Recomputes the percentiles if samples arrived since the last call.
    pub fn update(&mut self) {
        if !self.fresh {
            return;
        }
        self.fresh = false;
        let mut sorted: Vec<u64> = self.samples_ns.iter().copied().collect();
        sorted.sort_unstable();
        self.p50_ns = percentile(&sorted, 50);
        self.p99_ns = percentile(&sorted, 99);
    }

    pub fn p50_ns(&self) -> Option<u64> {
        self.p50_ns
    }

    pub fn p99_ns(&self) -> Option<u64> {
        self.p99_ns
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], pct: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Everything the status bar counts.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub messages: u64,
    pub rate: RateMeter,
    pub latency: Latency,
    pub gaps: u64,
    /// `lagged` notices received and the updates they said were dropped.
    pub lagged: u64,
    pub lagged_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_counts_the_last_second() {
        let mut r = RateMeter::default();
        r.roll(SECOND_NS);
        for i in 0..50 {
            r.record(SECOND_NS + i * 10_000_000);
        }
        assert!(r.roll(2 * SECOND_NS));
        assert_eq!(r.per_second(), 50.0);
        // Nothing for five seconds: the rate decays to zero.
        assert!(r.roll(7 * SECOND_NS));
        assert_eq!(r.per_second(), 0.0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut l = Latency::default();
        for ms in 1..=100u64 {
            l.record(0, ms * 1_000_000);
        }
        l.update();
        assert_eq!(l.p50_ns(), Some(50_000_000));
        assert_eq!(l.p99_ns(), Some(99_000_000));
    }

    #[test]
    fn clock_skew_counts_as_zero_latency() {
        let mut l = Latency::default();
        l.record(10, 5);
        l.update();
        assert_eq!(l.p50_ns(), Some(0));
        assert_eq!(Latency::default().p99_ns(), None);
    }
}
