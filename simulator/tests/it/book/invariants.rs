//! Invariants: every change keeps the book well-formed, never crossed, on the trades'
//! quotes; full books first; the replay is `Market::book`; determinism; books change
//! nothing else.

use std::collections::HashMap;

use tickcast_proto::{MarketState, Tick};
use tickcast_simulator::{
    BookChange, BookView, Config, Event, Format, Instrument, MAX_LEVELS, MIN_LEVELS, Market,
    Universe, encode_event,
};

use super::{Replayed, Ticks, books, lively, lot_size};

/// Checks every book invariant over `n` events of `config` (see the module docs); returns
/// the number of ticks and of book changes.
fn check_books(config: Config, n: usize) -> (usize, usize) {
    let mut market = Market::new(config).expect("valid config");
    let mut replayed: HashMap<String, Replayed> = HashMap::new();
    // Each symbol's quote (bid, ask in ticks) as of its last trade.
    let mut quotes: HashMap<String, (i64, i64)> = HashMap::new();
    let mut halted: HashMap<String, bool> = HashMap::new();
    let mut just_traded: Option<Tick> = None;
    let (mut ticks, mut changes, mut last_ts) = (0, 0, 0);
    for _ in 0..n {
        let event = market.next().expect("an endless market");
        assert!(event.ts() >= last_ts, "time went backwards at {event:?}");
        last_ts = event.ts();
        let trade = just_traded.take();
        let change = match event {
            Event::Tick(t) => {
                assert!(trade.is_none(), "a trade's change follows it at once");
                assert!(replayed.contains_key(&t.symbol), "a tick before its book");
                ticks += 1;
                just_traded = Some(t);
                continue;
            }
            Event::Status(s) => {
                assert!(trade.is_none(), "a trade's change follows it at once");
                let symbol = s.topic.trim_start_matches("ticks.").to_owned();
                halted.insert(symbol, s.state == MarketState::Halted);
                continue;
            }
            Event::Book(change) => change,
        };
        changes += 1;
        assert_eq!(change.topic, format!("book.{}", change.symbol));
        assert!(
            change.full || !change.bids.is_empty() || !change.asks.is_empty(),
            "an empty change: {change:?}"
        );
        let book = replayed.entry(change.symbol.clone()).or_default();
        assert_eq!(
            book.tick_size == 0.0,
            change.full,
            "full first, and only then"
        );
        if trade.is_none() && !change.full {
            // Order flow changes one side, and really changes it.
            let (levels, side) = match (change.bids.is_empty(), change.asks.is_empty()) {
                (false, true) => (&change.bids, &book.bids),
                (true, false) => (&change.asks, &book.asks),
                _ => panic!("order flow changed both sides: {change:?}"),
            };
            let changed = levels
                .iter()
                .any(|(price, size)| side.get(&book.tick(*price)).unwrap_or(&0) != size);
            assert!(changed, "a no-op: {change:?}");
        }
        book.apply(&change);
        let bid = book.best_bid().expect("bids");
        let ask = book.best_ask().expect("asks");
        assert!(
            bid < ask,
            "crossed or locked: {bid} >= {ask} after {change:?}"
        );
        assert!(bid >= 1);
        if let Some(t) = trade {
            assert_eq!(
                (t.symbol.as_str(), t.ts),
                (change.symbol.as_str(), change.ts)
            );
            assert!(!change.full);
            assert_eq!(
                (bid, ask),
                (book.tick(t.bid), book.tick(t.ask)),
                "the touch is not the trade's quote after {change:?}"
            );
            quotes.insert(t.symbol, (bid, ask));
        } else if let Some(&quote) = quotes.get(&change.symbol) {
            assert_eq!((bid, ask), quote, "order flow moved the quote: {change:?}");
            assert!(
                !halted.get(&change.symbol).copied().unwrap_or(false),
                "a halted book moved: {change:?}"
            );
        }
        let lot = lot_size(&market, &change.symbol);
        for size in book.bids.values().chain(book.asks.values()) {
            assert!(*size > 0 && size % lot == 0, "size {size} after {change:?}");
        }
        assert!((MIN_LEVELS..=MAX_LEVELS).contains(&book.asks.len()));
        assert!(book.bids.len() <= MAX_LEVELS);
        // Fewer bids only when there is no room for them above the one-tick floor.
        assert!(
            book.bids.len() >= MIN_LEVELS || bid < 2 * MIN_LEVELS as i64,
            "{} bids below {bid}",
            book.bids.len()
        );
    }
    (ticks, changes)
}

