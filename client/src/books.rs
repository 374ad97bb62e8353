//! The subscriber's books: every message of a book topic goes through the tracker (the
//! `prev_seq` chain), and, with verification on, into the topic's [`OrderBook`], whose
//! checksum must match after each `book` and `book_update`. What to do with the message
//! comes out as an [`Action`]; a wrong book is re-subscribed by the supervisor, at once the
//! first time, then later and later while the topic's books keep failing (a client and a
//! server that disagree for good must not loop).

use std::{collections::BTreeMap, time::Duration};

use tickcast_proto::{Book, BookUpdate, Pattern, ServerMessage};

use crate::{
    BookFault, OrderBook,
    tracker::{SeqVerdict, Tracker},
};

/// What becomes of a message of a book topic.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Pass it on, after reporting the loss the verdict may name (a gap).
    Forward(SeqVerdict),
    /// Drop it: already had, or a fresh `book` has been asked for.
    Drop,
    /// The topic's book is wrong at `seq`: drop the message, report it, and re-subscribe
    /// the topic for a fresh `book` `after` this long.
    Resync {
        seq: u64,
        fault: BookFault,
        after: Duration,
    },
}

/// The wait before the second resync in a row of a topic; it doubles with each next one.
const RESYNC_DELAY: Duration = Duration::from_millis(250);
/// The longest wait between two resyncs of a topic.
const MAX_RESYNC_DELAY: Duration = Duration::from_secs(30);

/// The wait before the `streak`-th resync in a row of a topic (1: the first, at once).
fn resync_delay(streak: u32) -> Duration {
    match streak {
        0 | 1 => Duration::ZERO,
        n => RESYNC_DELAY
            .saturating_mul(1 << (n - 2).min(16))
            .min(MAX_RESYNC_DELAY),
    }
}

#[derive(Debug, Clone)]
enum Slot {
    Live(OrderBook),
    /// A fresh `book` was asked for: updates until it comes are dropped.
    Resyncing,
}

/// The books of the subscribed book topics.
#[derive(Debug, Clone, Default)]
pub(crate) struct Books {
    /// Keep and check every book (false: only the tracker's `prev_seq` chain is followed,
    /// and a broken one is reported as a gap).
    verify: bool,
    books: BTreeMap<String, Slot>,
    /// Resyncs in a row per topic, with no update verifying in between.
    streaks: BTreeMap<String, u32>,
}

impl Books {
    pub fn new(verify: bool) -> Self {
        Self {
            verify,
            books: BTreeMap::new(),
            streaks: BTreeMap::new(),
        }
    }

    /// What to do with `msg`: `None` when it is not a message of a book topic.
    pub fn on_message(&mut self, tracker: &mut Tracker, msg: &ServerMessage) -> Option<Action> {
        match msg {
            ServerMessage::Book(b) => Some(self.on_book(tracker, b)),
            ServerMessage::BookUpdate(u) => Some(self.on_update(tracker, u)),
            _ => None,
        }
    }

    /// A `book` replaces the topic's book, whatever came before.
    fn on_book(&mut self, tracker: &mut Tracker, msg: &Book) -> Action {
        let verdict = tracker.on_book(&msg.topic, msg.epoch, msg.seq, msg.recovered);
        if !self.verify {
            return Action::Forward(verdict);
        }
        let book = OrderBook::from_book(msg);
        match book.verify(msg.checksum) {
            Ok(()) => {
                self.set(&msg.topic, Slot::Live(book));
                Action::Forward(verdict)
            }
            Err(fault) => self.resync(&msg.topic, msg.seq, fault),
        }
    }

    fn on_update(&mut self, tracker: &mut Tracker, msg: &BookUpdate) -> Action {
        if self.verify && matches!(self.books.get(&msg.topic), Some(Slot::Resyncing)) {
            return Action::Drop;
        }
        let verdict = tracker.on_book_update(&msg.topic, msg.seq, msg.prev_seq);
        if verdict == SeqVerdict::Duplicate {
            return Action::Drop;
        }
        if !self.verify {
            return Action::Forward(verdict);
        }
        let applied = match self.books.get_mut(&msg.topic) {
            // The book's own chain check agrees with the tracker's.
            Some(Slot::Live(book)) => book.apply(msg),
            _ => Err(BookFault::Chain {
                have: None,
                prev_seq: msg.prev_seq,
            }),
        };
        match applied {
            Ok(()) => {
                self.streaks.remove(&msg.topic);
                Action::Forward(verdict)
            }
            Err(fault) => self.resync(&msg.topic, msg.seq, fault),
        }
    }

