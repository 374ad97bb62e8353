//! The order-flow model: how every symbol's book moves with its trades and between them.
//!
//! - **Start**: each book is built around the quote of the instrument's previous close
//!   and sent whole (`full`) before any other event.
//! - **Trade**: the aggressor is the side the trade price leans to (above the old mid: a
//!   buyer, taking asks; below: a seller; at the mid: a coin flip). The trade takes
//!   `ceil(size / lot)` lots from the touch of the other side, walking the book when it is
//!   larger than the touch (those levels are removed). Then each side is re-centred on the
//!   trade's quote: levels the quote crosses are removed, fresh levels fill the ticks
//!   between the quote and the old best (where the quote moved away), the deep end is
//!   refilled to [`MIN_LEVELS`] and trimmed to [`MAX_LEVELS`]. One change carries all of it.
//! - **Between trades**: a market-wide Poisson process, [`FLOW_PER_TRADE`] times the trade
//!   rate and picking symbols like the trades do, adds orders (at the touch most often:
//!   replenishment) or cancels part of a level, never inside the spread and never emptying
//!   the touch, so the quote stays the last trade's. Halted symbols' books are frozen.
//!
//! Everything is drawn from the books' own generator, seeded from `Config::seed` mixed with
//! [`SEED_MIX`]: the market's draws, and so its trades, are the same with books on or off.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::Exp1;

use super::shape::Shape;
use super::side::{Side, SideKind};
use super::{Book, BookChange, BookView, MAX_LEVELS, MIN_LEVELS};
use crate::config::{Arrivals, Config, ConfigError};
use crate::market::Pick;
use crate::quote::Quote;

/// Order-flow changes per trade, on average.
pub(crate) const FLOW_PER_TRADE: f64 = 3.0;
/// Mixed into `Config::seed` to seed the books' generator.
pub(crate) const SEED_MIX: u64 = 0xB00C_F10E_5EED_0017;
/// The share of order-flow events that add orders (the rest cancel).
const ADD_SHARE: f64 = 0.5;
/// An add is this fraction of a fresh level's size: with cancels taking half a level on
/// average, levels hover around their fresh size.
const ADD_SCALE: f64 = 0.5;
/// Mean distance of an add from the touch, in ticks (exponential, rounded down) ...
const ADD_DEPTH_TICKS: f64 = 4.0;
/// ... and of a cancel, in levels.
const CANCEL_DEPTH_LEVELS: f64 = 4.0;

/// A trade the books have not taken in yet.
#[derive(Debug, Clone, Copy)]
struct Trade {
    index: usize,
    quote: Quote,
    size: u64,
    ts: u64,
}

/// The books of every symbol of a market, with their generator and order-flow clock.
#[derive(Debug, Clone)]
pub(crate) struct Books {
    books: Vec<Book>,
    rng: ChaCha8Rng,
    clock: FlowClock,
    /// The last trade, whose change is due next (applied only then, so that a book read
    /// in between is the one the events so far describe).
    trade: Option<Trade>,
    /// How many symbols' full books have been handed out (all go first, in universe order).
    fulls_sent: usize,
    start_ns: u64,
}

