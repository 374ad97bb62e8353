//! What the chart plots: the last ticks, or bars of one of the service's intervals.

use tickcast_proto::BarInterval;

/// The chart's time frame: ticks, or bars of one [`BarInterval`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeFrame {
    Ticks,
    Bars(BarInterval),
}

impl TimeFrame {
    /// Every frame, finest first: ticks, then each bar interval.
    pub const ALL: [TimeFrame; 1 + BarInterval::ALL.len()] = [
        TimeFrame::Ticks,
        TimeFrame::Bars(BarInterval::S1),
        TimeFrame::Bars(BarInterval::M1),
        TimeFrame::Bars(BarInterval::M5),
        TimeFrame::Bars(BarInterval::M15),
        TimeFrame::Bars(BarInterval::H1),
    ];

    fn position(self) -> usize {
        Self::ALL.iter().position(|&f| f == self).unwrap_or(0)
    }

    /// The next coarser frame, wrapping to ticks.
    pub fn next(self) -> Self {
        Self::ALL[(self.position() + 1) % Self::ALL.len()]
    }

    /// The next finer frame, wrapping to the coarsest.
    pub fn prev(self) -> Self {
        Self::ALL[(self.position() + Self::ALL.len() - 1) % Self::ALL.len()]
    }

    /// `ticks`, `1s`, `1m`, `5m`, `15m`, `1h`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ticks => "ticks",
            Self::Bars(interval) => interval.token(),
        }
    }

    pub fn interval(self) -> Option<BarInterval> {
        match self {
            Self::Ticks => None,
            Self::Bars(interval) => Some(interval),
        }
    }

    /// Whether time labels need seconds (`HH:MM:SS`) or not (`HH:MM`).
    pub fn shows_seconds(self) -> bool {
        matches!(self, Self::Ticks | Self::Bars(BarInterval::S1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cycle_both_ways_through_every_interval() {
        let mut f = TimeFrame::Ticks;
        let mut labels = Vec::new();
        for _ in 0..TimeFrame::ALL.len() {
            labels.push(f.label());
            f = f.next();
        }
        assert_eq!(labels, ["ticks", "1s", "1m", "5m", "15m", "1h"]);
        assert_eq!(f, TimeFrame::Ticks);
        assert_eq!(f.prev(), TimeFrame::Bars(BarInterval::H1));
        assert_eq!(f.prev().next(), f);
        assert!(TimeFrame::Bars(BarInterval::S1).shows_seconds());
        assert!(!TimeFrame::Bars(BarInterval::M1).shows_seconds());
    }
}
