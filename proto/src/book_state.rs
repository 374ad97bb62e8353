//! The order book of a `book.SYM` topic: the whole book as it changes, and one view per
//! depth (the book to that depth as of the last change that touched it), from which each
//! change becomes one `book_update` per depth it touches. Views follow every change whether
//! anyone subscribes or not, so a view's `seq` (the next update's `prev_seq`) depends only
//! on the changes, never on when a subscriber came: every server fed the same changes says
//! the same. Between cluster members a book travels whole ([`BookState::whole`], with each
//! view's `seq`) and as changes ([`BookState::change_update`]), from which every node
//! builds the same state ([`BookState::load`], [`BookDelta::from_update`]).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::book::{self, DEPTHS, Level};
use crate::{Book, BookUpdate};

/// A change of a book as it enters the broker: changed levels (size 0 removes), or with
/// `full` the whole book.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BookDelta {
    pub topic: String,
    pub symbol: String,
    pub ts: u64,
    pub tick_size: f64,
    pub full: bool,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// The book to one depth as of the last change that touched it, and that change's `seq`.
#[derive(Debug, Clone, Default)]
struct View {
    bids: Vec<Level>,
    asks: Vec<Level>,
    seq: u64,
}

/// How often a source sends its books whole between cluster members (by the changes'
/// `ts`), for members that start late or missed a change.
pub const WHOLE_EVERY_NS: u64 = 2_000_000_000;

/// The whole book of one symbol, and its view at every depth of [`DEPTHS`].
#[derive(Debug, Default)]
pub struct BookState {
    pub symbol: String,
    pub tick_size: f64,
    pub ts: u64,
    /// Price in ticks -> size; best bid first.
    bids: BTreeMap<Reverse<i64>, u64>,
    /// Price in ticks -> size; best ask first.
    asks: BTreeMap<i64, u64>,
    /// By index into [`DEPTHS`].
    views: [View; DEPTHS.len()],
    /// When the book was last sent whole ([`BookState::whole_due`]).
    whole_sent_ts: Option<u64>,
}

impl BookDelta {
    /// The change a whole-book `book_update` between cluster members carries
    /// ([`BookState::change_update`]); `tick_size` comes from the book it applies to.
    pub fn from_update(update: &BookUpdate, tick_size: f64) -> Self {
        Self {
            topic: update.topic.clone(),
            symbol: update.symbol.clone(),
            ts: update.ts,
            tick_size,
            full: false,
            bids: update.bids.clone(),
            asks: update.asks.clone(),
        }
    }
}

/// The index of `depth` in [`DEPTHS`].
pub fn depth_index(depth: u32) -> Option<usize> {
    DEPTHS.iter().position(|&d| d == depth)
}

impl BookState {
    /// Applies a change (a `full` one replaces the book).
    pub fn apply(&mut self, delta: &BookDelta) {
        self.symbol.clone_from(&delta.symbol);
        self.tick_size = delta.tick_size;
        self.ts = delta.ts;
        if delta.full {
            self.bids.clear();
            self.asks.clear();
        }
        for &(price, size) in &delta.bids {
            let ticks = Reverse(self.ticks(price));
            if size == 0 {
                self.bids.remove(&ticks);
            } else {
                self.bids.insert(ticks, size);
            }
        }
        for &(price, size) in &delta.asks {
            let ticks = self.ticks(price);
            if size == 0 {
                self.asks.remove(&ticks);
            } else {
                self.asks.insert(ticks, size);
            }
        }
    }

    /// A book loaded whole, as a source's [`BookState::whole`] and its views' `seq`s
    /// describe it: the same state as the source's, so the same updates follow.
    pub fn load(whole: &Book, view_seqs: [u64; DEPTHS.len()]) -> Self {
        let mut state = Self::default();
        state.apply(&BookDelta {
            topic: whole.topic.clone(),
            symbol: whole.symbol.clone(),
            ts: whole.ts,
            tick_size: whole.tick_size,
            full: true,
            bids: whole.bids.clone(),
            asks: whole.asks.clone(),
        });
        for (i, depth) in DEPTHS.into_iter().enumerate() {
            let (bids, asks) = state.top(depth);
            state.views[i] = View {
                bids,
                asks,
                seq: view_seqs[i],
            };
        }
        state
    }

