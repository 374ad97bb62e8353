//! Statistical tests: with fixed seeds and enough samples, returns match the configured
//! drift and volatility, the default model shows the stylized facts of real returns and
//! plain GBM does not, and cross-sectional correlation matches rho.
//!
//! Tolerances are stated in standard errors (SE) computed from the same sample.

use tickcast_simulator::{Config, Model, TRADING_YEAR_S};

use crate::support::{
    GridSample, autocorrelation, by_symbol, config, correlation, excess_kurtosis, flat_universe,
    grid, mean, ticks,
};

/// Market years between two virtual timestamps.
fn years(dt_ns: u64, config: &Config) -> f64 {
    dt_ns as f64 * 1e-9 * config.time_scale / TRADING_YEAR_S
}

struct Moments {
    /// Mean log-return per market year and its standard error.
    mean: f64,
    mean_se: f64,
    /// Variance of log-returns per market year and its standard error.
    var: f64,
    var_se: f64,
}

/// 200 independent symbols (rho = 0), each trading about every 2 market days, 300k ticks:
/// roughly 6 market years per symbol, so the pooled estimates are tight while prices
/// stay far from the cent grid.
fn moments(mut config: Config) -> Moments {
    config.rho = 0.0;
    let all = ticks(config.clone(), 300_000);
    let (mut sum_l, mut sum_t, mut sum_r2, mut sum_dt) = (0.0, 0.0, 0.0, 0.0);
    let mut per_symbol = Vec::new();
    let mut per_tick = Vec::with_capacity(all.len());
    for series in by_symbol(&all).values() {
        let (first, last) = (&series[0], &series[series.len() - 1]);
        let l = (last.price / first.price).ln();
        let t = years(last.ts - first.ts, &config);
        per_symbol.push((l, t));
        sum_l += l;
        sum_t += t;
        for pair in series.windows(2) {
            let r = (pair[1].price / pair[0].price).ln();
            let dt = years(pair[1].ts - pair[0].ts, &config);
            per_tick.push((r, dt));
            sum_r2 += r * r;
            sum_dt += dt;
        }
    }
    let mean = sum_l / sum_t;
    let mean_se = per_symbol
        .iter()
        .map(|(l, t)| (l - mean * t).powi(2))
        .sum::<f64>()
        .sqrt()
        / sum_t;
    let var = sum_r2 / sum_dt;
    let var_se = per_tick
        .iter()
        .map(|(r, dt)| (r * r - var * dt).powi(2))
        .sum::<f64>()
        .sqrt()
        / sum_dt;
    Moments {
        mean,
        mean_se,
        var,
        var_se,
    }
}

fn check_moments(name: &str, config: Config, expected_mean: f64, expected_var: f64) {
    let m = moments(config);
    println!(
        "{name}: mean {:.4} (expected {expected_mean:.4}, SE {:.4}), var {:.5} (expected {expected_var:.5}, SE {:.5})",
        m.mean, m.mean_se, m.var, m.var_se
    );
    assert!(
        (m.mean - expected_mean).abs() < 4.0 * m.mean_se,
        "{name}: mean log-return per year {} is not within 4 SE ({}) of {expected_mean}",
        m.mean,
        m.mean_se
    );
    assert!(
        (m.var - expected_var).abs() < 4.0 * m.var_se,
        "{name}: variance per year {} is not within 4 SE ({}) of {expected_var}",
        m.var,
        m.var_se
    );
}

const SIGMA: f64 = 0.3;
const MU: f64 = 0.05;
const TWO_DAYS_S: f64 = 2.0 * 6.5 * 3600.0;

fn moment_config(model: Model) -> Config {
    config(
        model,
        flat_universe(200, 100.0, SIGMA, MU),
        1000.0,
        TWO_DAYS_S,
    )
}

#[test]
fn gbm_log_returns_match_drift_and_volatility() {
    check_moments(
        "gbm",
        moment_config(Model::Gbm),
        MU - SIGMA * SIGMA / 2.0,
        SIGMA * SIGMA,
    );
}

#[test]
fn stochastic_vol_keeps_the_mean_variance() {
    // E[sigma^2] = volatility^2, so the same moments hold on average.
    check_moments(
        "stochastic",
        moment_config(Model::default()),
        MU - SIGMA * SIGMA / 2.0,
        SIGMA * SIGMA,
    );
}

#[test]
fn merton_jumps_add_their_variance_and_keep_the_drift_compensated() {
    let mut config = moment_config(Model::Gbm);
    config.jumps = true;
    let j = config.merton;
    let k = (j.mean + j.sd * j.sd / 2.0).exp() - 1.0;
    check_moments(
        "jumps",
        config,
        MU - SIGMA * SIGMA / 2.0 - j.intensity * k + j.intensity * j.mean,
        SIGMA * SIGMA + j.intensity * (j.mean * j.mean + j.sd * j.sd),
    );
}

