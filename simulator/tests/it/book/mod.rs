//! Order books (`Config::books`): every change keeps the book well-formed and consistent
//! with the trades, a replay of the changes is the market's book, the shape is realistic
//! (one-tick spreads for a liquid name, depth growing away from the touch, heavy-tailed
//! sizes in lots), trades take liquidity from the touch, and books change nothing else.
//!
//! The tests rebuild every book from its changes alone ([`Replayed`]), as a consumer would.

mod invariants;
mod shape;

use std::collections::BTreeMap;
use std::time::Duration;

use tickcast_simulator::{BookChange, Config, Event, Halts, Market, RandomHalts, Universe};

/// Levels `(tick, shares)`, best first.
pub type Ticks = Vec<(i64, u64)>;

/// A book rebuilt from its changes alone, as a consumer would: levels by tick.
#[derive(Debug, Clone, Default)]
pub struct Replayed {
    tick_size: f64,
    bids: BTreeMap<i64, u64>,
    asks: BTreeMap<i64, u64>,
}

impl Replayed {
    fn tick(&self, price: f64) -> i64 {
        let ticks = price / self.tick_size;
        assert!(
            (ticks - ticks.round()).abs() < 1e-6,
            "{price} is off the {} grid",
            self.tick_size
        );
        ticks.round() as i64
    }

    fn apply(&mut self, change: &BookChange) {
        if change.full {
            *self = Self {
                tick_size: change.tick_size,
                ..Self::default()
            };
        }
        assert_eq!(change.tick_size, self.tick_size, "{change:?}");
        for (levels, bids) in [(&change.bids, true), (&change.asks, false)] {
            let ticks: Vec<i64> = levels.iter().map(|&(p, _)| self.tick(p)).collect();
            // Best first, each price once.
            let ordered = ticks
                .windows(2)
                .all(|w| if bids { w[0] > w[1] } else { w[0] < w[1] });
            assert!(ordered, "levels out of order: {change:?}");
            for (&tick, &(_, size)) in ticks.iter().zip(levels.iter()) {
                assert!(!(change.full && size == 0), "a full book lists no removals");
                let side = if bids { &mut self.bids } else { &mut self.asks };
                if size == 0 {
                    side.remove(&tick);
                } else {
                    side.insert(tick, size);
                }
            }
        }
    }

    fn best_bid(&self) -> Option<i64> {
        self.bids.keys().next_back().copied()
    }

    fn best_ask(&self) -> Option<i64> {
        self.asks.keys().next().copied()
    }

    /// Sizes best first.
    fn bids_best_first(&self) -> Ticks {
        self.bids.iter().rev().map(|(&t, &s)| (t, s)).collect()
    }

    fn asks_best_first(&self) -> Ticks {
        self.asks.iter().map(|(&t, &s)| (t, s)).collect()
    }

    /// The book's levels as [`BookView`] carries them.
    fn as_view_levels(&self) -> (Ticks, Ticks) {
        (self.bids_best_first(), self.asks_best_first())
    }
}

pub fn books(config: Config) -> Config {
    Config {
        books: true,
        ..config
    }
}

/// 300 symbols with jumps and frequent random halts: gaps, walks and frozen books.
pub fn lively(seed: u64) -> Config {
    books(Config {
        seed,
        universe: Universe::synthetic(300),
        jumps: true,
        halts: Halts {
            random: Some(RandomHalts {
                mean_interval: Duration::from_millis(300),
                mean_duration: Duration::from_secs(2),
            }),
            ..Halts::default()
        },
        rate: 3_000.0,
        time_scale: 500.0,
        ..Config::default()
    })
}

pub fn lot_size(market: &Market, symbol: &str) -> u64 {
    market
        .instruments()
        .iter()
        .find(|i| i.symbol == symbol)
        .map(|i| i.lot_size)
        .expect("a known symbol")
}

/// Snapshots of `symbol`'s book (levels in ticks and shares, best first) right after each
/// of its trades, over `n` events of `config`.
pub fn snapshots_after_trades(config: Config, symbol: &str, n: usize) -> Vec<Replayed> {
    let mut book = Replayed::default();
    let mut traded = false;
    let mut out = Vec::new();
    for event in Market::new(config).expect("valid config").take(n) {
        match event {
            Event::Tick(t) => traded = t.symbol == symbol,
            Event::Book(c) if c.symbol == symbol => {
                book.apply(&c);
                if std::mem::take(&mut traded) {
                    out.push(book.clone());
                }
            }
            _ => traded = false,
        }
    }
    out
}