#[test]
fn every_change_keeps_the_book_well_formed_and_on_the_trades_quote() {
    let (ticks, changes) = check_books(lively(1), 300_000);
    // A full book per symbol, a change per trade, and order flow between trades.
    assert!(
        changes > 300 + 3 * ticks,
        "{changes} changes, {ticks} ticks"
    );
    let (ticks, changes) = check_books(books(Config::default()), 100_000);
    assert!(changes > 50 + 3 * ticks, "{changes} changes, {ticks} ticks");
}

#[test]
fn other_grids_and_lots_and_penny_prices_stay_well_formed() {
    let universe = Universe::new(vec![
        Instrument {
            tick_size: 0.05,
            lot_size: 10,
            ..Instrument::new("NICKEL", 37.0, 0.4, 0.0)
        },
        Instrument {
            tick_size: 0.25,
            lot_size: 1,
            ..Instrument::new("QUART", 4_000.0, 0.2, 0.0)
        },
        // Crashing into the one-tick floor: few bid levels are left.
        Instrument::new("PENNY", 0.05, 1.5, -3.0),
    ])
    .unwrap();
    let config = books(Config {
        universe,
        time_scale: 1e4,
        ..Config::default()
    });
    check_books(config.clone(), 100_000);
    let market = {
        let mut m = Market::new(config).unwrap();
        m.by_ref().take(100_000).for_each(drop);
        m
    };
    let penny = market.book("PENNY").unwrap();
    assert!(penny.bids.len() < MIN_LEVELS, "{penny:?}");
    assert_eq!(penny.bids.last().map(|l| l.0), Some(0.01));
}

#[test]
fn each_symbol_starts_with_a_full_book_before_its_first_tick() {
    let mut first_book: HashMap<String, bool> = HashMap::new();
    let mut traded: HashMap<String, bool> = HashMap::new();
    for event in Market::new(lively(2)).unwrap().take(50_000) {
        match event {
            Event::Book(c) => {
                let first = !first_book.contains_key(&c.symbol);
                assert_eq!(c.full, first, "{}: full exactly first", c.symbol);
                if first {
                    assert!(!traded.contains_key(&c.symbol), "{} traded first", c.symbol);
                    assert!(c.bids.len() >= MIN_LEVELS && c.asks.len() >= MIN_LEVELS);
                }
                first_book.insert(c.symbol, true);
            }
            Event::Tick(t) => {
                assert!(
                    first_book.contains_key(&t.symbol),
                    "{} has no book",
                    t.symbol
                );
                traded.insert(t.symbol, true);
            }
            Event::Status(_) => {}
        }
    }
    assert_eq!(first_book.len(), 300);
}

fn view_levels(view: &BookView) -> (Ticks, Ticks) {
    let ticks = |levels: &[(f64, u64)]| -> Ticks {
        levels
            .iter()
            .map(|&(p, s)| ((p / view.tick_size).round() as i64, s))
            .collect()
    };
    (ticks(&view.bids), ticks(&view.asks))
}