impl Books {
    /// The initial books of `config`'s universe, each around the quote of its previous close.
    pub(crate) fn new(config: &Config) -> Result<Self, ConfigError> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ SEED_MIX);
        let instruments = config.universe.instruments();
        let books = instruments
            .iter()
            .map(|inst| {
                let mut book = Book::new(inst);
                let quote = Quote::around(book.grid.ticks(inst.price), inst.volatility);
                recentre(&mut book, quote, &mut rng);
                book
            })
            .collect();
        Ok(Self {
            clock: FlowClock::new(config, &mut rng)?,
            books,
            rng,
            trade: None,
            fulls_sent: 0,
            start_ns: config.start_ns,
        })
    }

    /// The change due before anything else: the last trade's, or a full book not yet sent.
    #[inline]
    pub(crate) fn take_due(&mut self) -> Option<BookChange> {
        if let Some(trade) = self.trade.take() {
            return Some(self.apply(trade));
        }
        let i = self.fulls_sent;
        let book = self.books.get_mut(i)?;
        self.fulls_sent += 1;
        Some(book.full(self.start_ns))
    }

    /// When the next order-flow event happens, in virtual ns after the start.
    #[inline]
    pub(crate) fn next_flow_ns(&self) -> u64 {
        self.clock.next_ns
    }

    /// Drops the order flow before `at_ns` (the whole market was halted).
    pub(crate) fn skip_to(&mut self, at_ns: u64) {
        self.clock.skip_to(at_ns, &mut self.rng);
    }

    /// Symbol `index` traded at `quote` (in ticks), `size` shares, at `ts`: its change is
    /// the next [`Books::take_due`].
    pub(crate) fn on_trade(&mut self, index: usize, quote: Quote, size: u64, ts: u64) {
        debug_assert!(
            self.trade.is_none(),
            "the last trade's change was not taken"
        );
        self.trade = Some(Trade {
            index,
            quote,
            size,
            ts,
        });
    }

    /// Takes a trade and the new quote into its book; returns the change.
    fn apply(&mut self, trade: Trade) -> BookChange {
        let Trade {
            index,
            quote,
            size,
            ts,
        } = trade;
        let book = &mut self.books[index];
        let rng = &mut self.rng;
        let price = quote.price as i64;
        let buyer = match book.touch_ticks() {
            (Some(bid), Some(ask)) if 2 * price != bid + ask => 2 * price > bid + ask,
            _ => rng.random(),
        };
        let lots = size.div_ceil(book.lot_size);
        let taken = if buyer { SideKind::Ask } else { SideKind::Bid };
        book.side_mut(taken).take_from_touch(lots);
        recentre(book, quote, rng);
        book.change(ts)
    }

    /// The next order-flow event: the change of one book, or `None` when it fell on a
    /// symbol for which `halted` is true.
    pub(crate) fn flow(&mut self, halted: impl Fn(usize) -> bool) -> Option<BookChange> {
        let (at_ns, index) = self.clock.fire(&mut self.rng);
        if halted(index) {
            return None;
        }
        let rng = &mut self.rng;
        let book = &mut self.books[index];
        let shape = book.shape;
        let kind = if rng.random() {
            SideKind::Bid
        } else {
            SideKind::Ask
        };
        let side = book.side_mut(kind);
        let touch = side.best()?;
        // A cancel takes part of a level; the touch keeps a lot (the quote is the last
        // trade's until the next trade), so a one-lot touch is added to instead.
        let cancel = if rng.random::<f64>() < ADD_SHARE {
            None
        } else {
            let from_best = (rng.sample::<f64, _>(Exp1) * CANCEL_DEPTH_LEVELS) as usize;
            side.nth_from_best(from_best.min(side.len() - 1))
                .filter(|&(key, lots)| key != touch || lots > 1)
        };
        if let Some((key, lots)) = cancel {
            let most = if key == touch { lots - 1 } else { lots };
            let cancelled = ((rng.random::<f64>() * most as f64) as u64 + 1).min(most);
            // Refill below the deepest level as it was: a cancelled level stays gone.
            let deepest = side.deepest().unwrap_or(key);
            side.set(key, lots - cancelled);
            fill_deep(side, deepest, &shape, rng);
        } else {
            let mut distance = (rng.sample::<f64, _>(Exp1) * ADD_DEPTH_TICKS) as i64;
            if touch - distance < side.floor_key() {
                distance = 0;
            }
            side.add(touch - distance, shape.lots(distance, ADD_SCALE, rng));
            side.trim_to(MAX_LEVELS);
        }
        Some(book.change(self.start_ns.saturating_add(at_ns)))
    }

    /// The whole book of symbol `index`.
    pub(crate) fn view(&self, index: usize) -> BookView {
        self.books[index].view()
    }
}

