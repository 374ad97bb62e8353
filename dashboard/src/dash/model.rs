//! The market as the dashboard knows it: one [`Quote`] per symbol with bounded tick and
//! bar histories, and the order books it follows. Pure data: no clock, no terminal; times
//! are passed in as `now_ns`.
//!
//! History (a subscribe's `rewind`) and live messages go through the same `apply_*`: a
//! series stays ordered and holds each tick (by seq) and each bar (by interval start)
//! once, whichever order they come in.

use std::collections::{BTreeMap, VecDeque};

use tickcast_client::OrderBook;
use tickcast_proto::{
    Bar, BarInterval, Book, BookUpdate, MarketState, Snapshot, Status, Tick, TopicKind,
};

/// Ticks kept per symbol (the line chart and the sparkline read from these).
pub const TICK_HISTORY: usize = 1200;
/// Bars kept per symbol and interval (a day of 1m bars).
pub const BAR_HISTORY: usize = 1440;
/// How long a price change flashes its cell.
pub const FLASH_NS: u64 = 400_000_000;
/// A symbol without a tick for this long is shown as stale.
pub const STALE_NS: u64 = 10_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// One trade in the tick series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The trade's seq in its topic.
    pub seq: u64,
    pub ts_ns: u64,
    pub price: f64,
    pub size: u64,
    /// Messages were lost between the previous point and this one.
    pub gap_before: bool,
}

/// One OHLCV bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Candle {
    pub ts_ns: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
    pub gap_before: bool,
}

/// A bounded series that remembers whether the next item follows a hole.
#[derive(Debug, Clone)]
pub struct Series<T> {
    pub items: VecDeque<T>,
    /// A gap was reported; the next item gets `gap_before`.
    pub pending_gap: bool,
}

impl<T> Default for Series<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
            pending_gap: false,
        }
    }
}

/// A price alert: fires once when the price crosses `target`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alert {
    pub target: f64,
    /// Fire when the price rises to the target (else when it falls to it).
    pub above: bool,
    pub fired_at_ns: Option<u64>,
}

/// Everything known about one symbol.
#[derive(Debug, Clone, Default)]
pub struct Quote {
    pub symbol: String,
    pub last: f64,
    pub bid: f64,
    pub ask: f64,
    /// Cumulative session volume.
    pub volume: u64,
    /// From the snapshot; else the first price seen.
    pub prev_close: Option<f64>,
    pub state: MarketState,
    pub last_seq: u64,
    /// Server stamp of the last tick.
    pub last_ts_ns: u64,
    /// Local wall clock when the last tick arrived (for staleness).
    pub updated_at_ns: u64,
    pub flash: Option<(Direction, u64)>,
    pub ticks: Series<Point>,
    /// Candles of every interval, indexed by [`BarInterval::index`].
    pub bars: [Series<Candle>; BarInterval::ALL.len()],
    pub gaps: u64,
    pub alert: Option<Alert>,
}

impl Quote {
    fn new(symbol: &str) -> Self {
        Self {
            symbol: symbol.to_owned(),
            ..Self::default()
        }
    }

    pub fn change(&self) -> Option<f64> {
        self.prev_close
            .filter(|_| self.last > 0.0)
            .map(|p| self.last - p)
    }

    pub fn change_pct(&self) -> Option<f64> {
        match (self.change(), self.prev_close) {
            (Some(c), Some(p)) if p != 0.0 => Some(c / p * 100.0),
            _ => None,
        }
    }

    pub fn is_stale(&self, now_ns: u64) -> bool {
        self.updated_at_ns > 0 && now_ns.saturating_sub(self.updated_at_ns) > STALE_NS
    }

    pub fn flashing(&self, now_ns: u64) -> Option<Direction> {
        self.flash
            .filter(|&(_, until)| now_ns < until)
            .map(|(d, _)| d)
    }

    pub fn bars(&self, interval: BarInterval) -> &Series<Candle> {
        &self.bars[interval.index()]
    }

    fn bars_mut(&mut self, interval: BarInterval) -> &mut Series<Candle> {
        &mut self.bars[interval.index()]
    }

