//! Bar intervals: the one definition of which bars exist, their topic token and length.

use std::fmt;
use std::time::Duration;

/// The length of a bar, as it appears in its topic (`bars.1m.AAPL`) and in `interval_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BarInterval {
    /// One second: `bars.1s.SYM`.
    S1,
    /// One minute: `bars.1m.SYM`.
    M1,
    /// Five minutes: `bars.5m.SYM`.
    M5,
    /// Fifteen minutes: `bars.15m.SYM`.
    M15,
    /// One hour: `bars.1h.SYM`.
    H1,
}

impl BarInterval {
    /// Every interval the service builds, shortest first.
    pub const ALL: [BarInterval; 5] = [
        BarInterval::S1,
        BarInterval::M1,
        BarInterval::M5,
        BarInterval::M15,
        BarInterval::H1,
    ];

    /// The topic token: `"1s"`, `"1m"`, `"5m"`, `"15m"`, `"1h"`.
    pub const fn token(self) -> &'static str {
        match self {
            Self::S1 => "1s",
            Self::M1 => "1m",
            Self::M5 => "5m",
            Self::M15 => "15m",
            Self::H1 => "1h",
        }
    }

    /// Length in milliseconds (the wire's `interval_ms`).
    pub const fn len_ms(self) -> u64 {
        match self {
            Self::S1 => 1_000,
            Self::M1 => 60_000,
            Self::M5 => 300_000,
            Self::M15 => 900_000,
            Self::H1 => 3_600_000,
        }
    }

    /// Length in nanoseconds.
    pub const fn len_ns(self) -> u64 {
        self.len_ms() * 1_000_000
    }

    /// Length as a [`Duration`].
    pub const fn len(self) -> Duration {
        Duration::from_millis(self.len_ms())
    }

    /// Position in [`Self::ALL`] (for per-interval arrays).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The interval whose topic token is `token`.
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.token() == token)
    }

    /// The interval whose length is `len_ms` (as a `bar` carries it).
    pub fn from_len_ms(len_ms: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.len_ms() == len_ms)
    }

    /// The topic of `symbol`'s bars of this interval, e.g. `bars.1s.AAPL`.
    pub fn topic(self, symbol: &str) -> String {
        format!("bars.{}.{symbol}", self.token())
    }
}

impl fmt::Display for BarInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_lengths_and_indexes_agree() {
        for (i, interval) in BarInterval::ALL.into_iter().enumerate() {
            assert_eq!(interval.index(), i);
            assert_eq!(BarInterval::from_token(interval.token()), Some(interval));
            assert_eq!(BarInterval::from_len_ms(interval.len_ms()), Some(interval));
            assert_eq!(interval.len_ns(), interval.len().as_nanos() as u64);
        }
        assert_eq!(BarInterval::M1.topic("AAPL"), "bars.1m.AAPL");
        assert_eq!(BarInterval::from_token("2s"), None);
        assert_eq!(BarInterval::from_token("15m"), Some(BarInterval::M15));
        assert!(
            BarInterval::ALL
                .windows(2)
                .all(|w| w[0].len_ms() < w[1].len_ms())
        );
    }
}
