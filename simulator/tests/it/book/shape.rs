//! Shape and flow: one-tick spreads for a liquid name, depth growing away from the touch,
//! heavy-tailed sizes, trades walking the book, a few order-flow changes per trade.

use std::collections::HashMap;

use tickcast_proto::Tick;
use tickcast_simulator::{Config, Event, Market};

use super::{Replayed, books, lively, lot_size, snapshots_after_trades};
use crate::support::{excess_kurtosis, mean};

#[test]
fn order_flow_changes_every_book_a_few_times_per_trade() {
    // Per symbol: trades, and changes that neither start a book nor follow a trade.
    let mut counts: HashMap<String, (u32, u32)> = HashMap::new();
    let mut after_trade = false;
    for event in Market::new(books(Config::default())).unwrap().take(400_000) {
        match event {
            Event::Tick(t) => {
                counts.entry(t.symbol).or_default().0 += 1;
                after_trade = true;
            }
            Event::Book(c) => {
                if !std::mem::take(&mut after_trade) && !c.full {
                    counts.entry(c.symbol).or_default().1 += 1;
                }
            }
            Event::Status(_) => after_trade = false,
        }
    }
    assert_eq!(counts.len(), 50);
    for (symbol, (trades, flow)) in counts {
        let per_trade = f64::from(flow) / f64::from(trades);
        assert!(trades > 300, "{symbol}: {trades} trades");
        assert!(
            (2.5..3.5).contains(&per_trade),
            "{symbol}: {per_trade} changes per trade"
        );
    }
}

#[test]
fn a_liquid_name_quotes_one_tick_wide_most_of_the_time() {
    let snaps = snapshots_after_trades(books(Config::default()), "AAPL", 300_000);
    assert!(snaps.len() > 2_000, "{} AAPL trades", snaps.len());
    let one_tick = snaps
        .iter()
        .filter(|b| b.best_ask().unwrap() - b.best_bid().unwrap() == 1)
        .count();
    assert!(
        one_tick * 10 > snaps.len() * 6,
        "one tick wide in {one_tick} of {}",
        snaps.len()
    );
}

#[test]
fn depth_grows_away_from_the_touch_and_sizes_are_heavy_tailed() {
    let snaps = snapshots_after_trades(books(Config::default()), "NVDA", 300_000);
    // Mean size of the k-th level from the touch, both sides pooled.
    let mut by_level = vec![Vec::new(); 8];
    let mut all = Vec::new();
    for book in &snaps {
        for side in [book.bids_best_first(), book.asks_best_first()] {
            for (k, &(_, size)) in side.iter().enumerate() {
                if let Some(sizes) = by_level.get_mut(k) {
                    sizes.push(size as f64);
                }
                all.push(size as f64);
            }
        }
    }
    let means: Vec<f64> = by_level.iter().map(|s| mean(s)).collect();
    assert!(
        means.windows(2).take(4).all(|w| w[1] > w[0]),
        "mean size by level: {means:?}"
    );
    assert!(means[5] > 1.4 * means[0], "mean size by level: {means:?}");
    let mut sorted = all.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    assert!(max > 15.0 * median, "max {max}, median {median}");
    let kurtosis = excess_kurtosis(&all);
    assert!(kurtosis > 10.0, "excess kurtosis {kurtosis}");
}

#[test]
fn a_trade_larger_than_the_touch_removes_it_and_walks_the_book() {
    let mut market = Market::new(lively(4)).unwrap();
    let mut books: HashMap<String, Replayed> = HashMap::new();
    let mut before: Option<(Tick, Replayed)> = None;
    let mut walks = 0;
    for _ in 0..300_000 {
        match market.next().unwrap() {
            Event::Tick(t) => before = Some((t.clone(), books[&t.symbol].clone())),
            Event::Status(_) => {}
            Event::Book(change) => {
                let book = books.entry(change.symbol.clone()).or_default();
                book.apply(&change);
                let Some((t, old)) = before.take() else {
                    continue;
                };
                // The aggressor is the side the price leans to from the old mid.
                let (bid0, ask0) = (old.best_bid().unwrap(), old.best_ask().unwrap());
                let twice = 2 * old.tick(t.price);
                if twice == bid0 + ask0 {
                    continue;
                }
                let buyer = twice > bid0 + ask0;
                let (levels, quote) = if buyer {
                    (old.asks_best_first(), old.tick(t.ask))
                } else {
                    (old.bids_best_first(), old.tick(t.bid))
                };
                let lot = lot_size(&market, &t.symbol);
                let mut left = t.size.div_ceil(lot) * lot;
                if left <= levels[0].1 {
                    continue;
                }
                walks += 1;
                let listed = if buyer { &change.asks } else { &change.bids };
                let listed: Vec<i64> = listed.iter().map(|l| book.tick(l.0)).collect();
                for &(tick, size) in &levels {
                    let side = if buyer { &book.asks } else { &book.bids };
                    // Levels the new quote crosses are gone whatever the trade took.
                    let crossed = if buyer { tick < quote } else { tick > quote };
                    if crossed {
                        assert!(!side.contains_key(&tick), "{tick} survived {change:?}");
                    }
                    if left >= size {
                        // Taken whole: listed in the change (0, or a fresh level where
                        // the new quote put one).
                        left -= size;
                        assert!(listed.contains(&tick), "{tick} not in {change:?}");
                        continue;
                    }
                    // The walk stopped here: the level keeps the rest (unless crossed, or
                    // dropped off the deep end after a quote gap).
                    let deepest = if buyer {
                        side.keys().next_back()
                    } else {
                        side.keys().next()
                    };
                    let trimmed = deepest.is_some_and(|&d| if buyer { tick > d } else { tick < d });
                    if !crossed && !trimmed {
                        assert_eq!(side.get(&tick), Some(&(size - left)), "{t:?} {change:?}");
                    }
                    break;
                }
            }
        }
    }
    assert!(walks > 1_000, "only {walks} trades walked the book");
}
