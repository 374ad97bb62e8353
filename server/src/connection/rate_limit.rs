//! The inbound rate limit: a token bucket per connection and its verdict on each
//! message.

use crate::keepalive::mono_us;

/// What the inbound rate limiter says about one more message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RateVerdict {
    Allow,
    /// Over the rate: drop it and say `rate_limited`.
    Refuse,
    /// Persistently over the rate: close with 1008.
    Close,
}

/// A token bucket: `rate` messages per second, bursts of up to twice that. More than
/// max(rate, 10) refusals within one second (sending at over twice the rate) means close.
/// 24 bytes: every connection but a publisher's holds one, parked or not.
pub(super) struct TokenBucket {
    /// When tokens were last added: [`mono_us`].
    last_us: u64,
    /// Messages per second; 0 means no limit.
    rate: u32,
    tokens: f32,
    /// Start of the current one-second window (low 32 bits of a [`mono_us`] / 1000
    /// reading, compared by wrapping difference) and the messages refused in it.
    window_ms: u32,
    refused: u32,
}

impl TokenBucket {
    /// A bucket for `rate` messages per second (0: unlimited), full.
    pub(super) fn new(rate: u32) -> Self {
        let now_us = mono_us();
        Self {
            last_us: now_us,
            rate,
            tokens: rate as f32 * 2.0,
            window_ms: (now_us / 1000) as u32,
            refused: 0,
        }
    }

    /// Takes a token for a message arriving at `now_us` (a [`mono_us`] reading).
    pub(super) fn take(&mut self, now_us: u64) -> RateVerdict {
        if self.rate == 0 {
            return RateVerdict::Allow;
        }
        let rate = self.rate as f32;
        let elapsed_s = now_us.saturating_sub(self.last_us) as f32 / 1e6;
        self.tokens = (self.tokens + elapsed_s * rate).min(rate * 2.0);
        self.last_us = self.last_us.max(now_us);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return RateVerdict::Allow;
        }
        let now_ms = (now_us / 1000) as u32;
        if now_ms.wrapping_sub(self.window_ms) >= 1000 {
            self.window_ms = now_ms;
            self.refused = 0;
        }
        self.refused += 1;
        if self.refused > self.rate.max(10) {
            RateVerdict::Close
        } else {
            RateVerdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bucket` `per_s` messages per second, evenly, for `secs`; the verdicts.
    fn feed(bucket: &mut TokenBucket, start_us: u64, per_s: u32, secs: u32) -> Vec<RateVerdict> {
        (0..per_s * secs)
            .map(|i| bucket.take(start_us + u64::from(i) * 1_000_000 / u64::from(per_s)))
            .collect()
    }

    fn count(verdicts: &[RateVerdict], want: fn(&RateVerdict) -> bool) -> usize {
        verdicts.iter().filter(|v| want(v)).count()
    }

    #[test]
    fn the_burst_is_twice_the_rate_then_the_rate_refills() {
        let start = mono_us();
        let mut bucket = TokenBucket::new(100);
        // 300 at once: 200 (the burst) pass, the next 100 are refused, the 101st closes.
        let burst: Vec<_> = (0..302).map(|_| bucket.take(start)).collect();
        assert_eq!(count(&burst, |v| matches!(v, RateVerdict::Allow)), 200);
        assert_eq!(count(&burst, |v| matches!(v, RateVerdict::Refuse)), 100);
        assert!(matches!(burst[300], RateVerdict::Close));
    }

    #[test]
    fn a_steady_rate_a_little_over_the_limit_is_refused_not_closed() {
        let start = mono_us();
        let mut bucket = TokenBucket::new(100);
        // 150/s for a minute: ~50 refused every second, never more than 100 in one.
        let verdicts = feed(&mut bucket, start, 150, 60);
        assert_eq!(count(&verdicts, |v| matches!(v, RateVerdict::Close)), 0);
        let refused = count(&verdicts, |v| matches!(v, RateVerdict::Refuse));
        assert!((2_500..=3_000).contains(&refused), "{refused} refused");
    }

    #[test]
    fn more_than_twice_the_rate_is_closed_within_seconds() {
        let start = mono_us();
        let mut bucket = TokenBucket::new(100);
        let verdicts = feed(&mut bucket, start, 250, 10);
        let first_close = verdicts
            .iter()
            .position(|v| matches!(v, RateVerdict::Close));
        // The burst lasts 200 / (250 - 100) = 1.3 s; then 150 refusals a second.
        let at = first_close.expect("closed") as f64 / 250.0;
        assert!((1.3..3.5).contains(&at), "closed after {at} s");
    }

    #[test]
    fn zero_means_no_limit() {
        let mut bucket = TokenBucket::new(0);
        let start = mono_us();
        assert!((0..100_000).all(|_| matches!(bucket.take(start), RateVerdict::Allow)));
    }
}
