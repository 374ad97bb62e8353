//! What the subscriber asks the server for: its patterns, each with the `rewind` of the
//! topics it brings, the `subscribe` messages that ask for them, and the requests still
//! unanswered on the current connection, so that messages of a topic being unsubscribed
//! (stragglers, sent before the server took the `unsubscribe`) are told apart from the
//! history of a later subscribe of the same topic.

use std::collections::VecDeque;

use tickcast_proto::{Pattern, Subscribe};

/// One pattern and the history its new topics start with.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    /// `rewind` of its `subscribe`: up to this many of the latest messages of each topic it
    /// brings that this client does not follow yet (`None`: the latest state only).
    rewind: Option<u32>,
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
    pub fn new(patterns: Vec<Pattern>, rewind: Option<u32>) -> Self {
        let mut subs = Self::default();
        subs.add(&patterns, rewind);
        subs
    }

    pub fn patterns(&self) -> Vec<Pattern> {
        self.entries.iter().map(|e| e.pattern.clone()).collect()
    }

    /// Adds patterns (a pattern already there takes the new `rewind`, as the server does
    /// with a re-subscribed pattern's options).
    pub fn add(&mut self, add: &[Pattern], rewind: Option<u32>) {
        let rewind = rewind.filter(|&n| n > 0);
        for p in add {
            match self.entries.iter_mut().find(|e| e.pattern == *p) {
                Some(entry) => entry.rewind = rewind,
                None => self.entries.push(Entry {
                    pattern: p.clone(),
                    rewind,
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

    /// The `subscribe` messages for `patterns` (all of them known here): one per distinct
    /// `rewind`, so each topic gets the history its pattern asked for. Each counts as a
    /// request sent.
    pub fn subscribes(&mut self, patterns: &[Pattern]) -> Vec<Subscribe> {
        let mut out: Vec<Subscribe> = Vec::new();
        for entry in self
            .entries
            .iter()
            .filter(|e| patterns.contains(&e.pattern))
        {
            let topic = entry.pattern.as_str().to_owned();
            match out.iter_mut().find(|s| s.rewind == entry.rewind) {
                Some(s) => s.topics.push(topic),
                None => out.push(Subscribe {
                    topics: vec![topic],
                    rewind: entry.rewind,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<Pattern> {
        list.iter().map(|p| Pattern::parse(p).unwrap()).collect()
    }

    #[test]
    fn one_subscribe_per_rewind() {
        let mut subs = Subscriptions::new(pats(&["ticks.*", "ticks.X"]), Some(200));
        subs.add(&pats(&["bars.1m.AAPL"]), Some(600));
        subs.add(&pats(&["bars.1s.*"]), Some(0));
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
        let mut subs = Subscriptions::new(pats(&["ticks.*", "bars.1m.A"]), None);
        assert!(!subs.unwanted("bars.1m.A"));
        assert!(subs.unwanted("bars.1m.B"), "no pattern matches it");
        subs.remove(&pats(&["bars.1m.A"]), true);
        // Subscribed again before the server answered the unsubscribe.
        subs.add(&pats(&["bars.1m.A"]), Some(100));
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
        let mut subs = Subscriptions::new(pats(&["ticks.*", "ticks.A"]), None);
        subs.remove(&pats(&["ticks.A"]), true);
        assert!(!subs.unwanted("ticks.A"), "ticks.* still delivers it");
        // Offline removals have nothing in flight; a new connection forgets the old one's.
        subs.remove(&pats(&["ticks.*"]), false);
        subs.add(&pats(&["ticks.*"]), None);
        assert!(!subs.unwanted("ticks.A"));
        subs.remove(&pats(&["ticks.*"]), true);
        subs.add(&pats(&["ticks.*"]), None);
        subs.connected();
        assert!(!subs.unwanted("ticks.A"));
    }
}
