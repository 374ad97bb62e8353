//! What the subscriber asks the server for: its patterns, each with the `rewind` of the
//! topics it brings and the `depth` of its books, the `subscribe` messages that ask for
//! them, and the requests still unanswered on the current connection, so that messages of
//! a topic being unsubscribed (stragglers, sent before the server took the `unsubscribe`)
//! are told apart from the history of a later subscribe of the same topic; and the
//! `resume` pieces that hand positions over.

use std::collections::{BTreeMap, VecDeque};

use tickcast_proto::{Pattern, Position, Subscribe};

/// One pattern and what its new topics start with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    /// `rewind` of its `subscribe`: up to this many of the latest messages of each topic it
    /// brings that this client does not follow yet (`None`: the latest state only).
    rewind: Option<u32>,
    /// `depth` of its `subscribe`: levels per side of the books it brings (`None`: the
    /// server's default).
    depth: Option<u32>,
}

/// A request on the wire whose answer (`ack` or `error`) has not arrived. The server
/// answers requests in the order they were sent, so the oldest is answered next.
#[derive(Debug, Clone)]
enum Pending {
    /// A `resume` or `subscribe`.
    Other,
    /// An `unsubscribe` of `dropped`, sent while `kept` stayed subscribed: until it is
    /// answered, messages of topics that `dropped` matches and `kept` does not are
    /// stragglers.
    Unsubscribe {
        dropped: Vec<Pattern>,
        kept: Vec<Pattern>,
    },
}

/// The subscriber's patterns across connections, and its unanswered requests on the
/// current one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Subscriptions {
    entries: Vec<Entry>,
    pending: VecDeque<Pending>,
}

impl Subscriptions {
    pub fn new(patterns: Vec<Pattern>, rewind: Option<u32>, depth: Option<u32>) -> Self {
        let mut subs = Self::default();
        subs.add(&patterns, rewind, depth);
        subs
    }

    pub fn patterns(&self) -> Vec<Pattern> {
        self.entries.iter().map(|e| e.pattern.clone()).collect()
    }

    /// Adds patterns (a pattern already there takes the new options, as the server does
    /// with a re-subscribed pattern's: its books come again, fresh, at the new depth).
    pub fn add(&mut self, add: &[Pattern], rewind: Option<u32>, depth: Option<u32>) {
        let rewind = rewind.filter(|&n| n > 0);
        for p in add {
            match self.entries.iter_mut().find(|e| e.pattern == *p) {
                Some(entry) => {
                    entry.rewind = rewind;
                    entry.depth = depth;
                }
                None => self.entries.push(Entry {
                    pattern: p.clone(),
                    rewind,
                    depth,
                }),
            }
        }
    }

    /// Removes patterns. `sent`: an `unsubscribe` for them is going on the wire now, so
    /// their topics' messages are stragglers until it is answered.
    pub fn remove(&mut self, drop: &[Pattern], sent: bool) {
        self.entries.retain(|e| !drop.contains(&e.pattern));
        if sent {
            self.pending.push_back(Pending::Unsubscribe {
                dropped: drop.to_vec(),
                kept: self.patterns(),
            });
        }
    }

    /// The pattern to subscribe again (with its options) for a fresh `book` of `topic`:
    /// the topic itself when it is subscribed as such, else the first pattern that
    /// delivers it (whose other books then come fresh too).
    pub fn deliverer(&self, topic: &str) -> Option<Pattern> {
        let entries = || self.entries.iter().map(|e| &e.pattern);
        entries()
            .find(|p| p.as_str() == topic)
            .or_else(|| entries().find(|p| p.matches(topic)))
            .cloned()
    }