    /// Whether a trade with `seq` is one this series already has (or older), with no
    /// hole or new epoch in between that would make seqs start over.
    fn has_trade(&self, seq: u64) -> bool {
        !self.ticks.pending_gap && !self.ticks.items.is_empty() && seq <= self.last_seq
    }

    fn push_point(&mut self, seq: u64, ts_ns: u64, price: f64, size: u64) {
        let gap_before =
            std::mem::take(&mut self.ticks.pending_gap) && !self.ticks.items.is_empty();
        if self.ticks.items.len() == TICK_HISTORY {
            self.ticks.items.pop_front();
        }
        self.ticks.items.push_back(Point {
            seq,
            ts_ns,
            price,
            size,
            gap_before,
        });
    }

    /// Moves to a new price; returns the alert that fired, if any.
    fn move_to(&mut self, price: f64, now_ns: u64) -> Option<f64> {
        if self.last > 0.0 && price != self.last {
            let dir = if price > self.last {
                Direction::Up
            } else {
                Direction::Down
            };
            self.flash = Some((dir, now_ns + FLASH_NS));
        }
        let before = self.last;
        self.last = price;
        self.updated_at_ns = now_ns;
        if self.prev_close.is_none() {
            self.prev_close = Some(price);
        }
        let alert = self.alert.as_mut()?;
        let crossed = if alert.above {
            price >= alert.target && (before < alert.target || before == 0.0)
        } else {
            price <= alert.target && (before > alert.target || before == 0.0)
        };
        if crossed && alert.fired_at_ns.is_none() {
            alert.fired_at_ns = Some(now_ns);
            return Some(alert.target);
        }
        None
    }
}

/// An alert that fired while applying a message.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertHit {
    pub symbol: String,
    pub target: f64,
    pub price: f64,
}

/// Symbol -> quote. Sorted by name; views sort as they like.
#[derive(Debug, Clone, Default)]
pub struct Market {
    pub quotes: BTreeMap<String, Quote>,
    /// Symbol -> its order book (the client verified every message that built it).
    pub books: BTreeMap<String, OrderBook>,
}

impl Market {
    fn quote_mut(&mut self, symbol: &str) -> &mut Quote {
        if !self.quotes.contains_key(symbol) {
            self.quotes.insert(symbol.to_owned(), Quote::new(symbol));
        }
        // The entry was inserted just above when missing.
        self.quotes
            .get_mut(symbol)
            .unwrap_or_else(|| unreachable!("quote inserted above"))
    }

    pub fn apply_tick(&mut self, tick: &Tick, now_ns: u64) -> Option<AlertHit> {
        let q = self.quote_mut(&tick.symbol);
        if q.has_trade(tick.seq) {
            return None;
        }
        q.last_seq = tick.seq;
        q.last_ts_ns = tick.ts;
        q.bid = tick.bid;
        q.ask = tick.ask;
        q.volume = tick.volume;
        q.push_point(tick.seq, tick.ts, tick.price, tick.size);
        let fired = q.move_to(tick.price, now_ns)?;
        Some(AlertHit {
            symbol: tick.symbol.clone(),
            target: fired,
            price: tick.price,
        })
    }

    pub fn apply_snapshot(&mut self, snap: &Snapshot, now_ns: u64) -> Option<AlertHit> {
        let q = self.quote_mut(&snap.symbol);
        q.prev_close = Some(snap.prev_close).filter(|p| *p > 0.0).or(q.prev_close);
        q.state = snap.state;
        q.bid = snap.bid;
        q.ask = snap.ask;
        q.volume = snap.volume;
        if !q.has_trade(snap.seq) {
            q.last_seq = snap.seq;
            q.last_ts_ns = snap.ts;
            q.push_point(snap.seq, snap.ts, snap.price, snap.size);
        }
        let fired = q.move_to(snap.price, now_ns)?;
        Some(AlertHit {
            symbol: snap.symbol.clone(),
            target: fired,
            price: snap.price,
        })
    }