    /// Whether a source should send the book whole now (first, then every
    /// [`WHOLE_EVERY_NS`] of its changes' time); true counts as sent.
    pub fn whole_due(&mut self) -> bool {
        let due = self
            .whole_sent_ts
            .is_none_or(|sent| self.ts.saturating_sub(sent) >= WHOLE_EVERY_NS);
        if due {
            self.whole_sent_ts = Some(self.ts);
        }
        due
    }

    /// Each depth's view `seq` (the last change that touched it), in the order of [`DEPTHS`].
    pub fn view_seqs(&self) -> [u64; DEPTHS.len()] {
        self.views.each_ref().map(|v| v.seq)
    }

    /// The whole book (every level; `depth` 0) as of change `seq`: what a cluster member
    /// sends for others to [`BookState::load`].
    pub fn whole(&self, topic: &str, epoch: u64, seq: u64) -> Book {
        let (bids, asks) = self.top(u32::MAX);
        self.book(topic, epoch, 0, seq, bids, asks, None)
    }

    /// `delta` (just applied as change `seq`) as a whole-book `book_update` between
    /// cluster members: every changed level, `prev_seq` the change before, the checksum
    /// of the book after it.
    pub fn change_update(&self, delta: &BookDelta, seq: u64) -> BookUpdate {
        let (bids, asks) = self.top(10);
        BookUpdate {
            topic: delta.topic.clone(),
            seq,
            prev_seq: seq.saturating_sub(1),
            ts: self.ts,
            symbol: self.symbol.clone(),
            bids: delta.bids.clone(),
            asks: delta.asks.clone(),
            checksum: book::checksum(&bids, &asks, self.tick_size),
        }
    }

    fn ticks(&self, price: f64) -> i64 {
        (price / self.tick_size).round() as i64
    }

    fn price(&self, ticks: i64) -> f64 {
        // Rounded to the grid's decimals, so 18722 ticks of 0.01 reads 187.22, not 187.2200000001.
        let decimals = (-self.tick_size.log10()).ceil().max(0.0) as i32;
        let scale = 10f64.powi(decimals);
        (ticks as f64 * self.tick_size * scale).round() / scale
    }

    /// Whether the book has no level at all (no change has arrived yet).
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    /// The top `depth` levels of each side.
    pub fn top(&self, depth: u32) -> (Vec<Level>, Vec<Level>) {
        let depth = usize::try_from(depth).unwrap_or(usize::MAX);
        let bids = self
            .bids
            .iter()
            .take(depth)
            .map(|(p, &s)| (self.price(p.0), s))
            .collect();
        let asks = self
            .asks
            .iter()
            .take(depth)
            .map(|(&p, &s)| (self.price(p), s))
            .collect();
        (bids, asks)
    }

