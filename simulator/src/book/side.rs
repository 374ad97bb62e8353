//! One side of a book: price levels in whole ticks, kept sorted, and the record of which
//! levels the change being built has touched.
//!
//! Both sides use the same ordering through a *key*: the price in ticks for bids, minus the
//! price in ticks for asks. Keys are ascending in `levels` and the best level (highest
//! bid, lowest ask) is the last one, so "deeper" always means a smaller key. The levels
//! are a ring buffer: a moving quote adds and removes levels at both ends at once (the
//! touch, and the deep end refilled or trimmed), each in constant time.

use std::collections::VecDeque;

/// Which side of the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SideKind {
    Bid,
    Ask,
}

impl SideKind {
    /// The key of a price in ticks (see the module docs).
    #[inline]
    pub(crate) fn key(self, ticks: i64) -> i64 {
        match self {
            Self::Bid => ticks,
            Self::Ask => -ticks,
        }
    }

    /// The price in ticks of a key.
    #[inline]
    pub(crate) fn ticks(self, key: i64) -> i64 {
        self.key(key)
    }
}

/// The levels of one side: `(key, lots)`, keys strictly ascending, lots > 0, best last.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    pub(crate) kind: SideKind,
    levels: VecDeque<(i64, u64)>,
    /// The deepest key a level may have: bids stay at or above one tick.
    floor_key: i64,
    /// Keys changed since the last [`Side::take_touched`], in no order, maybe repeated.
    touched: Vec<i64>,
}

impl Side {
    pub(crate) fn new(kind: SideKind, capacity: usize) -> Self {
        Self {
            kind,
            levels: VecDeque::with_capacity(capacity),
            floor_key: match kind {
                SideKind::Bid => 1,
                SideKind::Ask => i64::MIN / 4,
            },
            touched: Vec::with_capacity(capacity),
        }
    }

    /// The number of levels.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    /// The best key, if any level.
    #[inline]
    pub(crate) fn best(&self) -> Option<i64> {
        self.levels.back().map(|&(key, _)| key)
    }

    /// The deepest key, if any level.
    #[inline]
    pub(crate) fn deepest(&self) -> Option<i64> {
        self.levels.front().map(|&(key, _)| key)
    }

    /// The deepest key a level may have.
    #[inline]
    pub(crate) fn floor_key(&self) -> i64 {
        self.floor_key
    }

    /// The level `index` places from the touch (0 = the best), as `(key, lots)`.
    #[inline]
    pub(crate) fn nth_from_best(&self, index: usize) -> Option<(i64, u64)> {
        let len = self.levels.len();
        (index < len).then(|| self.levels[len - 1 - index])
    }

    /// Levels best first, as `(key, lots)`.
    pub(crate) fn best_first(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.levels.iter().rev().copied()
    }

    /// The lots at `key` (0 when there is no level).
    pub(crate) fn lots_at(&self, key: i64) -> u64 {
        self.levels
            .binary_search_by_key(&key, |&(k, _)| k)
            .map_or(0, |i| self.levels[i].1)
    }

