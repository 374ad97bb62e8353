//! Trading halts: announced by `status`, no trades while halted, a gap at the resume.

use std::{collections::HashMap, time::Duration};

use tickcast_proto::MarketState;
use tickcast_simulator::{Config, Event, Halt, Halts, Market, RandomHalts, Universe};

const S: u64 = 1_000_000_000;

fn scripted(halts: Vec<Halt>) -> Config {
    Config {
        start_ns: 7,
        halts: Halts {
            scripted: halts,
            ..Halts::default()
        },
        ..Config::default()
    }
}

fn halt(symbol: &str, at_s: u64, for_s: u64) -> Halt {
    Halt {
        symbol: symbol.into(),
        at: Duration::from_secs(at_s),
        duration: Duration::from_secs(for_s),
    }
}

#[test]
fn scripted_halt_silences_the_symbol() {
    let mut market = Market::new(scripted(vec![halt("AAPL", 10, 5)])).unwrap();
    let mut statuses = Vec::new();
    let (mut before, mut during, mut after) = (0, 0, 0);
    loop {
        let event = market.next().unwrap();
        if event.ts() > 7 + 30 * S {
            break;
        }
        match event {
            Event::Status(s) => {
                assert_eq!(market.session_stats("AAPL").unwrap().state, s.state);
                statuses.push(s);
            }
            Event::Tick(t) if t.symbol == "AAPL" => match t.ts {
                ts if ts < 7 + 10 * S => before += 1,
                ts if ts <= 7 + 15 * S => during += 1,
                _ => after += 1,
            },
            Event::Tick(_) | Event::Book(_) => {}
        }
    }
    let seen: Vec<_> = statuses
        .iter()
        .map(|s| (s.topic.as_str(), s.state, s.ts))
        .collect();
    assert_eq!(
        seen,
        [
            ("ticks.AAPL", MarketState::Halted, 7 + 10 * S),
            ("ticks.AAPL", MarketState::Open, 7 + 15 * S),
        ]
    );
    assert_eq!(during, 0);
    assert!(before > 10 && after > 10, "{before} before, {after} after");
}

#[test]
fn overlapping_halts_announce_once() {
    let config = scripted(vec![halt("MSFT", 10, 10), halt("MSFT", 15, 15)]);
    let statuses: Vec<_> = Market::new(config)
        .unwrap()
        .take_while(|e| e.ts() < 60 * S)
        .filter_map(|e| match e {
            Event::Status(s) => Some((s.state, s.ts)),
            Event::Tick(_) | Event::Book(_) => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (MarketState::Halted, 7 + 10 * S),
            (MarketState::Open, 7 + 30 * S)
        ]
    );
}

#[test]
fn a_fully_halted_market_skips_ahead_to_the_resume() {
    // One symbol halted for a virtual week: without skipping, the market would draw and
    // drop about 120 million arrivals first.
    let week = 7 * 86_400;
    let config = Config {
        universe: Universe::synthetic(1),
        halts: Halts {
            scripted: vec![halt("SYN0000", 1, week)],
            ..Halts::default()
        },
        ..Config::default()
    };
    let events: Vec<Event> = Market::new(config)
        .unwrap()
        .take_while(|e| e.ts() < (week + 2) * S)
        .collect();
    let statuses: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Status(s) => Some((s.state, s.ts)),
            Event::Tick(_) | Event::Book(_) => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (MarketState::Halted, S),
            (MarketState::Open, (week + 1) * S)
        ]
    );
    let ticks = events.iter().filter(|e| e.as_tick().is_some()).count();
    assert!(
        (200..600).contains(&ticks),
        "{ticks} ticks in the two open seconds"
    );
}

#[test]
fn resumes_gap_the_price() {
    let config = Config {
        universe: Universe::synthetic(20),
        rate: 2_000.0,
        halts: Halts {
            random: Some(RandomHalts {
                mean_interval: Duration::from_millis(500),
                mean_duration: Duration::from_secs(2),
            }),
            gap_sd: 0.05,
            scripted: vec![],
        },
        ..Config::default()
    };
    let mut last: HashMap<String, f64> = HashMap::new();
    let mut resumed: HashMap<String, bool> = HashMap::new();
    let (mut gaps, mut moves) = (Vec::new(), Vec::new());
    for event in Market::new(config).unwrap().take(200_000) {
        match event {
            Event::Status(s) => {
                resumed.insert(s.topic, s.state == MarketState::Open);
            }
            Event::Tick(t) => {
                if let Some(prev) = last.insert(t.topic.clone(), t.price) {
                    let r = (t.price / prev).ln().abs();
                    if resumed.insert(t.topic, false) == Some(true) {
                        gaps.push(r);
                    } else {
                        moves.push(r);
                    }
                }
            }
            Event::Book(_) => {}
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(gaps.len() > 50, "only {} resumes", gaps.len());
    assert!(
        mean(&gaps) > 10.0 * mean(&moves),
        "resume moves {} vs ordinary {}",
        mean(&gaps),
        mean(&moves)
    );
}