    fn resync(&mut self, topic: &str, seq: u64, fault: BookFault) -> Action {
        self.set(topic, Slot::Resyncing);
        let streak = match self.streaks.get_mut(topic) {
            Some(n) => {
                *n = n.saturating_add(1);
                *n
            }
            None => {
                self.streaks.insert(topic.to_owned(), 1);
                1
            }
        };
        Action::Resync {
            seq,
            fault,
            after: resync_delay(streak),
        }
    }

    fn set(&mut self, topic: &str, slot: Slot) {
        match self.books.get_mut(topic) {
            Some(s) => *s = slot,
            None => {
                self.books.insert(topic.to_owned(), slot);
            }
        }
    }

    /// The verified book of `topic`, unless a fresh one is on its way.
    #[cfg(test)]
    pub fn get(&self, topic: &str) -> Option<&OrderBook> {
        match self.books.get(topic) {
            Some(Slot::Live(book)) => Some(book),
            _ => None,
        }
    }

    /// A new connection: every book topic starts again with a fresh `book` (a topic whose
    /// books keep failing keeps its streak).
    pub fn connected(&mut self) {
        self.books.clear();
    }

    /// Forget the books of topics no pattern matches any more.
    pub fn retain_matching(&mut self, patterns: &[Pattern]) {
        let matched = |topic: &String| patterns.iter().any(|p| p.matches(topic));
        self.books.retain(|topic, _| matched(topic));
        self.streaks.retain(|topic, _| matched(topic));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        GapCause,
        book::tests::{doc_book, doc_update},
    };

    fn book(b: Book) -> ServerMessage {
        ServerMessage::Book(b)
    }

    fn update(u: BookUpdate) -> ServerMessage {
        ServerMessage::BookUpdate(u)
    }

    #[test]
    fn verified_updates_pass_and_skipped_seqs_are_no_gap() {
        let (mut books, mut tracker) = (Books::new(true), Tracker::new());
        let fwd = Some(Action::Forward(SeqVerdict::InOrder));
        assert_eq!(books.on_message(&mut tracker, &book(doc_book())), fwd);
        // seq 812 -> 815: the update chains by prev_seq.
        assert_eq!(books.on_message(&mut tracker, &update(doc_update())), fwd);
        let held = books.get("book.AAPL").map(OrderBook::seq);
        assert_eq!(held, Some(815));
        // Already had: dropped, the book untouched.
        assert_eq!(
            books.on_message(&mut tracker, &update(doc_update())),
            Some(Action::Drop)
        );
        let other = ServerMessage::Heartbeat(Default::default());
        assert_eq!(books.on_message(&mut tracker, &other), None);
    }

    #[test]
    fn a_crafted_bad_checksum_resyncs_once() {
        let (mut books, mut tracker) = (Books::new(true), Tracker::new());
        books.on_message(&mut tracker, &book(doc_book()));
        let bad = BookUpdate {
            checksum: 42,
            ..doc_update()
        };
        assert_eq!(
            books.on_message(&mut tracker, &update(bad)),
            Some(Action::Resync {
                seq: 815,
                fault: BookFault::Checksum {
                    expected: 42,
                    computed: 922_130_848
                },
                after: Duration::ZERO,
            })
        );
        assert_eq!(books.get("book.AAPL"), None, "a wrong book is not shown");
        // Until the fresh book comes, its updates are dropped (no second resync).
        let next = BookUpdate {
            seq: 816,
            prev_seq: 815,
            ..doc_update()
        };
        assert_eq!(
            books.on_message(&mut tracker, &update(next)),
            Some(Action::Drop)
        );
        // The fresh book (a later seq) replaces it, no gap.
        let fresh = Book {
            seq: 900,
            ..doc_book()
        };
        assert_eq!(
            books.on_message(&mut tracker, &book(fresh)),
            Some(Action::Forward(SeqVerdict::InOrder))
        );
        assert_eq!(books.get("book.AAPL").map(OrderBook::seq), Some(900));
    }

