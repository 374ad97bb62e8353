//! Per-topic positions (`[epoch, seq]`) for resuming and for telling every loss apart:
//! each topic's epoch comes from that topic's own messages (a `snapshot`, a `bar`, a
//! `book`), never from the server's `welcome` (in a cluster the two differ). Trades and bar
//! topics count `seq` by one; a book topic is a chain instead (each `book_update` names the
//! `seq` it follows, and its own may skip), and is recovered by a fresh `book`, never by a
//! resume position.

use std::collections::BTreeMap;

use tickcast_proto::{Pattern, Position, TopicKind};

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
    /// A `book_update` does not follow the last message of its book topic (its `prev_seq`
    /// is not the `seq` we have): changes were lost, and the book patched from here is
    /// wrong until a fresh `book`. (With book verification on, the client asks for one
    /// and reports [`crate::ClientEvent::BookResync`] instead.)
    BookChain,
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

    /// A `book` arrived: the topic's state, which replaces what came before whatever its
    /// `seq` (a fresh book after a reconnect or a re-subscribe jumps, and loses nothing).
    /// A loss only when the server says so (`recovered: false`: updates it could not send
    /// a slow reader) or the topic has a new epoch.
    pub fn on_book(
        &mut self,
        topic: &str,
        epoch: u64,
        seq: u64,
        recovered: Option<bool>,
    ) -> SeqVerdict {
        let verdict = match (self.positions.get(topic), recovered) {
            (Some(&(e, _)), _) if epoch > e => SeqVerdict::Gap {
                expected: None,
                got: seq,
                cause: GapCause::NewEpoch,
            },
            (Some(&(e, last)), Some(false)) => SeqVerdict::Gap {
                expected: (e == epoch && seq > last).then_some(last + 1),
                got: seq,
                cause: GapCause::NotRecovered,
            },
            _ => SeqVerdict::InOrder,
        };
        self.set(topic, (epoch, seq));
        verdict
    }

    /// A `book_update` that follows `prev_seq` arrived: in order when that is the last
    /// `seq` we have of the topic (`seq` itself may skip: changes beyond our depth send
    /// nothing).
    pub fn on_book_update(&mut self, topic: &str, seq: u64, prev_seq: u64) -> SeqVerdict {
        let (epoch, verdict) = match self.positions.get(topic) {
            Some(&(_, last)) if seq <= last => return SeqVerdict::Duplicate,
            Some(&(epoch, last)) if prev_seq == last => (epoch, SeqVerdict::InOrder),
            Some(&(epoch, last)) => (
                epoch,
                SeqVerdict::Gap {
                    expected: Some(last + 1),
                    got: seq,
                    cause: GapCause::BookChain,
                },
            ),
            // An update with no book before it: what it applies to was never had.
            None => (
                0,
                SeqVerdict::Gap {
                    expected: None,
                    got: seq,
                    cause: GapCause::BookChain,
                },
            ),
        };
        self.set(topic, (epoch, seq));
        verdict
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

    /// The resume positions for a subscribe to `patterns`: every known topic they match,
    /// but book topics (a book comes back as a fresh `book`, whatever the position).
    pub fn since(&self, patterns: &[Pattern]) -> BTreeMap<String, Position> {
        self.positions
            .iter()
            .filter(|(topic, _)| !matches!(TopicKind::of(topic), TopicKind::Book { .. }))
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
    fn a_book_chain_skips_seqs_without_a_gap() {
        let mut t = Tracker::new();
        assert_eq!(t.on_book("book.A", 4, 812, None), SeqVerdict::InOrder);
        // Changes beyond our depth made no update: seq skips, prev_seq chains.
        assert_eq!(t.on_book_update("book.A", 815, 812), SeqVerdict::InOrder);
        assert_eq!(t.on_book_update("book.A", 816, 815), SeqVerdict::InOrder);
        assert_eq!(t.on_book_update("book.A", 830, 816), SeqVerdict::InOrder);
        assert_eq!(t.position("book.A"), Some((4, 830)));
        assert_eq!(t.on_book_update("book.A", 830, 816), SeqVerdict::Duplicate);
        // A missed update: prev_seq names one we never had.
        assert_eq!(
            t.on_book_update("book.A", 850, 840),
            gap(Some(831), 850, GapCause::BookChain)
        );
        assert_eq!(t.on_book_update("book.A", 851, 850), SeqVerdict::InOrder);
        assert_eq!(
            t.on_book_update("book.B", 3, 2),
            gap(None, 3, GapCause::BookChain),
            "an update with no book first"
        );
    }

    #[test]
    fn a_fresh_book_is_state_not_a_gap() {
        let mut t = Tracker::new();
        t.on_book("book.A", 4, 812, None);
        // After a reconnect or a re-subscribe: the book jumps, nothing is lost.
        assert_eq!(t.on_book("book.A", 4, 2_000, None), SeqVerdict::InOrder);
        // Even one we are past (another node's view): it replaces ours.
        assert_eq!(t.on_book("book.A", 4, 1_500, None), SeqVerdict::InOrder);
        assert_eq!(t.position("book.A"), Some((4, 1_500)));
        // A slow reader's updates replaced by a book: announced.
        assert_eq!(
            t.on_book("book.A", 4, 1_600, Some(false)),
            gap(Some(1_501), 1_600, GapCause::NotRecovered)
        );
        assert_eq!(
            t.on_book("book.A", 5, 3, None),
            gap(None, 3, GapCause::NewEpoch)
        );
        assert_eq!(t.on_book_update("book.A", 9, 3), SeqVerdict::InOrder);
        assert_eq!(t.position("book.A"), Some((5, 9)), "updates keep the epoch");
    }

    #[test]
    fn book_topics_are_never_resumed_by_position() {
        let mut t = Tracker::new();
        t.on_book("book.A", 1, 5, None);
        t.on_seq("ticks.A", 1, 7);
        let since = t.since(&pats(&[">"]));
        assert_eq!(since.keys().collect::<Vec<_>>(), ["ticks.A"]);
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