    /// The `subscribe` messages for `patterns` (all of them known here): one per distinct
    /// `rewind` and `depth`, so each topic gets the history and the book its pattern asked
    /// for. Each counts as a request sent.
    pub fn subscribes(&mut self, patterns: &[Pattern]) -> Vec<Subscribe> {
        let mut out: Vec<Subscribe> = Vec::new();
        for entry in self
            .entries
            .iter()
            .filter(|e| patterns.contains(&e.pattern))
        {
            let topic = entry.pattern.as_str().to_owned();
            match out
                .iter_mut()
                .find(|s| s.rewind == entry.rewind && s.depth == entry.depth)
            {
                Some(s) => s.topics.push(topic),
                None => out.push(Subscribe {
                    topics: vec![topic],
                    rewind: entry.rewind,
                    depth: entry.depth,
                    ..Subscribe::default()
                }),
            }
        }
        for _ in &out {
            self.sent_other();
        }
        out
    }

    /// A request other than `unsubscribe` (a `resume`) went on the wire.
    pub fn sent_other(&mut self) {
        self.pending.push_back(Pending::Other);
    }

    /// An `ack` or `error` arrived: it answers the oldest unanswered request.
    pub fn answered(&mut self) {
        self.pending.pop_front();
    }

    /// A new connection: nothing of the old one is in flight any more.
    pub fn connected(&mut self) {
        self.pending.clear();
    }

    /// Whether a message of `topic` is one this client no longer asked for: no pattern
    /// matches it, or it is a straggler of an unanswered `unsubscribe`.
    pub fn unwanted(&self, topic: &str) -> bool {
        let matches = |ps: &[Pattern]| ps.iter().any(|p| p.matches(topic));
        !self.entries.iter().any(|e| e.pattern.matches(topic))
            || self.pending.iter().any(|p| match p {
                Pending::Unsubscribe { dropped, kept } => matches(dropped) && !matches(kept),
                Pending::Other => false,
            })
    }
}

