//! Trade arrivals: Poisson gaps at the configured aggregate rate, split by weight; or
//! evenly spaced round-robin trades.

use std::collections::HashMap;

use tickcast_simulator::{Arrivals, Config, Market};

use crate::support::ticks;

#[test]
fn poisson_gaps_match_the_rate() {
    let rate = 500.0;
    let config = Config {
        rate,
        ..Config::default()
    };
    let all = ticks(config.clone(), 200_000);
    let gaps: Vec<f64> = all
        .windows(2)
        .map(|w| (w[1].ts - w[0].ts) as f64 * 1e-9)
        .collect();
    let n = gaps.len() as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let se = (1.0 / rate) / n.sqrt();
    assert!(
        (mean - 1.0 / rate).abs() < 4.0 * se,
        "mean gap {mean}, expected {}",
        1.0 / rate
    );
    // Exponential gaps: standard deviation equals the mean.
    assert!(
        (sd / mean - 1.0).abs() < 0.02,
        "coefficient of variation {}",
        sd / mean
    );

    // Each symbol's share of trades is its weight's share (binomial, within 4 SE).
    let total_weight: f64 = config.universe.instruments().iter().map(|i| i.weight).sum();
    let mut counts: HashMap<&str, f64> = HashMap::new();
    for t in &all {
        *counts.entry(t.symbol.as_str()).or_default() += 1.0;
    }
    for inst in config.universe.instruments() {
        let p = inst.weight / total_weight;
        let expected = p * all.len() as f64;
        let se = (all.len() as f64 * p * (1.0 - p)).sqrt();
        let got = counts.get(inst.symbol.as_str()).copied().unwrap_or(0.0);
        assert!(
            (got - expected).abs() < 4.0 * se,
            "{}: {got} trades, expected {expected}",
            inst.symbol
        );
    }
}

#[test]
fn constant_arrivals_are_evenly_spaced_round_robin() {
    let config = Config {
        rate: 1_000.0,
        arrivals: Arrivals::Constant,
        start_ns: 5,
        ..Config::default()
    };
    let symbols: Vec<String> = config
        .universe
        .instruments()
        .iter()
        .map(|i| i.symbol.clone())
        .collect();
    let all = ticks(config, 10_000);
    for (k, t) in all.iter().enumerate() {
        assert_eq!(t.symbol, symbols[k % symbols.len()]);
        let expected_ns = 5 + (k as u64 + 1) * 1_000_000;
        assert!(
            t.ts.abs_diff(expected_ns) <= 1,
            "tick {k} at {} not {expected_ns}",
            t.ts
        );
    }
}

#[test]
fn events_carry_virtual_time_from_start_ns() {
    let start = 1_700_000_000_000_000_000;
    let mut market = Market::new(Config {
        start_ns: start,
        ..Config::default()
    })
    .unwrap();
    let first = market.next().unwrap();
    assert!(first.ts() > start && first.ts() < start + 1_000_000_000);
}