#[test]
fn replaying_the_changes_gives_the_markets_book() {
    let mut market = Market::new(lively(3)).unwrap();
    let mut replayed: HashMap<String, Replayed> = HashMap::new();
    let mut last_change: HashMap<String, BookChange> = HashMap::new();
    // Compare after a trade (its change not yet out), after a change and after a status.
    for round in 0..9 {
        let stop_after = |e: &Event| match round % 3 {
            0 => matches!(e, Event::Tick(_)),
            1 => matches!(e, Event::Book(_)),
            _ => matches!(e, Event::Status(_)),
        };
        let mut seen = 0;
        for event in market.by_ref() {
            seen += 1;
            let stop = seen > 20_000 && stop_after(&event);
            if let Event::Book(change) = event {
                replayed
                    .entry(change.symbol.clone())
                    .or_default()
                    .apply(&change);
                last_change.insert(change.symbol.clone(), change);
            }
            if stop {
                break;
            }
        }
        for (symbol, book) in &replayed {
            let view = market.book(symbol).unwrap();
            assert_eq!(view.ts, last_change[symbol].ts);
            assert_eq!(view.tick_size, book.tick_size);
            assert_eq!(view_levels(&view), book.as_view_levels(), "{symbol}");
            // Prices are the very numbers the changes carried.
            let carried: Vec<f64> = last_change[symbol]
                .bids
                .iter()
                .chain(&last_change[symbol].asks)
                .filter(|l| l.1 > 0)
                .map(|l| l.0)
                .collect();
            let all: Vec<f64> = view.bids.iter().chain(&view.asks).map(|l| l.0).collect();
            assert!(carried.iter().all(|p| all.contains(p)), "{symbol}");
        }
    }
    assert!(market.book("NOPE").is_none());
    assert!(
        Market::new(Config::default())
            .unwrap()
            .book("AAPL")
            .is_none()
    );
}

#[test]
fn the_same_seed_gives_the_same_books_and_other_seeds_others() {
    let events = |seed| -> Vec<Event> { Market::new(lively(seed)).unwrap().take(30_000).collect() };
    let a = events(5);
    assert_eq!(a, events(5));
    let b = events(6);
    let book_changes = |e: &[Event]| -> Vec<BookChange> {
        e.iter().filter_map(|e| e.as_book().cloned()).collect()
    };
    let (ca, cb) = (book_changes(&a), book_changes(&b));
    let differing = ca.iter().zip(&cb).filter(|(x, y)| x != y).count();
    assert!(
        differing * 100 > ca.len() * 99,
        "{differing} of {} differ",
        ca.len()
    );
    // A clone continues identically.
    let mut m = Market::new(lively(7)).unwrap();
    m.by_ref().take(5_000).for_each(drop);
    let c = m.clone();
    assert_eq!(
        m.take(5_000).collect::<Vec<_>>(),
        c.take(5_000).collect::<Vec<_>>()
    );
}

#[test]
fn books_add_events_and_change_nothing_else() {
    assert!(!Config::default().books);
    for config in [lively(8), books(Config::default())] {
        let off = Config {
            books: false,
            ..config.clone()
        };
        let with: Vec<Event> = Market::new(config)
            .unwrap()
            .filter(|e| !matches!(e, Event::Book(_)))
            .take(50_000)
            .collect();
        let without: Vec<Event> = Market::new(off).unwrap().take(50_000).collect();
        assert!(without.iter().all(|e| !matches!(e, Event::Book(_))));
        assert_eq!(with, without);
    }
}

#[test]
fn encoders_skip_book_changes() {
    // The same trades and statuses encode to the same bytes with books on or off.
    let mut with = Vec::new();
    let mut others = 0;
    for event in Market::new(books(Config::default())).unwrap() {
        if !matches!(event, Event::Book(_)) {
            others += 1;
        }
        encode_event(Format::Jsonl, event, &mut with).unwrap();
        if others == 5_000 {
            break;
        }
    }
    let mut without = Vec::new();
    for event in Market::new(Config::default()).unwrap().take(5_000) {
        encode_event(Format::Jsonl, event, &mut without).unwrap();
    }
    assert_eq!(with, without);
}
