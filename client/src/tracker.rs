//! Per-topic positions (`[epoch, seq]`) for `since` recovery and gap detection.

use std::collections::BTreeMap;

use tickcast_proto::{Pattern, Position};

/// What a message's `seq` means for its topic: in order, after a gap, or already seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// The next message, or the first one seen (or the first of a new server epoch).
    InOrder,
    /// Messages `expected..got` were skipped.
    Gap { expected: u64, got: u64 },
    /// Already seen (e.g. a bar resent after resubscribe): drop it.
    Duplicate,
}

/// The last `[epoch, seq]` seen per topic.
#[derive(Debug, Default, Clone)]
pub struct Tracker {
    positions: BTreeMap<String, Position>,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// A `tick` or `bar` with `seq` arrived on `topic` from a server of `epoch`.
    pub fn on_seq(&mut self, topic: &str, epoch: u64, seq: u64) -> SeqVerdict {
        let verdict = match self.last_seq(topic, epoch) {
            Some(last) if seq <= last => return SeqVerdict::Duplicate,
            Some(last) => after(last, seq),
            None => SeqVerdict::InOrder,
        };
        self.set(topic, (epoch, seq));
        verdict
    }

    /// A `snapshot` arrived. `recovered == Some(false)` means our `since` could not be
    /// replayed: a hole, reported as a gap when the epoch is unchanged.
    pub fn on_snapshot(
        &mut self,
        topic: &str,
        epoch: u64,
        seq: u64,
        recovered: Option<bool>,
    ) -> SeqVerdict {
        let verdict = match self.last_seq(topic, epoch) {
            Some(last) if recovered == Some(false) => after(last, seq),
            _ => SeqVerdict::InOrder,
        };
        self.set(topic, (epoch, seq));
        verdict
    }

    /// The last `seq` seen on `topic` from a server of `epoch` (none after an epoch change).
    fn last_seq(&self, topic: &str, epoch: u64) -> Option<u64> {
        match self.positions.get(topic) {
            Some(&(e, last)) if e == epoch => Some(last),
            _ => None,
        }
    }

    fn set(&mut self, topic: &str, position: Position) {
        match self.positions.get_mut(topic) {
            Some(p) => *p = position,
            None => {
                self.positions.insert(topic.to_owned(), position);
            }
        }
    }

    /// The `since` map for a subscribe to `patterns`: every known topic they match.
    pub fn since(&self, patterns: &[Pattern]) -> BTreeMap<String, Position> {
        self.positions
            .iter()
            .filter(|(topic, _)| patterns.iter().any(|p| p.matches(topic)))
            .map(|(topic, &pos)| (topic.clone(), pos))
            .collect()
    }

    /// Forget topics no pattern matches any more, so a later subscribe starts fresh.
    pub fn retain_matching(&mut self, patterns: &[Pattern]) {
        self.positions
            .retain(|topic, _| patterns.iter().any(|p| p.matches(topic)));
    }

    pub fn position(&self, topic: &str) -> Option<Position> {
        self.positions.get(topic).copied()
    }
}

/// What `seq` means after `last` (both of one epoch): a gap if it skips any, else in order.
fn after(last: u64, seq: u64) -> SeqVerdict {
    if seq > last + 1 {
        SeqVerdict::Gap {
            expected: last + 1,
            got: seq,
        }
    } else {
        SeqVerdict::InOrder
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<Pattern> {
        list.iter().map(|p| Pattern::parse(p).unwrap()).collect()
    }

    #[test]
    fn consecutive_seqs_are_in_order() {
        let mut t = Tracker::new();
        assert_eq!(t.on_seq("ticks.A", 1, 5), SeqVerdict::InOrder);
        assert_eq!(t.on_seq("ticks.A", 1, 6), SeqVerdict::InOrder);
        assert_eq!(t.position("ticks.A"), Some((1, 6)));
    }

    #[test]
    fn a_skip_is_a_gap_and_advances() {
        let mut t = Tracker::new();
        t.on_seq("ticks.A", 1, 5);
        assert_eq!(
            t.on_seq("ticks.A", 1, 9),
            SeqVerdict::Gap {
                expected: 6,
                got: 9
            }
        );
        assert_eq!(t.on_seq("ticks.A", 1, 10), SeqVerdict::InOrder);
    }

    #[test]
    fn old_or_repeated_seqs_are_duplicates() {
        let mut t = Tracker::new();
        t.on_seq("bars.1m.A", 1, 5);
        assert_eq!(t.on_seq("bars.1m.A", 1, 5), SeqVerdict::Duplicate);
        assert_eq!(t.on_seq("bars.1m.A", 1, 3), SeqVerdict::Duplicate);
        assert_eq!(t.position("bars.1m.A"), Some((1, 5)));
    }

    #[test]
    fn a_new_epoch_starts_over_without_a_gap() {
        let mut t = Tracker::new();
        t.on_seq("ticks.A", 1, 500);
        assert_eq!(t.on_seq("ticks.A", 2, 1), SeqVerdict::InOrder);
        assert_eq!(t.position("ticks.A"), Some((2, 1)));
    }

    #[test]
    fn topics_are_independent() {
        let mut t = Tracker::new();
        t.on_seq("ticks.A", 1, 1);
        assert_eq!(t.on_seq("ticks.B", 1, 7), SeqVerdict::InOrder);
        assert_eq!(t.on_seq("ticks.A", 1, 2), SeqVerdict::InOrder);
    }

    #[test]
    fn unrecovered_snapshot_reports_the_hole() {
        let mut t = Tracker::new();
        t.on_seq("ticks.A", 1, 10);
        assert_eq!(
            t.on_snapshot("ticks.A", 1, 50, Some(false)),
            SeqVerdict::Gap {
                expected: 11,
                got: 50
            }
        );
        assert_eq!(t.on_seq("ticks.A", 1, 51), SeqVerdict::InOrder);
    }

    #[test]
    fn plain_snapshots_set_the_position() {
        let mut t = Tracker::new();
        assert_eq!(t.on_snapshot("ticks.A", 3, 50, None), SeqVerdict::InOrder);
        assert_eq!(t.on_seq("ticks.A", 3, 51), SeqVerdict::InOrder);
        // A snapshot of a new epoch after a restart is not a gap either.
        assert_eq!(
            t.on_snapshot("ticks.A", 4, 2, Some(false)),
            SeqVerdict::InOrder
        );
    }

    #[test]
    fn since_covers_matching_topics_only() {
        let mut t = Tracker::new();
        t.on_seq("ticks.A", 1, 1);
        t.on_seq("bars.1m.A", 1, 2);
        let since = t.since(&pats(&["ticks.*"]));
        assert_eq!(since.len(), 1);
        assert_eq!(since["ticks.A"], (1, 1));
        t.retain_matching(&pats(&["bars.>"]));
        assert_eq!(t.position("ticks.A"), None);
        assert_eq!(t.position("bars.1m.A"), Some((1, 2)));
    }
}
