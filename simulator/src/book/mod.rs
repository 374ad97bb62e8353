//! Limit order books, one per symbol (`Config::books`): the [`BookChange`] events and the
//! [`BookView`] snapshot a consumer sees, and the [`Book`] of one symbol they come from.
//!
//! **Invariants** of every book after every change: levels are whole ticks and whole lots
//! (> 0), sorted, never crossed or locked (best bid < best ask); bids stay at or above one
//! tick. Right after a trade's change, the best bid and ask are that trade's `bid` and `ask`;
//! between trades the order flow never moves them. How the book moves is the order-flow
//! model's business ([`flow`]); level sizes are [`shape`]'s.

mod flow;
mod shape;
mod side;

pub(crate) use flow::Books;

use crate::quote::TickGrid;
use crate::universe::Instrument;
use shape::Shape;
use side::{Side, SideKind};

/// At least this many levels are kept on each side (fewer bids only when there is no room
/// for them above the one-tick floor) ...
pub const MIN_LEVELS: usize = 50;
/// ... and at most this many: deeper levels are dropped.
pub const MAX_LEVELS: usize = 64;

/// A change of one symbol's book on `book.SYMBOL`: the levels that changed, or the whole
/// book when `full`.
#[derive(Debug, Clone, PartialEq)]
pub struct BookChange {
    /// `book.SYMBOL`.
    pub topic: String,
    pub symbol: String,
    /// Virtual nanoseconds, the clock of the trades: a trade's change has the trade's `ts`.
    pub ts: u64,
    /// The instrument's tick size in dollars: `(price / tick_size).round()` is a level's tick.
    pub tick_size: f64,
    /// `true`: `bids` and `asks` are the whole book (the first change of each symbol), not
    /// changes to apply.
    pub full: bool,
    /// Changed bid levels `(price, size in shares)`, best (highest) first; size 0 removes
    /// the level.
    pub bids: Vec<(f64, u64)>,
    /// Changed ask levels `(price, size in shares)`, best (lowest) first; size 0 removes
    /// the level.
    pub asks: Vec<(f64, u64)>,
}

/// The whole book of one symbol now ([`crate::Market::book`]).
#[derive(Debug, Clone, PartialEq)]
pub struct BookView {
    pub symbol: String,
    /// The `ts` of the last change.
    pub ts: u64,
    pub tick_size: f64,
    /// `(price, size in shares)`, best (highest) first.
    pub bids: Vec<(f64, u64)>,
    /// `(price, size in shares)`, best (lowest) first.
    pub asks: Vec<(f64, u64)>,
}

/// The book of one symbol: two [`Side`]s in ticks and lots, and the names its changes
/// carry.
#[derive(Debug, Clone)]
pub(crate) struct Book {
    topic: String,
    symbol: String,
    grid: TickGrid,
    lot_size: u64,
    shape: Shape,
    bids: Side,
    asks: Side,
    /// The `ts` of the last change.
    ts: u64,
}

impl Book {
    /// An empty book for `instrument`.
    pub(crate) fn new(instrument: &Instrument) -> Self {
        Self {
            topic: format!("book.{}", instrument.symbol),
            symbol: instrument.symbol.clone(),
            grid: TickGrid::new(instrument.tick_size),
            lot_size: instrument.lot_size,
            shape: Shape::new(instrument.price),
            bids: Side::new(SideKind::Bid, MAX_LEVELS + 1),
            asks: Side::new(SideKind::Ask, MAX_LEVELS + 1),
            ts: 0,
        }
    }

    pub(crate) fn side_mut(&mut self, kind: SideKind) -> &mut Side {
        match kind {
            SideKind::Bid => &mut self.bids,
            SideKind::Ask => &mut self.asks,
        }
    }

    /// Best bid and best ask in ticks.
    pub(crate) fn touch_ticks(&self) -> (Option<i64>, Option<i64>) {
        (
            self.bids.best().map(|k| SideKind::Bid.ticks(k)),
            self.asks.best().map(|k| SideKind::Ask.ticks(k)),
        )
    }

    /// The changes since the last change or full book, stamped `ts`.
    pub(crate) fn change(&mut self, ts: u64) -> BookChange {
        let bids = self.changed(SideKind::Bid);
        let asks = self.changed(SideKind::Ask);
        self.stamp(ts, false, bids, asks)
    }

    /// The touched levels of one side, best first, as the public types carry them.
    fn changed(&mut self, kind: SideKind) -> Levels {
        let (grid, lot) = (self.grid, self.lot_size);
        let side = self.side_mut(kind);
        if side.untouched() {
            return Vec::new();
        }
        let mut keys = Vec::new();
        side.take_touched(&mut keys);
        // Reuse the allocation: `(i64, u64)` and `(f64, u64)` differ only in the price.
        keys.into_iter()
            .map(|(key, lots)| level(grid, lot, kind, key, lots))
            .collect()
    }

    /// The whole book, stamped `ts`.
    pub(crate) fn full(&mut self, ts: u64) -> BookChange {
        self.bids.clear_touched();
        self.asks.clear_touched();
        let (bids, asks) = self.levels();
        self.stamp(ts, true, bids, asks)
    }

    /// The whole book as it is.
    pub(crate) fn view(&self) -> BookView {
        let (bids, asks) = self.levels();
        BookView {
            symbol: self.symbol.clone(),
            ts: self.ts,
            tick_size: self.grid.tick_size,
            bids,
            asks,
        }
    }

    /// Bids and asks, best first.
    fn levels(&self) -> (Levels, Levels) {
        let (grid, lot) = (self.grid, self.lot_size);
        let side = |side: &Side| -> Levels {
            side.best_first()
                .map(|(key, lots)| level(grid, lot, side.kind, key, lots))
                .collect()
        };
        (side(&self.bids), side(&self.asks))
    }

    fn stamp(&mut self, ts: u64, full: bool, bids: Levels, asks: Levels) -> BookChange {
        debug_assert!(self.is_consistent(), "{self:?}");
        self.ts = ts;
        BookChange {
            topic: self.topic.clone(),
            symbol: self.symbol.clone(),
            ts,
            tick_size: self.grid.tick_size,
            full,
            bids,
            asks,
        }
    }

    /// The invariants of the module docs (debug builds check them on every change).
    fn is_consistent(&self) -> bool {
        let (bid, ask) = self.touch_ticks();
        let uncrossed = match (bid, ask) {
            (Some(b), Some(a)) => b < a,
            _ => true,
        };
        let ok = |side: &Side| {
            side.len() <= MAX_LEVELS
                && side.deepest().is_none_or(|d| d >= side.floor_key())
                && side.best_first().all(|(_, lots)| lots > 0)
        };
        uncrossed && ok(&self.bids) && ok(&self.asks)
    }
}

/// Levels as the public types carry them: `(price, size in shares)`.
type Levels = Vec<(f64, u64)>;

/// A level as the public types carry it: price in dollars, size in shares.
#[inline]
fn level(grid: TickGrid, lot_size: u64, kind: SideKind, key: i64, lots: u64) -> (f64, u64) {
    (
        grid.dollars(kind.ticks(key) as f64),
        lots.saturating_mul(lot_size),
    )
}