    /// Sets the level at `key` to `lots` (0 removes it).
    pub(crate) fn set(&mut self, key: i64, lots: u64) {
        debug_assert!(key >= self.floor_key);
        self.touched.push(key);
        match self.levels.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) if lots == 0 => {
                self.levels.remove(i);
            }
            Ok(i) => self.levels[i].1 = lots,
            Err(_) if lots == 0 => {}
            Err(i) => self.levels.insert(i, (key, lots)),
        }
    }

    /// Adds `lots` at `key`, creating the level if needed.
    pub(crate) fn add(&mut self, key: i64, lots: u64) {
        let now = self.lots_at(key);
        self.set(key, now + lots);
    }

    /// Takes up to `lots` from the touch down (a trade against this side): whole levels are
    /// removed while the remainder covers them, the last one is reduced. Returns the lots
    /// left untaken (the side ran out).
    pub(crate) fn take_from_touch(&mut self, mut lots: u64) -> u64 {
        while lots > 0 {
            let Some(last) = self.levels.back_mut() else {
                break;
            };
            self.touched.push(last.0);
            if last.1 > lots {
                last.1 -= lots;
                return 0;
            }
            lots -= last.1;
            self.levels.pop_back();
        }
        lots
    }

    /// Removes every level better than `key` (those a new quote at `key` crosses).
    pub(crate) fn remove_better_than(&mut self, key: i64) {
        while let Some(&(best, _)) = self.levels.back() {
            if best <= key {
                break;
            }
            self.touched.push(best);
            self.levels.pop_back();
        }
    }

    /// Removes the deepest levels until at most `max` remain.
    pub(crate) fn trim_to(&mut self, max: usize) {
        if self.levels.len() > max {
            let excess = self.levels.len() - max;
            self.touched
                .extend(self.levels.drain(..excess).map(|(key, _)| key));
        }
    }

    /// Appends a level deeper than every other (`key` below the deepest).
    pub(crate) fn push_deepest(&mut self, key: i64, lots: u64) {
        debug_assert!(self.deepest().is_none_or(|d| key < d) && key >= self.floor_key);
        if lots > 0 {
            self.touched.push(key);
            self.levels.push_front((key, lots));
        }
    }

    /// The keys touched since the last call, best first and without repeats, with the lots
    /// each has now (0: removed); clears the record.
    pub(crate) fn take_touched(&mut self, out: &mut Vec<(i64, u64)>) {
        self.touched.sort_unstable_by(|a, b| b.cmp(a));
        self.touched.dedup();
        out.reserve(self.touched.len());
        for &key in &self.touched {
            out.push((key, self.lots_at(key)));
        }
        self.touched.clear();
    }

    /// Whether no level was touched since the last [`Side::take_touched`].
    pub(crate) fn untouched(&self) -> bool {
        self.touched.is_empty()
    }

    /// Forgets the touched record (the whole side is being sent).
    pub(crate) fn clear_touched(&mut self) {
        self.touched.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bids(levels: &[(i64, u64)]) -> Side {
        let mut side = Side::new(SideKind::Bid, 8);
        for &(ticks, lots) in levels {
            side.set(ticks, lots);
        }
        side.clear_touched();
        side
    }

    fn touched(side: &mut Side) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        side.take_touched(&mut out);
        out
    }

    #[test]
    fn keys_order_both_sides_best_last() {
        let mut asks = Side::new(SideKind::Ask, 4);
        for ticks in [103, 101, 102] {
            asks.set(SideKind::Ask.key(ticks), 1);
        }
        assert_eq!(asks.best().map(|k| SideKind::Ask.ticks(k)), Some(101));
        assert_eq!(asks.deepest().map(|k| SideKind::Ask.ticks(k)), Some(103));
        let b = bids(&[(99, 1), (100, 2), (98, 3)]);
        assert_eq!(b.best(), Some(100));
        assert_eq!(b.nth_from_best(2), Some((98, 3)));
        assert_eq!(b.nth_from_best(3), None);
    }

    #[test]
    fn a_trade_walks_levels_and_reports_them() {
        let mut b = bids(&[(98, 5), (99, 4), (100, 3)]);
        assert_eq!(b.take_from_touch(5), 0);
        assert_eq!(b.best_first().collect::<Vec<_>>(), [(99, 2), (98, 5)]);
        assert_eq!(touched(&mut b), [(100, 0), (99, 2)]);
        assert_eq!(b.take_from_touch(10), 3);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn crossing_and_deep_levels_are_removed_and_reported_once() {
        let mut b = bids(&[(97, 1), (98, 1), (99, 1), (100, 1)]);
        b.remove_better_than(98);
        b.set(98, 7);
        b.trim_to(1);
        assert_eq!(b.best_first().collect::<Vec<_>>(), [(98, 7)]);
        assert_eq!(touched(&mut b), [(100, 0), (99, 0), (98, 7), (97, 0)]);
        assert!(touched(&mut b).is_empty());
    }
}
