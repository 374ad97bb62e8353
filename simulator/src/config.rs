//! Simulator configuration: every knob of the model, its defaults, and its validation.

use std::time::Duration;

use crate::universe::Universe;

/// Seconds in a trading year (252 days of 6.5 hours): the unit of `drift` and `volatility`.
pub const TRADING_YEAR_S: f64 = 252.0 * 6.5 * 3600.0;

/// Everything that decides the event sequence. The same `Config` (with the same `seed`)
/// always yields the identical sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Seed of the random generators behind every draw (the market's, and the books' own).
    pub seed: u64,
    /// Aggregate trades per virtual second, over all symbols. Default: 200.
    pub rate: f64,
    /// How trade times are drawn. Default: Poisson.
    pub arrivals: Arrivals,
    /// The instruments traded. Default: [`Universe::default_equities`] (50 US stocks).
    pub universe: Universe,
    /// Correlation of any two symbols' diffusive returns (one-factor model), in `[0, 1]`.
    /// Default: 0.4.
    pub rho: f64,
    /// Whether Merton jumps (parameters in `merton`) are added to the diffusion. Default: off.
    pub jumps: bool,
    /// Jump intensity and size distribution, used when `jumps` is on.
    pub merton: Merton,
    /// Volatility dynamics. Default: stochastic volatility (heavy tails, clustering).
    pub model: Model,
    /// Trading halts (random and/or scripted). Default: none.
    pub halts: Halts,
    /// Virtual clock origin: event `ts` = `start_ns` + virtual nanoseconds elapsed.
    /// Default: 0 (a server passes its start time).
    pub start_ns: u64,
    /// Market seconds that pass per virtual second: how fast prices move against the clock.
    /// 1.0 is real trading-time volatility; the default 20.0 makes a demo visibly move
    /// (a 6.5-hour trading day of price movement in under 20 minutes).
    pub time_scale: f64,
    /// Whether the market also keeps a limit order book per symbol and yields its changes
    /// ([`crate::Event::Book`] on `book.SYMBOL`). The books draw from their own generator:
    /// the trades and statuses are the same with books on or off. Default: off.
    pub books: bool,
}

impl Config {
    /// Default aggregate trade rate, per virtual second.
    pub const DEFAULT_RATE: f64 = 200.0;
    /// Default market correlation.
    pub const DEFAULT_RHO: f64 = 0.4;
    /// Default market seconds per virtual second.
    pub const DEFAULT_TIME_SCALE: f64 = 20.0;
    /// Default seed.
    pub const DEFAULT_SEED: u64 = 1;
    /// Default virtual clock origin (UNIX nanoseconds): 0, the epoch.
    pub const DEFAULT_START_NS: u64 = 0;

    /// Checks every parameter; [`crate::Market::new`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("rate", self.rate)?;
        unit_interval("rho", self.rho)?;
        positive("time_scale", self.time_scale)?;
        if self.jumps {
            non_negative("merton.intensity", self.merton.intensity)?;
            finite("merton.mean", self.merton.mean)?;
            non_negative("merton.sd", self.merton.sd)?;
        }
        if let Model::StochasticVol(sv) = &self.model {
            positive("model.half_life_s", sv.half_life_s)?;
            non_negative("model.vol_of_vol", sv.vol_of_vol)?;
            unit_interval("model.market_share", sv.market_share)?;
        }
        non_negative("halts.gap_sd", self.halts.gap_sd)?;
        if let Some(random) = &self.halts.random {
            positive_duration("halts.random.mean_interval", random.mean_interval)?;
            positive_duration("halts.random.mean_duration", random.mean_duration)?;
        }
        for halt in &self.halts.scripted {
            if self.universe.index_of(&halt.symbol).is_none() {
                return Err(ConfigError::UnknownHaltSymbol(halt.symbol.clone()));
            }
        }
        Ok(())
    }
}

impl Default for Config {
    /// A lively demo: 50 well-known equities, 200 trades/s, stochastic volatility.
    fn default() -> Self {
        Self {
            seed: Self::DEFAULT_SEED,
            rate: Self::DEFAULT_RATE,
            arrivals: Arrivals::default(),
            universe: Universe::default_equities(),
            rho: Self::DEFAULT_RHO,
            jumps: false,
            merton: Merton::default(),
            model: Model::default(),
            halts: Halts::default(),
            start_ns: Self::DEFAULT_START_NS,
            time_scale: Self::DEFAULT_TIME_SCALE,
            books: false,
        }
    }
}

/// How trade times are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Arrivals {
    /// One Poisson process per symbol (rate proportional to its `weight`), together
    /// `Config::rate` per second: exponential gaps, as in real trade streams.
    #[default]
    Poisson,
    /// Evenly spaced trades, symbols in round-robin order (benchmarks, load tests).
    Constant,
}

/// Volatility dynamics of the log-price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// Log-volatility follows a mean-reverting (Ornstein-Uhlenbeck) process, part of it
    /// shared by the whole market: volatility clustering, heavy-tailed returns,
    /// autocorrelated absolute returns. The mean variance still equals `volatility^2`.
    StochasticVol(StochasticVol),
    /// Plain geometric Brownian motion with constant volatility.
    Gbm,
}