    /// The `book` a new subscriber of `depth` gets: the view of its depth, with its `seq`.
    pub fn snapshot(
        &self,
        topic: &str,
        epoch: u64,
        depth: u32,
        recovered: Option<bool>,
    ) -> Option<Book> {
        let view = &self.views[depth_index(depth)?];
        Some(self.book(
            topic,
            epoch,
            depth,
            view.seq,
            view.bids.clone(),
            view.asks.clone(),
            recovered,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn book(
        &self,
        topic: &str,
        epoch: u64,
        depth: u32,
        seq: u64,
        bids: Vec<Level>,
        asks: Vec<Level>,
        recovered: Option<bool>,
    ) -> Book {
        Book {
            topic: topic.to_owned(),
            seq,
            epoch,
            ts: self.ts,
            symbol: self.symbol.clone(),
            tick_size: self.tick_size,
            depth,
            checksum: book::checksum(&bids, &asks, self.tick_size),
            bids,
            asks,
            recovered,
        }
    }

    /// The update the book's latest change (`seq`) makes at each depth: `None` for a depth
    /// whose view it left unchanged (those subscribers get nothing; the next update's
    /// `prev_seq` still names the last one they got).
    pub fn updates(&mut self, topic: &str, seq: u64) -> [Option<BookUpdate>; DEPTHS.len()] {
        let mut out: [Option<BookUpdate>; DEPTHS.len()] = Default::default();
        for (i, depth) in DEPTHS.into_iter().enumerate() {
            let view = &self.views[i];
            let (bids, asks) = self.top(depth);
            let bid_changes = diff(&view.bids, &bids, |a, b| a > b);
            let ask_changes = diff(&view.asks, &asks, |a, b| a < b);
            if bid_changes.is_empty() && ask_changes.is_empty() {
                continue;
            }
            out[i] = Some(BookUpdate {
                topic: topic.to_owned(),
                seq,
                prev_seq: view.seq,
                ts: self.ts,
                symbol: self.symbol.clone(),
                checksum: book::checksum(&bids, &asks, self.tick_size),
                bids: bid_changes,
                asks: ask_changes,
            });
            self.views[i] = View { bids, asks, seq };
        }
        out
    }
}

/// The levels that make `old` into `new` (both sorted best first by `better`): changed or
/// new levels with their size, removed ones with size 0; best first.
fn diff(old: &[Level], new: &[Level], better: impl Fn(f64, f64) -> bool) -> Vec<Level> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(&(op, os)), Some(&(np, ns))) if op == np => {
                if os != ns {
                    out.push((np, ns));
                }
                i += 1;
                j += 1;
            }
            (Some(&(op, _)), Some(&(np, _))) if better(op, np) => {
                out.push((op, 0));
                i += 1;
            }
            (_, Some(&level)) => {
                out.push(level);
                j += 1;
            }
            (Some(&(op, _)), None) => {
                out.push((op, 0));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Applies an update's levels to a local copy of `depth` levels, as PROTOCOL.md section 8
/// tells a client to (prices compared exactly, as a server writes them on its grid); the
/// reference the server's own tests hold its output to.
pub fn apply_levels(
    side: &mut Vec<Level>,
    changes: &[Level],
    better: impl Fn(f64, f64) -> bool,
    depth: usize,
) {
    for &(price, size) in changes {
        side.retain(|&(p, _)| p != price);
        if size > 0 {
            let at = side
                .iter()
                .position(|&(p, _)| better(price, p))
                .unwrap_or(side.len());
            side.insert(at, (price, size));
        }
    }
    side.truncate(depth);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(full: bool, bids: &[Level], asks: &[Level]) -> BookDelta {
        BookDelta {
            topic: "book.X".into(),
            symbol: "X".into(),
            ts: 1,
            tick_size: 0.01,
            full,
            bids: bids.to_vec(),
            asks: asks.to_vec(),
        }
    }

    #[test]
    fn a_client_applying_every_update_keeps_the_servers_book_at_its_depth() {
        let mut state = BookState::default();
        let bids: Vec<Level> = (0..20u32)
            .map(|i| (100.0 - f64::from(i) * 0.01, 100 + u64::from(i)))
            .collect();
        let asks: Vec<Level> = (0..20u32)
            .map(|i| (100.01 + f64::from(i) * 0.01, 200 + u64::from(i)))
            .collect();
        state.apply(&delta(true, &bids, &asks));
        state.updates("book.X", 1);
        let first = state.snapshot("book.X", 9, 5, None).unwrap();
        assert_eq!(first.seq, 1);
        assert_eq!(first.bids.len(), 5);
        assert_eq!(
            first.checksum,
            book::checksum(&first.bids, &first.asks, 0.01)
        );
        let (mut local_bids, mut local_asks) = (first.bids.clone(), first.asks.clone());
        let mut last_seq = first.seq;
        let changes = [
            delta(false, &[(100.0, 0)], &[]), // best bid removed: level 6 enters
            delta(false, &[(99.9, 5)], &[]),  // deep: outside depth 5
            delta(false, &[], &[(100.0, 7)]), // a better ask
            delta(false, &[(99.99, 1), (99.98, 0)], &[(100.01, 0)]),
        ];
        for (n, change) in changes.iter().enumerate() {
            state.apply(change);
            let seq = 2 + n as u64;
            let updates = state.updates("book.X", seq);
            let Some(update) = &updates[0] else {
                continue; // nothing at depth 5 changed
            };
            assert_eq!(
                update.prev_seq, last_seq,
                "prev_seq names the last message sent"
            );
            apply_levels(&mut local_bids, &update.bids, |a, b| a > b, 5);
            apply_levels(&mut local_asks, &update.asks, |a, b| a < b, 5);
            assert_eq!(
                book::checksum(&local_bids, &local_asks, 0.01),
                update.checksum
            );
            assert_eq!((local_bids.clone(), local_asks.clone()), state.top(5));
            last_seq = update.seq;
        }
        assert_eq!(last_seq, 5, "the deep change made no update at depth 5");
    }

    #[test]
    fn prices_read_back_on_the_grid() {
        let mut state = BookState::default();
        state.apply(&delta(true, &[(187.22, 1)], &[(187.23, 1)]));
        assert_eq!(state.top(1), (vec![(187.22, 1)], vec![(187.23, 1)]));
    }
}
