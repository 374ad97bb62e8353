//! Shared helpers: building markets, collecting ticks per symbol, and the sample
//! statistics the statistical tests need.

use std::collections::BTreeMap;

use tickcast_proto::Tick;
use tickcast_simulator::{Config, Event, Instrument, Market, Model, Universe};

/// `n` identical instruments `S0..` with the given price parameters.
pub fn flat_universe(n: usize, price: f64, volatility: f64, drift: f64) -> Universe {
    let instruments = (0..n)
        .map(|i| Instrument::new(&format!("S{i}"), price, volatility, drift))
        .collect();
    Universe::new(instruments).expect("valid universe")
}

/// A config with `model`, a flat universe, and a time scale such that each symbol
/// trades on average once per `market_s_per_tick` market seconds.
pub fn config(model: Model, universe: Universe, rate: f64, market_s_per_tick: f64) -> Config {
    let per_symbol_gap_s = universe.len() as f64 / rate;
    Config {
        model,
        rate,
        time_scale: market_s_per_tick / per_symbol_gap_s,
        universe,
        ..Config::default()
    }
}

/// The first `n` ticks of a market.
pub fn ticks(config: Config, n: usize) -> Vec<Tick> {
    Market::new(config)
        .expect("valid config")
        .filter_map(|e| match e {
            Event::Tick(t) => Some(t),
            Event::Status(_) | Event::Book(_) => None,
        })
        .take(n)
        .collect()
}

/// Ticks grouped by symbol, each in time order.
pub fn by_symbol(ticks: &[Tick]) -> BTreeMap<String, Vec<Tick>> {
    let mut map: BTreeMap<String, Vec<Tick>> = BTreeMap::new();
    for t in ticks {
        map.entry(t.symbol.clone()).or_default().push(t.clone());
    }
    map
}

/// One fixed-interval sample: the log-return from the previous grid point and the
/// shares traded in between.
#[derive(Debug, Clone, Copy)]
pub struct GridSample {
    pub ret: f64,
    pub volume: f64,
}

/// Previous-tick sampling of one symbol on a grid of `step_ns` starting at its first
/// tick: returns between consecutive grid points, and the volume traded in each.
pub fn grid(ticks: &[Tick], step_ns: u64) -> Vec<GridSample> {
    let mut out = Vec::new();
    let Some(first) = ticks.first() else {
        return out;
    };
    let mut next = first.ts + step_ns;
    let mut last_price = first.price;
    let mut prev_grid_price = first.price;
    let mut volume = 0.0;
    for t in &ticks[1..] {
        while t.ts > next {
            out.push(GridSample {
                ret: (last_price / prev_grid_price).ln(),
                volume,
            });
            prev_grid_price = last_price;
            volume = 0.0;
            next += step_ns;
        }
        last_price = t.price;
        volume += t.size as f64;
    }
    out
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Excess kurtosis (0 for a normal distribution).
pub fn excess_kurtosis(xs: &[f64]) -> f64 {
    let m = mean(xs);
    let n = xs.len() as f64;
    let m2 = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    let m4 = xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
    m4 / (m2 * m2) - 3.0
}

pub fn correlation(xs: &[f64], ys: &[f64]) -> f64 {
    assert_eq!(xs.len(), ys.len());
    let (mx, my) = (mean(xs), mean(ys));
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    let mut syy = 0.0;
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// Lag-`k` autocorrelation.
pub fn autocorrelation(xs: &[f64], k: usize) -> f64 {
    correlation(&xs[..xs.len() - k], &xs[k..])
}

/// The `tickcast-sim` binary with `args`; returns stdout, asserting success.
pub fn sim(args: &[&str]) -> Vec<u8> {
    let out = sim_output(args);
    assert!(
        out.status.success(),
        "tickcast-sim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The `tickcast-sim` binary's full output, whatever its exit status.
pub fn sim_output(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tickcast-sim"))
        .args(args)
        .env_clear()
        .output()
        .expect("tickcast-sim runs")
}

/// [`sim_output`] for async tests (a server in the same runtime keeps running while the
/// binary does), bounded by `limit`.
pub async fn sim_output_async(args: &[&str], limit: std::time::Duration) -> std::process::Output {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_tickcast-sim"))
        .args(args)
        .env_clear()
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(limit, run)
        .await
        .expect("tickcast-sim finished in time")
        .expect("tickcast-sim runs")
}

/// A fresh path under the test temp dir (`name` must be unique per test).
pub fn temp_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tickcast-sim-{name}"))
}

/// Decodes JSON lines into wire messages.
pub fn jsonl(bytes: &[u8]) -> Vec<tickcast_proto::ServerMessage> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            tickcast_proto::decode_server(tickcast_proto::Encoding::Json, l)
                .expect("a wire message")
        })
        .collect()
}