impl Default for Model {
    fn default() -> Self {
        Self::StochasticVol(StochasticVol::default())
    }
}

/// Parameters of [`Model::StochasticVol`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StochasticVol {
    /// Half-life of a volatility shock, in market seconds. Default: 2400 (40 minutes).
    pub half_life_s: f64,
    /// Stationary standard deviation of log-volatility. Default: 0.45.
    pub vol_of_vol: f64,
    /// Share of the log-volatility variance common to all symbols, in `[0, 1]`. Default: 0.5.
    pub market_share: f64,
}

impl Default for StochasticVol {
    fn default() -> Self {
        Self {
            half_life_s: 2400.0,
            vol_of_vol: 0.45,
            market_share: 0.5,
        }
    }
}

/// Merton jump parameters: jumps arrive as a Poisson process per symbol and add a
/// normally distributed amount to the log-price. The drift is compensated, so the
/// expected price growth stays `drift`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Merton {
    /// Jumps per symbol per market year. Default: 50.
    pub intensity: f64,
    /// Mean log-jump. Default: -0.01.
    pub mean: f64,
    /// Standard deviation of the log-jump. Default: 0.03.
    pub sd: f64,
}

impl Default for Merton {
    fn default() -> Self {
        Self {
            intensity: 50.0,
            mean: -0.01,
            sd: 0.03,
        }
    }
}

/// Trading halts: while a symbol is halted it has no trades; halts and resumptions are
/// announced as `status` events, and the first trade after a resume gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Halts {
    /// Random halts across the market, if any.
    pub random: Option<RandomHalts>,
    /// Halts at given times (virtual time after `start_ns`).
    pub scripted: Vec<Halt>,
    /// Standard deviation of the extra log-price gap at a resume (news). Default: 0.02.
    pub gap_sd: f64,
}

impl Halts {
    /// No halts.
    pub fn off() -> Self {
        Self::default()
    }

    /// Random halts with default parameters.
    pub fn random() -> Self {
        Self {
            random: Some(RandomHalts::default()),
            ..Self::default()
        }
    }

    /// True when no halt can happen.
    pub fn is_off(&self) -> bool {
        self.random.is_none() && self.scripted.is_empty()
    }
}

impl Default for Halts {
    fn default() -> Self {
        Self {
            random: None,
            scripted: Vec::new(),
            gap_sd: 0.02,
        }
    }
}

/// Random halts: a Poisson process over the whole market picks a symbol to halt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomHalts {
    /// Mean virtual time between two halts anywhere in the market. Default: 60 s.
    pub mean_interval: Duration,
    /// Mean length of a halt (exponential, at least one second). Default: 15 s.
    pub mean_duration: Duration,
}

impl Default for RandomHalts {
    fn default() -> Self {
        Self {
            mean_interval: Duration::from_secs(60),
            mean_duration: Duration::from_secs(15),
        }
    }
}

/// One scripted halt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    pub symbol: String,
    /// When the halt starts, after `start_ns`.
    pub at: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

/// A [`Config`] the model cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} = {value} is invalid: expected {expected}")]
    Invalid {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
    #[error("scripted halt names {0:?}, which is not in the universe")]
    UnknownHaltSymbol(String),
}

fn check(
    name: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            name,
            value,
            expected,
        })
    }
}

fn positive(name: &'static str, value: f64) -> Result<(), ConfigError> {
    check(
        name,
        value,
        value.is_finite() && value > 0.0,
        "a finite number > 0",
    )
}

fn non_negative(name: &'static str, value: f64) -> Result<(), ConfigError> {
    check(
        name,
        value,
        value.is_finite() && value >= 0.0,
        "a finite number >= 0",
    )
}

fn finite(name: &'static str, value: f64) -> Result<(), ConfigError> {
    check(name, value, value.is_finite(), "a finite number")
}

fn unit_interval(name: &'static str, value: f64) -> Result<(), ConfigError> {
    check(
        name,
        value,
        (0.0..=1.0).contains(&value),
        "a number in [0, 1]",
    )
}

fn positive_duration(name: &'static str, value: Duration) -> Result<(), ConfigError> {
    let secs = value.as_secs_f64();
    check(name, secs, secs > 0.0, "a duration > 0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn bad_parameters_are_named() {
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate()
        };
        assert!(matches!(
            bad(|c| c.rate = 0.0),
            Err(ConfigError::Invalid { name: "rate", .. })
        ));
        assert!(matches!(
            bad(|c| c.rate = f64::NAN),
            Err(ConfigError::Invalid { name: "rate", .. })
        ));
        assert!(matches!(
            bad(|c| c.rho = 1.5),
            Err(ConfigError::Invalid { name: "rho", .. })
        ));
        assert!(matches!(
            bad(|c| c.time_scale = -1.0),
            Err(ConfigError::Invalid {
                name: "time_scale",
                ..
            })
        ));
        assert_eq!(
            bad(|c| c.halts.scripted.push(Halt {
                symbol: "NOPE".into(),
                at: Duration::ZERO,
                duration: Duration::from_secs(1)
            })),
            Err(ConfigError::UnknownHaltSymbol("NOPE".into()))
        );
    }
}