/// Makes `book`'s touch `quote`'s bid and ask (in ticks): crossed levels go, fresh levels
/// fill from the quote to the old best, the deep end is kept within the level bounds.
fn recentre(book: &mut Book, quote: Quote, rng: &mut ChaCha8Rng) {
    let shape = book.shape;
    for (kind, ticks) in [(SideKind::Bid, quote.bid), (SideKind::Ask, quote.ask)] {
        let side = book.side_mut(kind);
        let touch = kind.key(ticks as i64);
        side.remove_better_than(touch);
        if side.best() != Some(touch) {
            // Ticks above the old best (none: the side ran out), at most a full side deep.
            let lowest = side
                .best()
                .map_or(i64::MIN, |best| best + 1)
                .max(touch - MAX_LEVELS as i64 + 1)
                .max(side.floor_key());
            for key in lowest..=touch {
                let distance = touch - key;
                if !Shape::is_empty(distance, rng) {
                    side.set(key, shape.level_lots(distance, rng));
                }
            }
        }
        let deepest = side.deepest().unwrap_or(touch);
        fill_deep(side, deepest, &shape, rng);
        side.trim_to(MAX_LEVELS);
    }
}

/// Adds levels below `below` (the deepest key, or deeper) until the side has
/// [`MIN_LEVELS`] (or reaches its floor).
fn fill_deep(side: &mut Side, below: i64, shape: &Shape, rng: &mut ChaCha8Rng) {
    let Some(touch) = side.best() else {
        return;
    };
    let mut key = below;
    while side.len() < MIN_LEVELS {
        key -= 1;
        if key < side.floor_key() {
            return;
        }
        let distance = touch - key;
        if !Shape::is_empty(distance, rng) {
            side.push_deepest(key, shape.level_lots(distance, rng));
        }
    }
}

/// When order-flow events happen (a market-wide Poisson process) and on which symbol.
#[derive(Debug, Clone)]
struct FlowClock {
    /// Virtual seconds after the start of the next event ...
    next_t: f64,
    /// ... and the same in nanoseconds.
    next_ns: u64,
    mean_gap_s: f64,
    pick: Pick,
}

impl FlowClock {
    fn new(config: &Config, rng: &mut ChaCha8Rng) -> Result<Self, ConfigError> {
        let instruments = config.universe.instruments();
        let pick = match config.arrivals {
            // Round-robin trades: every symbol trades as often.
            Arrivals::Constant => Pick::Uniform(instruments.len()),
            Arrivals::Poisson => Pick::by_weight(instruments)?,
        };
        let mut clock = Self {
            next_t: 0.0,
            next_ns: 0,
            mean_gap_s: 1.0 / (FLOW_PER_TRADE * config.rate),
            pick,
        };
        clock.advance(0.0, rng);
        Ok(clock)
    }

    fn advance(&mut self, from_t: f64, rng: &mut ChaCha8Rng) {
        self.next_t = from_t + rng.sample::<f64, _>(Exp1) * self.mean_gap_s;
        self.next_ns = (self.next_t * 1e9) as u64;
    }

    /// The due event: its time (ns after the start) and symbol; draws the next time.
    fn fire(&mut self, rng: &mut ChaCha8Rng) -> (u64, usize) {
        let at_ns = self.next_ns;
        let index = self.pick.sample(rng);
        self.advance(self.next_t, rng);
        (at_ns, index)
    }