    #[test]
    fn a_broken_chain_or_a_bad_book_resyncs() {
        let (mut books, mut tracker) = (Books::new(true), Tracker::new());
        books.on_message(&mut tracker, &book(doc_book()));
        let missed = BookUpdate {
            prev_seq: 813,
            ..doc_update()
        };
        assert_eq!(
            books.on_message(&mut tracker, &update(missed)),
            Some(Action::Resync {
                seq: 815,
                fault: BookFault::Chain {
                    have: Some(812),
                    prev_seq: 813
                },
                after: Duration::ZERO,
            })
        );
        let wrong = Book {
            checksum: 7,
            ..doc_book()
        };
        assert!(
            matches!(
                books.on_message(&mut tracker, &book(wrong)),
                Some(Action::Resync {
                    seq: 812,
                    fault: BookFault::Checksum { expected: 7, .. },
                    after,
                }) if after == RESYNC_DELAY
            ),
            "the second resync in a row waits"
        );
        // An update of a topic that never had a book.
        let stray = BookUpdate {
            topic: "book.MSFT".into(),
            ..doc_update()
        };
        assert!(matches!(
            books.on_message(&mut tracker, &update(stray)),
            Some(Action::Resync {
                fault: BookFault::Chain { have: None, .. },
                ..
            })
        ));
    }

    #[test]
    fn resyncs_that_keep_failing_are_spaced_out() {
        let (mut books, mut tracker) = (Books::new(true), Tracker::new());
        let bad = Book {
            checksum: 7,
            ..doc_book()
        };
        let mut waits = Vec::new();
        for _ in 0..10 {
            if let Some(Action::Resync { after, .. }) =
                books.on_message(&mut tracker, &book(bad.clone()))
            {
                waits.push(after.as_millis());
            }
        }
        assert_eq!(
            waits,
            [
                0, 250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000
            ]
        );
        // A verified update ends the streak: the next fault resyncs at once.
        books.on_message(&mut tracker, &book(doc_book()));
        books.on_message(&mut tracker, &update(doc_update()));
        let bad = BookUpdate {
            seq: 816,
            prev_seq: 815,
            checksum: 1,
            ..doc_update()
        };
        assert!(matches!(
            books.on_message(&mut tracker, &update(bad)),
            Some(Action::Resync { after, .. }) if after.is_zero()
        ));
        assert_eq!(resync_delay(u32::MAX), MAX_RESYNC_DELAY);
    }

    #[test]
    fn without_verification_a_broken_chain_is_a_gap() {
        let (mut books, mut tracker) = (Books::new(false), Tracker::new());
        books.on_message(&mut tracker, &book(doc_book()));
        let bad = BookUpdate {
            checksum: 42,
            ..doc_update()
        };
        assert_eq!(
            books.on_message(&mut tracker, &update(bad)),
            Some(Action::Forward(SeqVerdict::InOrder)),
            "the checksum is not checked"
        );
        let missed = BookUpdate {
            seq: 830,
            prev_seq: 820,
            ..doc_update()
        };
        assert_eq!(
            books.on_message(&mut tracker, &update(missed)),
            Some(Action::Forward(SeqVerdict::Gap {
                expected: Some(816),
                got: 830,
                cause: GapCause::BookChain
            }))
        );
        assert_eq!(books.get("book.AAPL"), None, "no books kept");
    }

    #[test]
    fn a_slow_readers_fresh_book_is_an_announced_gap() {
        let (mut books, mut tracker) = (Books::new(true), Tracker::new());
        books.on_message(&mut tracker, &book(doc_book()));
        let fresh = Book {
            seq: 2_000,
            recovered: Some(false),
            ..doc_book()
        };
        assert_eq!(
            books.on_message(&mut tracker, &book(fresh)),
            Some(Action::Forward(SeqVerdict::Gap {
                expected: Some(813),
                got: 2_000,
                cause: GapCause::NotRecovered
            }))
        );
        books.connected();
        assert_eq!(books.get("book.AAPL"), None);
    }
}
