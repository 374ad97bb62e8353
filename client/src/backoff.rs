//! Reconnect delays: exponential backoff with jitter, so a fleet of clients that lost the
//! same server does not come back in lockstep.

use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};

/// Exponential backoff with "equal jitter": attempt `n` waits between half and all of
/// `min * 2^n`, capped at `max`.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    rng: SmallRng,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        // Jitter needs spread between processes, not cryptographic randomness.
        let seed = tickcast_proto::clock::unix_ns() ^ (u64::from(std::process::id()) << 32);
        Self::with_rng(min, max, SmallRng::seed_from_u64(seed))
    }

    /// A backoff whose jitter is reproducible (for tests).
    pub fn seeded(min: Duration, max: Duration, seed: u64) -> Self {
        Self::with_rng(min, max, SmallRng::seed_from_u64(seed))
    }

    fn with_rng(min: Duration, max: Duration, rng: SmallRng) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
            rng,
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        self.jitter(ceiling)
    }

    /// A delay of about `after` (a server's `reconnect_after_ms`), spread by up to a tenth
    /// plus half the minimum backoff.
    pub fn after(&mut self, after: Duration) -> Duration {
        let spread = after / 10 + self.min / 2;
        after + self.rng.random_range(Duration::ZERO..=spread)
    }

    /// Forget failures: the next delay is short again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn jitter(&mut self, ceiling: Duration) -> Duration {
        let half = ceiling / 2;
        half + self.rng.random_range(Duration::ZERO..=ceiling - half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = Backoff::seeded(100 * MS, 1000 * MS, 7);
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000];
        for ceiling_ms in ceilings {
            let d = b.next_delay();
            assert!(
                d >= ceiling_ms * MS / 2 && d <= ceiling_ms * MS,
                "{d:?} vs {ceiling_ms}"
            );
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::seeded(100 * MS, 10_000 * MS, 1);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= 100 * MS);
    }

    #[test]
    fn jitter_spreads_clients() {
        let delays: Vec<_> = (0..20)
            .map(|seed| Backoff::seeded(1000 * MS, 1000 * MS, seed).next_delay())
            .collect();
        let distinct = delays
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        assert!(distinct > 10, "{delays:?}");
    }

    #[test]
    fn server_advice_is_respected_with_a_little_spread() {
        let mut b = Backoff::seeded(200 * MS, 10_000 * MS, 3);
        let d = b.after(2000 * MS);
        assert!(d >= 2000 * MS && d <= 2300 * MS, "{d:?}");
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::seeded(Duration::from_secs(1), Duration::from_secs(30), 0);
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(30));
        }
    }
}
