//! How much history each topic keeps: the last `messages` of a trades (or publisher's)
//! topic, and per bar interval the last so many bars ([`BarHistory`]). What `since`
//! replays, `rewind` sends and `GET /history` returns comes from there.

use std::fmt;
use std::str::FromStr;

use tickcast_proto::{BarInterval, TopicKind};

/// Bars kept per bar topic, for each interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarHistory([usize; BarInterval::ALL.len()]);

impl BarHistory {
    /// An hour of 1-second bars and a whole day of every coarser interval:
    /// `1s=3600,1m=1440,5m=288,15m=96,1h=24`.
    pub const DEFAULT: Self = Self([3_600, 1_440, 288, 96, 24]);

    /// Bars kept of `interval`.
    pub const fn get(self, interval: BarInterval) -> usize {
        self.0[interval.index()]
    }

    /// The same bounds with `interval` keeping `bars`.
    pub const fn with(mut self, interval: BarInterval, bars: usize) -> Self {
        self.0[interval.index()] = bars;
        self
    }
}

impl Default for BarHistory {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a `--bar-history` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}: expected INTERVAL=COUNT[,...] with INTERVAL one of 1s, 1m, 5m, 15m, 1h")]
pub struct BadBarHistory(String);

/// `1s=3600,1h=48`: the intervals named change, the others keep their default.
impl FromStr for BarHistory {
    type Err = BadBarHistory;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bounds = Self::DEFAULT;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || BadBarHistory(format!("bad bar history {item:?}"));
            let (token, count) = item.split_once('=').ok_or_else(bad)?;
            let interval = BarInterval::from_token(token.trim()).ok_or_else(bad)?;
            let count = count.trim().parse().map_err(|_| bad())?;
            bounds = bounds.with(interval, count);
        }
        Ok(bounds)
    }
}

impl fmt::Display for BarHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, interval) in BarInterval::ALL.into_iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{interval}={}", self.get(interval))?;
        }
        Ok(())
    }
}

/// The history bounds of every topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Messages kept per trades topic (and per topic a publisher uses).
    pub messages: usize,
    pub bars: BarHistory,
}

impl Retention {
    /// No history at all (a broker that only stamps and forwards).
    pub const NONE: Self = Self {
        messages: 0,
        bars: BarHistory([0; BarInterval::ALL.len()]),
    };

    /// Messages the topic `name` keeps.
    pub fn capacity(&self, name: &str) -> usize {
        match TopicKind::of(name) {
            TopicKind::Bars { interval, .. } => self.bars.get(interval),
            TopicKind::Ticks { .. } | TopicKind::Other => self.messages,
            // A book is recovered from its current state (a fresh `book`), not a replay.
            TopicKind::Book { .. } => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_prints_and_keeps_unnamed_defaults() {
        let text = BarHistory::DEFAULT.to_string();
        assert_eq!(text, "1s=3600,1m=1440,5m=288,15m=96,1h=24");
        assert_eq!(text.parse(), Ok(BarHistory::DEFAULT));
        let custom: BarHistory = "1s=10, 1h=48".parse().unwrap();
        assert_eq!(custom.get(BarInterval::S1), 10);
        assert_eq!(custom.get(BarInterval::H1), 48);
        assert_eq!(custom.get(BarInterval::M1), 1_440);
        for bad in ["1s", "2s=4", "1m=-1", "1m=x"] {
            assert!(bad.parse::<BarHistory>().is_err(), "{bad}");
        }
    }

    #[test]
    fn capacity_follows_the_topic_kind() {
        let retention = Retention {
            messages: 7,
            bars: BarHistory::DEFAULT.with(BarInterval::M5, 3),
        };
        assert_eq!(retention.capacity("ticks.AAPL"), 7);
        assert_eq!(retention.capacity("news.AAPL"), 7);
        assert_eq!(retention.capacity("bars.5m.AAPL"), 3);
        assert_eq!(retention.capacity("bars.1h.AAPL"), 24);
    }
}