/// Splits `positions` into maps whose `resume` message stays under `max_bytes` (an
/// estimate from the topic lengths; MessagePack adds at most 21 bytes a position).
pub(crate) fn pieces(
    positions: BTreeMap<String, Position>,
    max_bytes: usize,
) -> Vec<BTreeMap<String, Position>> {
    const PER_POSITION: usize = 24;
    const ENVELOPE: usize = 32;
    let mut out = Vec::new();
    let mut piece = BTreeMap::new();
    let mut bytes = ENVELOPE;
    for (topic, position) in positions {
        let size = topic.len() + PER_POSITION;
        if !piece.is_empty() && bytes + size > max_bytes {
            out.push(std::mem::take(&mut piece));
            bytes = ENVELOPE;
        }
        bytes += size;
        piece.insert(topic, position);
    }
    if !piece.is_empty() {
        out.push(piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickcast_proto::{ClientMessage, Encoding, Resume, encode};

    fn pats(list: &[&str]) -> Vec<Pattern> {
        list.iter().map(|p| Pattern::parse(p).unwrap()).collect()
    }

    #[test]
    fn one_subscribe_per_rewind() {
        let mut subs = Subscriptions::new(pats(&["ticks.*", "ticks.X"]), Some(200), None);
        subs.add(&pats(&["bars.1m.AAPL"]), Some(600), None);
        subs.add(&pats(&["bars.1s.*"]), Some(0), None);
        let all = subs.patterns();
        let msgs = subs.subscribes(&all);
        let got: Vec<(Vec<String>, Option<u32>)> =
            msgs.into_iter().map(|s| (s.topics, s.rewind)).collect();
        assert_eq!(
            got,
            [
                (vec!["ticks.*".to_owned(), "ticks.X".to_owned()], Some(200)),
                (vec!["bars.1m.AAPL".to_owned()], Some(600)),
                (vec!["bars.1s.*".to_owned()], None),
            ]
        );
        // Only the patterns asked for.
        let msgs = subs.subscribes(&pats(&["bars.1m.AAPL"]));
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].snapshot, "the protocol default");
    }

    #[test]
    fn stragglers_of_an_unsubscribe_are_unwanted_until_it_is_answered() {
        let mut subs = Subscriptions::new(pats(&["ticks.*", "bars.1m.A"]), None, None);
        assert!(!subs.unwanted("bars.1m.A"));
        assert!(subs.unwanted("bars.1m.B"), "no pattern matches it");
        subs.remove(&pats(&["bars.1m.A"]), true);
        // Subscribed again before the server answered the unsubscribe.
        subs.add(&pats(&["bars.1m.A"]), Some(100), None);
        let all = subs.patterns();
        subs.subscribes(&all);
        assert!(
            subs.unwanted("bars.1m.A"),
            "sent under the old subscription"
        );
        assert!(!subs.unwanted("ticks.A"));
        subs.answered();
        assert!(
            !subs.unwanted("bars.1m.A"),
            "after the unsubscribe's ack, it is the new subscription's"
        );
    }

    #[test]
    fn a_pattern_that_stays_keeps_its_topics() {
        let mut subs = Subscriptions::new(pats(&["ticks.*", "ticks.A"]), None, None);
        subs.remove(&pats(&["ticks.A"]), true);
        assert!(!subs.unwanted("ticks.A"), "ticks.* still delivers it");
        // Offline removals have nothing in flight; a new connection forgets the old one's.
        subs.remove(&pats(&["ticks.*"]), false);
        subs.add(&pats(&["ticks.*"]), None, None);
        assert!(!subs.unwanted("ticks.A"));
        subs.remove(&pats(&["ticks.*"]), true);
        subs.add(&pats(&["ticks.*"]), None, None);
        subs.connected();
        assert!(!subs.unwanted("ticks.A"));
    }

    #[test]
    fn books_are_asked_for_at_their_depth() {
        let mut subs = Subscriptions::new(pats(&["ticks.*"]), Some(200), None);
        subs.add(&pats(&["book.A", "book.B"]), None, Some(25));
        let all = subs.patterns();
        let got: Vec<(Vec<String>, Option<u32>)> = subs
            .subscribes(&all)
            .into_iter()
            .map(|s| (s.topics, s.depth))
            .collect();
        assert_eq!(
            got,
            [
                (vec!["ticks.*".to_owned()], None),
                (vec!["book.A".to_owned(), "book.B".to_owned()], Some(25)),
            ]
        );
        // Another depth for a pattern already there: subscribed again at it.
        subs.add(&pats(&["book.A"]), None, Some(5));
        let msgs = subs.subscribes(&pats(&["book.A"]));
        assert_eq!(msgs[0].depth, Some(5));
        assert_eq!(subs.patterns().len(), 3);
    }

    #[test]
    fn a_book_is_asked_for_again_through_one_pattern() {
        let mut subs = Subscriptions::new(pats(&["book.*", "book.A", "ticks.*"]), None, Some(10));
        assert_eq!(subs.deliverer("book.A"), pats(&["book.A"]).pop(), "its own");
        assert_eq!(subs.deliverer("book.B"), pats(&["book.*"]).pop());
        assert_eq!(subs.deliverer("bars.1m.B"), None);
        let msgs = subs.subscribes(&pats(&["book.*"]));
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].depth, Some(10), "the same depth again");
        assert!(!subs.unwanted("book.B"), "nothing in flight to drop");
    }

    #[test]
    fn positions_are_split_into_resumes_that_fit() {
        let positions: BTreeMap<String, (u64, u64)> = (0..5_000)
            .map(|i| (format!("ticks.SYM{i:05}"), (u64::MAX, u64::MAX)))
            .collect();
        let limit = 4096;
        let split = pieces(positions.clone(), limit);
        assert!(split.len() > 1);
        assert_eq!(split.iter().map(BTreeMap::len).sum::<usize>(), 5_000);
        for since in split {
            let msg = ClientMessage::Resume(Resume { id: None, since });
            let bytes = encode(Encoding::MsgPack, &msg).unwrap();
            assert!(bytes.len() <= limit, "{} > {limit}", bytes.len());
        }
        assert!(pieces(BTreeMap::new(), limit).is_empty());
    }
}
