//! Per-topic positions (`[epoch, seq]`) for resuming and for telling every loss apart:
//! each topic's epoch comes from that topic's own messages (a `snapshot`, a `bar`), never
//! from the server's `welcome` (in a cluster the two differ).

use std::collections::BTreeMap;

use tickcast_proto::{Pattern, Position};

/// Why messages of a topic were lost to this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapCause {
    /// The server said so: a resume it could not serve, or a loss upstream of it
    /// (`recovered: false`).
    NotRecovered,
    /// The topic restarted with a new epoch (its source restarted): what came after our
    /// position in the old one is lost, however much it was.
    NewEpoch,
    /// The seqs jumped, as they do after `lagged` or under `max_rate`.
    SeqJump,
}

/// What a message means for its topic's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqVerdict {
    /// The next message, or the first one of the topic.
    InOrder,
    /// Messages were lost: seqs `expected..got` of the epoch (`expected` is `None` when the
    /// count is unknown, e.g. a new epoch).
    Gap {
        expected: Option<u64>,
        got: u64,
        cause: GapCause,
    },
    /// Already seen (a seq not above ours, or a message of an older epoch): drop it.
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

    /// The epoch of `topic` as far as we know it: the one stored for it, else `fallback`
    /// (the server's own epoch: right for a topic of a standalone server).
    pub fn epoch_of(&self, topic: &str, fallback: u64) -> u64 {
        self.positions
            .get(topic)
            .map_or(fallback, |&(epoch, _)| epoch)
    }

    /// A `tick` or `bar` with `seq` of `epoch` arrived on `topic`.
    pub fn on_seq(&mut self, topic: &str, epoch: u64, seq: u64) -> SeqVerdict {
        self.on_message(topic, (epoch, seq), None)
    }

    /// A `snapshot` (or a `bar` carrying `recovered`) arrived. `recovered == Some(false)`
    /// means the server could not send what came between our position and this one.
    pub fn on_snapshot(
        &mut self,
        topic: &str,
        epoch: u64,
        seq: u64,
        recovered: Option<bool>,
    ) -> SeqVerdict {
        let verdict = self.on_message(topic, (epoch, seq), recovered);
        // A snapshot is the topic's state: never dropped, even when it tells nothing new.
        match verdict {
            SeqVerdict::Duplicate => SeqVerdict::InOrder,
            other => other,
        }
    }

    fn on_message(
        &mut self,
        topic: &str,
        (epoch, seq): Position,
        recovered: Option<bool>,
    ) -> SeqVerdict {
        let verdict = match self.positions.get(topic) {
            None => SeqVerdict::InOrder,
            Some(&(e, _)) if epoch < e => return SeqVerdict::Duplicate,
            Some(&(e, _)) if epoch > e => SeqVerdict::Gap {
                expected: None,
                got: seq,
                cause: GapCause::NewEpoch,
            },
            Some(&(_, last)) if seq <= last => return SeqVerdict::Duplicate,
            Some(&(_, last)) if seq == last + 1 => SeqVerdict::InOrder,
            Some(&(_, last)) => SeqVerdict::Gap {
                expected: Some(last + 1),
                got: seq,
                cause: if recovered == Some(false) {
                    GapCause::NotRecovered
                } else {
                    GapCause::SeqJump
                },
            },
        };
        self.set(topic, (epoch, seq));
        verdict
    }

    fn set(&mut self, topic: &str, position: Position) {
        match self.positions.get_mut(topic) {
            Some(p) => *p = position,
            None => {
                self.positions.insert(topic.to_owned(), position);
            }
        }
    }

    /// The resume positions for a subscribe to `patterns`: every known topic they match.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<Pattern> {
        list.iter().map(|p| Pattern::parse(p).unwrap()).collect()
    }

    fn gap(expected: Option<u64>, got: u64, cause: GapCause) -> SeqVerdict {
        SeqVerdict::Gap {
            expected,
            got,
            cause,
        }
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
            gap(Some(6), 9, GapCause::SeqJump)
        );
        assert_eq!(t.on_seq("ticks.A", 1, 10), SeqVerdict::InOrder);
    }

    #[test]
    fn old_or_repeated_seqs_are_duplicates() {
        let mut t = Tracker::new();
        t.on_seq("bars.1m.A", 1, 5);
        assert_eq!(t.on_seq("bars.1m.A", 1, 5), SeqVerdict::Duplicate);
        assert_eq!(t.on_seq("bars.1m.A", 1, 3), SeqVerdict::Duplicate);
        // A message of an older epoch (a node behind) is stale too.
        assert_eq!(t.on_seq("bars.1m.A", 0, 99), SeqVerdict::Duplicate);
        assert_eq!(t.position("bars.1m.A"), Some((1, 5)));
    }

    #[test]
    fn a_new_epoch_is_a_loss_of_unknown_size() {
        let mut t = Tracker::new();
        t.on_seq("ticks.A", 1, 500);
        assert_eq!(
            t.on_snapshot("ticks.A", 2, 1, None),
            gap(None, 1, GapCause::NewEpoch)
        );
        assert_eq!(t.position("ticks.A"), Some((2, 1)));
        assert_eq!(t.epoch_of("ticks.A", 9), 2);
        assert_eq!(t.epoch_of("ticks.B", 9), 9);
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
            gap(Some(11), 50, GapCause::NotRecovered)
        );
        assert_eq!(t.on_seq("ticks.A", 1, 51), SeqVerdict::InOrder);
    }

    #[test]
    fn a_plain_snapshot_that_jumps_is_a_gap_too() {
        // What an older server sent after a resume it could not serve: never silent.
        let mut t = Tracker::new();
        t.on_seq("ticks.A", 3, 10);
        assert_eq!(
            t.on_snapshot("ticks.A", 3, 20, None),
            gap(Some(11), 20, GapCause::SeqJump)
        );
        // A snapshot we are already past is kept (it is state) but changes nothing.
        assert_eq!(t.on_snapshot("ticks.A", 3, 15, None), SeqVerdict::InOrder);
        assert_eq!(t.position("ticks.A"), Some((3, 20)));
    }

    #[test]
    fn a_rewind_window_is_in_order_from_its_first_message() {
        // History of a trades topic: a snapshot standing for its first trade, then ticks,
        // then live ticks; of a bar topic: bars that carry their epoch.
        let mut t = Tracker::new();
        assert_eq!(t.on_snapshot("ticks.A", 4, 801, None), SeqVerdict::InOrder);
        for seq in 802..=1000 {
            let epoch = t.epoch_of("ticks.A", 9);
            assert_eq!(epoch, 4, "the snapshot told the topic's epoch");
            assert_eq!(t.on_seq("ticks.A", epoch, seq), SeqVerdict::InOrder);
        }
        for seq in 300..=360 {
            assert_eq!(t.on_seq("bars.1m.A", 4, seq), SeqVerdict::InOrder);
        }
        assert_eq!(t.position("ticks.A"), Some((4, 1000)));
        assert_eq!(t.position("bars.1m.A"), Some((4, 360)));
    }

    #[test]
    fn a_rewind_after_a_failed_resume_announces_the_hole_once() {
        let mut t = Tracker::new();
        t.on_seq("bars.1m.A", 4, 10);
        // The window's first bar carries `recovered: false`; the rest follow in order.
        assert_eq!(
            t.on_snapshot("bars.1m.A", 4, 500, Some(false)),
            gap(Some(11), 500, GapCause::NotRecovered)
        );
        assert_eq!(t.on_seq("bars.1m.A", 4, 501), SeqVerdict::InOrder);
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