    /// Puts a bar in its place by interval start: a bar already there is replaced (a bar
    /// is final when sent, so that is the same bar again), an older one is inserted in
    /// order, one older than everything a full series holds is dropped.
    pub fn apply_bar(&mut self, bar: &Bar) {
        let TopicKind::Bars { interval, .. } = TopicKind::of(&bar.topic) else {
            return;
        };
        let series = self.quote_mut(&bar.symbol).bars_mut(interval);
        let candle = Candle {
            ts_ns: bar.ts,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
            gap_before: false,
        };
        let at = series.items.partition_point(|c| c.ts_ns < candle.ts_ns);
        match series.items.get_mut(at) {
            Some(same) if same.ts_ns == candle.ts_ns => {
                let gap_before = same.gap_before;
                *same = Candle {
                    gap_before,
                    ..candle
                };
            }
            Some(_) => {
                // Older than what we have: history filling in before it.
                if series.items.len() == BAR_HISTORY {
                    if at == 0 {
                        return;
                    }
                    series.items.pop_front();
                    series.items.insert(at - 1, candle);
                } else {
                    series.items.insert(at, candle);
                }
            }
            None => {
                let gap_before =
                    std::mem::take(&mut series.pending_gap) && !series.items.is_empty();
                if series.items.len() == BAR_HISTORY {
                    series.items.pop_front();
                }
                series.items.push_back(Candle {
                    gap_before,
                    ..candle
                });
            }
        }
    }

    /// Forgets `symbol`'s bars of `interval`, before subscribing them again with history:
    /// the history replaces them, so no stale bar is left bridging a time we did not follow.
    pub fn reset_bars(&mut self, symbol: &str, interval: BarInterval) {
        if let Some(q) = self.quotes.get_mut(symbol) {
            *q.bars_mut(interval) = Series::default();
        }
    }

    pub fn apply_status(&mut self, status: &Status) {
        if let TopicKind::Ticks { symbol: sym } = TopicKind::of(&status.topic) {
            self.quote_mut(sym).state = status.state;
        }
    }

    /// A `book` replaces the symbol's book.
    pub fn apply_book(&mut self, book: &Book) {
        self.books
            .insert(book.symbol.clone(), OrderBook::from_book(book));
    }

    /// Patches the symbol's book; one that does not take the update (none yet, or a broken
    /// chain, which the client reports and resyncs) is dropped until a fresh `book` comes.
    pub fn apply_book_update(&mut self, update: &BookUpdate) {
        if let Some(book) = self.books.get_mut(&update.symbol) {
            if book.apply(update).is_err() {
                self.books.remove(&update.symbol);
            }
        }
    }

    /// Forgets the book of `topic` (`book.SYM`): no longer followed, or found wrong.
    pub fn drop_book(&mut self, topic: &str) {
        if let TopicKind::Book { symbol } = TopicKind::of(topic) {
            self.books.remove(symbol);
        }
    }

    /// Messages of `topic` were lost: the next point of its series starts after a hole.
    pub fn mark_gap(&mut self, topic: &str) {
        match TopicKind::of(topic) {
            TopicKind::Ticks { symbol } => {
                let q = self.quote_mut(symbol);
                q.gaps += 1;
                q.ticks.pending_gap = true;
            }
            TopicKind::Bars { interval, symbol } => {
                self.quote_mut(symbol).bars_mut(interval).pending_gap = true;
            }
            TopicKind::Book { .. } | TopicKind::Other => {}
        }
    }

    /// The server restarted (new epoch): every series continues after a hole.
    pub fn mark_all_gaps(&mut self) {
        for q in self.quotes.values_mut() {
            q.ticks.pending_gap = true;
            for series in &mut q.bars {
                series.pending_gap = true;
            }
        }
    }

    /// The earliest end of a running flash, for scheduling the redraw that clears it.
    pub fn next_flash_end(&self, now_ns: u64) -> Option<u64> {
        self.quotes
            .values()
            .filter_map(|q| q.flash.map(|(_, until)| until))
            .filter(|&until| until > now_ns)
            .min()
    }
}