    /// Moves the next event to after `at_ns` when it is before (exact: no memory).
    fn skip_to(&mut self, at_ns: u64, rng: &mut ChaCha8Rng) {
        if self.next_ns < at_ns {
            self.advance(at_ns as f64 / 1e9, rng);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::universe::Instrument;

    fn book_at(bid: f64, ask: f64) -> (Book, ChaCha8Rng) {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut book = Book::new(&Instrument::new("T", 1.0, 0.2, 0.0));
        let quote = Quote {
            price: bid,
            bid,
            ask,
        };
        recentre(&mut book, quote, &mut rng);
        book.full(0);
        (book, rng)
    }

    /// `(ticks, lots)` best first.
    type Ticks = Vec<(i64, u64)>;

    fn sides(book: &Book) -> (Ticks, Ticks) {
        let ticks = |side: &Side| {
            side.best_first()
                .map(|(key, lots)| (side.kind.ticks(key), lots))
                .collect()
        };
        (ticks(&book.bids), ticks(&book.asks))
    }

    #[test]
    fn a_new_book_has_its_quote_and_full_sides() {
        let (book, _) = book_at(10_000.0, 10_001.0);
        let (bids, asks) = sides(&book);
        assert_eq!((bids[0].0, asks[0].0), (10_000, 10_001));
        assert!((MIN_LEVELS..=MAX_LEVELS).contains(&bids.len()));
        assert!((MIN_LEVELS..=MAX_LEVELS).contains(&asks.len()));
        // Near a zero price the bids stop at one tick.
        let (penny, _) = book_at(3.0, 4.0);
        assert_eq!(sides(&penny).0.last().map(|l| l.0), Some(1));
    }

    #[test]
    fn a_trade_larger_than_the_touch_removes_it_and_walks_on() {
        let (mut book, mut rng) = book_at(10_000.0, 10_001.0);
        let (_, asks) = sides(&book);
        let (touch, next) = (asks[0], asks[1]);
        // A buy of the whole touch and one lot more, quote moving up a tick.
        let mut books = Books {
            books: vec![book.clone()],
            rng: rng.clone(),
            clock: FlowClock {
                next_t: f64::INFINITY,
                next_ns: u64::MAX,
                mean_gap_s: 1.0,
                pick: Pick::Uniform(1),
            },
            trade: None,
            fulls_sent: 1,
            start_ns: 0,
        };
        let up = Quote {
            price: 10_001.0,
            bid: 10_000.0,
            ask: next.0 as f64,
        };
        books.on_trade(0, up, (touch.1 + 1) * 100, 7);
        let change = books.take_due().unwrap();
        assert_eq!(change.ts, 7);
        assert!(
            change.asks.contains(&(touch.0 as f64 / 100.0, 0)),
            "{change:?}"
        );
        let (_, asks) = sides(&books.books[0]);
        assert_eq!(
            asks[0],
            (next.0, next.1 - 1),
            "the walk took a lot from the next level"
        );
        // The same trade with the quote unchanged: a fresh level appears at the touch.
        let same = Quote {
            price: 10_001.0,
            bid: 10_000.0,
            ask: 10_001.0,
        };
        book.side_mut(SideKind::Ask).take_from_touch(touch.1 + 1);
        recentre(&mut book, same, &mut rng);
        let (_, asks) = sides(&book);
        assert_eq!(asks[0].0, touch.0);
        assert_eq!(asks[1], (next.0, next.1 - 1));
    }

    #[test]
    fn order_flow_keeps_the_quote_and_the_bounds() {
        let (book, _) = book_at(5_000.0, 5_002.0);
        let mut books = Books {
            books: vec![book],
            rng: ChaCha8Rng::seed_from_u64(9),
            clock: FlowClock {
                next_t: 0.0,
                next_ns: 0,
                mean_gap_s: 1e-3,
                pick: Pick::Uniform(1),
            },
            trade: None,
            fulls_sent: 1,
            start_ns: 0,
        };
        let mut last_ts = 0;
        for _ in 0..20_000 {
            let change = books.flow(|_| false).unwrap();
            assert!(change.ts >= last_ts);
            last_ts = change.ts;
            assert!(!change.full && change.bids.len() + change.asks.len() >= 1);
            let (bids, asks) = sides(&books.books[0]);
            assert_eq!((bids[0].0, asks[0].0), (5_000, 5_002));
            assert!((MIN_LEVELS..=MAX_LEVELS).contains(&bids.len()));
            assert!((MIN_LEVELS..=MAX_LEVELS).contains(&asks.len()));
        }
        assert!(books.flow(|_| true).is_none(), "a halted book is frozen");
    }
}