/// Stylized-fact statistics of fixed-interval returns.
#[derive(Debug)]
struct Facts {
    kurtosis: f64,
    acf_r: f64,
    acf_abs: f64,
    volume_vol_corr: f64,
    samples: usize,
}

/// Four symbols, each trading about every 16 market seconds (150 trades per volatility
/// half-life), sampled every 25 trades: 16,000 fixed-interval returns.
fn facts(model: Model) -> Facts {
    let mut config = config(model, flat_universe(4, 100.0, SIGMA, 0.0), 1000.0, 16.0);
    config.rho = 0.3;
    let step_ns = 100_000_000; // 25 trades of one symbol
    let all = ticks(config, 400_000);
    let (mut kurt, mut acf_r, mut acf_abs, mut vv) = (vec![], vec![], vec![], vec![]);
    let mut samples = 0;
    for series in by_symbol(&all).values() {
        let g: Vec<GridSample> = grid(series, step_ns);
        let r: Vec<f64> = g.iter().map(|s| s.ret).collect();
        let abs: Vec<f64> = r.iter().map(|x| x.abs()).collect();
        let volume: Vec<f64> = g.iter().map(|s| s.volume).collect();
        kurt.push(excess_kurtosis(&r));
        acf_r.push(autocorrelation(&r, 1));
        acf_abs.push(autocorrelation(&abs, 1));
        vv.push(correlation(&volume, &abs));
        samples += r.len();
    }
    Facts {
        kurtosis: mean(&kurt),
        acf_r: mean(&acf_r),
        acf_abs: mean(&acf_abs),
        volume_vol_corr: mean(&vv),
        samples,
    }
}

#[test]
fn default_model_shows_the_stylized_facts() {
    let f = facts(Model::default());
    println!("stochastic: {f:?}");
    // With n returns, SE(kurtosis) ~ sqrt(24/n) and SE(correlation) ~ 1/sqrt(n) for
    // normal data: n = 4,000 per symbol, so 0.08 and 0.016.
    assert!(f.samples > 15_000, "{f:?}");
    assert!(f.kurtosis > 1.0, "no heavy tails: {f:?}");
    assert!(
        f.acf_r.abs() < 0.05,
        "returns are linearly autocorrelated: {f:?}"
    );
    assert!(f.acf_abs > 0.1, "no volatility clustering: {f:?}");
    assert!(f.acf_abs > f.acf_r + 0.1, "{f:?}");
    assert!(
        f.volume_vol_corr > 0.1,
        "volume does not rise with volatility: {f:?}"
    );
}

#[test]
fn gbm_has_none_of_them() {
    let f = facts(Model::Gbm);
    println!("gbm: {f:?}");
    assert!(f.kurtosis.abs() < 0.3, "{f:?}");
    assert!(f.acf_r.abs() < 0.05, "{f:?}");
    assert!(f.acf_abs.abs() < 0.05, "{f:?}");
    assert!(f.volume_vol_corr.abs() < 0.05, "{f:?}");
}

/// Correlation of two symbols' returns sampled every 50 of their trades, with the bias
/// of asynchronous trading (Epps effect: about one mean trade gap per interval) removed.
fn pair_correlation(model: Model, rho: f64) -> (f64, f64, f64) {
    let mut config = config(model, flat_universe(2, 100.0, SIGMA, 0.0), 1000.0, 16.0);
    config.rho = rho;
    let step_ns = 100_000_000; // 50 trades of one symbol at 2 ms apart
    let all = ticks(config, 300_000);
    let map = by_symbol(&all);
    let a: Vec<f64> = grid(&map["S0"], step_ns).iter().map(|s| s.ret).collect();
    let b: Vec<f64> = grid(&map["S1"], step_ns).iter().map(|s| s.ret).collect();
    let n = a.len().min(b.len());
    let c = correlation(&a[..n], &b[..n]);
    let expected = rho * (1.0 - 2.0 / 100.0);
    let se = (1.0 - expected * expected) / (n as f64).sqrt();
    (c, expected, se)
}

#[test]
fn pairwise_correlation_matches_rho() {
    for rho in [0.0, 0.6] {
        let (c, expected, se) = pair_correlation(Model::Gbm, rho);
        println!("rho {rho}: sample correlation {c:.4}, expected {expected:.4}, SE {se:.4}");
        assert!(
            (c - expected).abs() < 4.0 * se,
            "rho {rho}: correlation {c}"
        );
    }
}

#[test]
fn stochastic_vol_roughly_keeps_rho() {
    // Independent idiosyncratic volatility lowers return correlation a little
    // (by exp(-var of idiosyncratic log-vol) = 0.90 at the defaults).
    let (c, _, _) = pair_correlation(Model::default(), 0.6);
    println!("stochastic rho 0.6: {c:.4}");
    assert!((0.45..0.65).contains(&c), "{c}");
}
