//! The ladder's own subscription: while the depth ladder is shown (`b`), the book topic of
//! the selected symbol, at depth [`DEPTH`], or [`TALL_DEPTH`] when the ladder is tall
//! enough to show that many levels a side. The previous topic is dropped when the selection
//! moves or the ladder is hidden; when the depth that fits changes, the topic is subscribed
//! again at the new one (a fresh `book` comes). A topic that one of the user's patterns
//! delivers is only read.

use tickcast_client::Command;
use tickcast_proto::Pattern;

use super::{app::App, ui};

/// Levels per side the ladder asks for.
pub const DEPTH: u32 = 10;
/// Levels per side when the ladder has rows for as many.
pub const TALL_DEPTH: u32 = 25;

/// The book topic the ladder shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookTopic {
    pub topic: String,
    /// The depth it is subscribed at (`None`: a user's pattern delivers it, at its depth).
    pub depth: Option<u32>,
    /// Subscribed by the dashboard for the ladder, and dropped by it.
    pub owned: bool,
}

/// The depth that fills a ladder of `rows` level rows (both sides together).
pub fn depth_for(rows: usize) -> u32 {
    if rows >= 2 * TALL_DEPTH as usize {
        TALL_DEPTH
    } else {
        DEPTH
    }
}

impl App {
    /// Brings the ladder's subscription in line with the selection, the `b` toggle and the
    /// ladder's height.
    pub(super) fn follow_book(&mut self) {
        let desired = match (&self.selected, self.ladder) {
            (Some(symbol), true) => {
                let topic = format!("book.{symbol}");
                let covered = self
                    .patterns
                    .iter()
                    .filter_map(|p| Pattern::parse(p).ok())
                    .any(|p| p.matches(&topic));
                Some(BookTopic {
                    depth: (!covered).then(|| depth_for(ui::ladder_rows(self))),
                    owned: !covered,
                    topic,
                })
            }
            _ => None,
        };
        if desired == self.book_topic {
            return;
        }
        let same = |d: &BookTopic, topic: &str| d.topic == topic;
        let old = self.book_topic.take();
        if let Some(old) = old.as_ref().filter(|b| b.owned) {
            // Still ours at another depth: subscribed again below, not dropped.
            let again = desired
                .as_ref()
                .is_some_and(|d| same(d, &old.topic) && d.owned);
            if !again {
                if let Ok(p) = Pattern::parse(&old.topic) {
                    self.outbox.push(Command::Unsubscribe(vec![p]));
                }
            }
            // No longer followed, it would go stale (unless a user pattern keeps it live).
            if !desired.as_ref().is_some_and(|d| same(d, &old.topic)) {
                self.market.drop_book(&old.topic);
            }
        }
        if let Some(new) = desired.as_ref().filter(|b| b.owned) {
            if let Ok(p) = Pattern::parse(&new.topic) {
                // A fresh book comes with the subscription (it replaces one at another depth).
                if !old.as_ref().is_some_and(|o| same(new, &o.topic)) {
                    self.market.drop_book(&new.topic);
                }
                self.outbox.push(Command::Subscribe {
                    patterns: vec![p],
                    rewind: None,
                    depth: new.depth,
                });
            }
        }
        self.book_topic = desired;
    }

    /// Whether `pattern` is the ladder's own subscription rather than one of the user's.
    pub(super) fn is_book_pattern(&self, pattern: &str) -> bool {
        self.book_topic
            .as_ref()
            .is_some_and(|b| b.owned && b.topic == pattern)
    }
}
