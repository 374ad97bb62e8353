//! Every tick is well-formed: prices on the cent grid and positive, `bid <= price <= ask`
//! with a spread of at least one cent, gap-free `seq` per topic, cumulative volume,
//! ordered timestamps, sizes mostly round lots with a heavy tail.

use std::collections::HashMap;

use std::time::Duration;
use tickcast_proto::MarketState;

use tickcast_simulator::{Config, Event, Halts, Instrument, Market, RandomHalts, Universe};

fn on_cent_grid(x: f64) -> bool {
    ((x * 100.0).round() - x * 100.0).abs() < 1e-6
}

/// Checks every invariant over `n` events of `config`; returns the ticks and statuses seen.
fn check_stream(config: Config, n: usize) -> (usize, usize) {
    let start = config.start_ns;
    let mut seqs: HashMap<String, u64> = HashMap::new();
    let mut volumes: HashMap<String, u64> = HashMap::new();
    let mut halted: HashMap<String, bool> = HashMap::new();
    let (mut last_ts, mut ticks, mut statuses, mut round_lots) = (start, 0usize, 0, 0usize);
    let mut sizes = Vec::new();
    for event in Market::new(config).expect("valid config").take(n) {
        assert!(event.ts() >= last_ts, "time went backwards at {event:?}");
        last_ts = event.ts();
        let t = match event {
            Event::Status(s) => {
                assert!(s.topic.starts_with("ticks."), "{s:?}");
                let was = halted.insert(s.topic.clone(), s.state == MarketState::Halted);
                assert_ne!(was, Some(s.state == MarketState::Halted), "repeated {s:?}");
                statuses += 1;
                continue;
            }
            Event::Tick(t) => t,
            Event::Book(_) => unreachable!("books are off"),
        };
        ticks += 1;
        assert!(
            !halted.get(&t.topic).copied().unwrap_or(false),
            "tick while halted: {t:?}"
        );
        assert_eq!(t.topic, format!("ticks.{}", t.symbol));
        assert!(t.price >= 0.01 && t.bid >= 0.01, "{t:?}");
        assert!(
            on_cent_grid(t.price) && on_cent_grid(t.bid) && on_cent_grid(t.ask),
            "{t:?}"
        );
        assert!(t.bid < t.ask, "{t:?}");
        assert!(t.bid <= t.price && t.price <= t.ask, "{t:?}");
        assert!(
            (t.ask - t.bid) * 100.0 >= 1.0 - 1e-9,
            "spread under a cent: {t:?}"
        );
        let seq = seqs.entry(t.topic.clone()).or_insert(0);
        *seq += 1;
        assert_eq!(t.seq, *seq, "seq gap on {}", t.topic);
        let volume = volumes.entry(t.topic.clone()).or_insert(0);
        *volume += t.size;
        assert_eq!(t.volume, *volume, "volume is not cumulative on {}", t.topic);
        assert!(t.size >= 1);
        if t.size % 100 == 0 {
            round_lots += 1;
        }
        sizes.push(t.size);
    }
    assert!(
        round_lots as f64 > 0.8 * ticks as f64,
        "{round_lots} round lots of {ticks}"
    );
    sizes.sort_unstable();
    let median = sizes[sizes.len() / 2];
    let p999 = sizes[sizes.len() * 999 / 1000];
    assert!(
        p999 >= 20 * median,
        "sizes are not heavy-tailed: median {median}, p99.9 {p999}"
    );
    (ticks, statuses)
}

#[test]
fn default_stream_is_well_formed() {
    let config = Config {
        start_ns: 1_700_000_000_000_000_000,
        ..Config::default()
    };
    assert_eq!(check_stream(config, 100_000), (100_000, 0));
}

#[test]
fn jumps_halts_and_many_symbols_stay_well_formed() {
    let config = Config {
        universe: Universe::synthetic(500),
        jumps: true,
        halts: Halts {
            random: Some(RandomHalts {
                mean_interval: Duration::from_millis(200),
                mean_duration: Duration::from_secs(2),
            }),
            ..Halts::default()
        },
        rate: 5_000.0,
        time_scale: 2_000.0,
        ..Config::default()
    };
    let (ticks, statuses) = check_stream(config, 100_000);
    assert!(statuses > 100, "only {statuses} halts and resumes");
    assert_eq!(ticks + statuses, 100_000);
}

#[test]
fn collapsing_prices_floor_at_one_cent() {
    // A penny stock crashing at 150% volatility: prices must stay >= $0.01 with a quote.
    let universe = Universe::new(vec![Instrument::new("PENNY", 0.05, 1.5, -3.0)]).unwrap();
    let config = Config {
        universe,
        time_scale: 1e5,
        ..Config::default()
    };
    check_stream(config.clone(), 50_000);
    let last = Market::new(config)
        .unwrap()
        .filter_map(|e| e.as_tick().cloned())
        .nth(49_999)
        .unwrap();
    assert_eq!((last.price, last.bid), (0.01, 0.01), "{last:?}");
    assert!(last.ask >= 0.02);
}

#[test]
fn spreads_are_wider_for_volatile_names() {
    let universe = Universe::new(vec![
        Instrument::new("CALM", 100.0, 0.1, 0.0),
        Instrument::new("WILD", 100.0, 1.2, 0.0),
    ])
    .unwrap();
    let config = Config {
        universe,
        ..Config::default()
    };
    let mut spread: HashMap<String, (f64, f64)> = HashMap::new();
    for t in Market::new(config)
        .unwrap()
        .filter_map(|e| e.as_tick().cloned())
        .take(20_000)
    {
        let s = spread.entry(t.symbol).or_default();
        s.0 += t.ask - t.bid;
        s.1 += 1.0;
    }
    let avg = |sym: &str| spread[sym].0 / spread[sym].1;
    assert!(
        avg("WILD") > 2.0 * avg("CALM"),
        "{} vs {}",
        avg("WILD"),
        avg("CALM")
    );
}

#[test]
fn session_stats_track_open_high_low() {
    let mut market = Market::new(Config::default()).unwrap();
    let ticks: Vec<_> = market
        .by_ref()
        .filter_map(|e| e.as_tick().cloned())
        .take(20_000)
        .collect();
    let aapl: Vec<_> = ticks.iter().filter(|t| t.symbol == "AAPL").collect();
    let s = *market.session_stats("AAPL").unwrap();
    assert_eq!(s.prev_close, 225.0);
    assert_eq!(s.open, aapl[0].price);
    assert_eq!(s.last, aapl[aapl.len() - 1].price);
    assert_eq!(
        s.high,
        aapl.iter().map(|t| t.price).fold(f64::MIN, f64::max)
    );
    assert_eq!(s.low, aapl.iter().map(|t| t.price).fold(f64::MAX, f64::min));
    assert_eq!(s.trades, aapl.len() as u64);
    assert_eq!(s.volume, aapl[aapl.len() - 1].volume);
    assert_eq!(s.state, MarketState::Open);
    assert_eq!(market.all_session_stats().len(), market.instruments().len());
    assert!(market.session_stats("NOPE").is_none());
}
