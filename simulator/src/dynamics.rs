//! The price process: log-price diffusion with a one-factor market correlation, optional
//! stochastic volatility (log-OU, part market-wide) and Merton jumps, stepped exactly over
//! each symbol's own inter-trade interval.
//!
//! Time here is virtual seconds (`f64`); rates and variances are converted to market
//! years with `years_per_s`. The market factor is a Brownian motion `W` sampled at every
//! trade; a symbol's factor increment is `W(now) - W(its last trade)`, so disjoint
//! intervals get independent increments and all symbols see the same market path.
//!
//! Log-volatility moves in exact OU steps of at least [`VOL_STEP_FRACTION`] of its
//! half-life (shorter intervals accumulate): at high trade rates volatility is held
//! piecewise constant over those tiny steps instead of being redrawn on every trade.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Exp1, StandardNormal};

use crate::config::{Config, Model, TRADING_YEAR_S};
use crate::universe::Instrument;

/// The efficient price is kept within $1e-6 ..= $1e9 so it stays finite.
const LOG_PRICE_MIN: f64 = -13.815_510_557_964_274;
const LOG_PRICE_MAX: f64 = 20.723_265_836_946_41;

/// The shortest log-volatility step, as a fraction of the volatility half-life.
pub(crate) const VOL_STEP_FRACTION: f64 = 1e-3;

/// Market-wide constants derived from the [`Config`].
#[derive(Debug, Clone)]
pub(crate) struct Params {
    /// Market years per virtual second.
    years_per_s: f64,
    sqrt_rho: f64,
    sqrt_idio: f64,
    vol: Option<VolParams>,
    jumps: Option<JumpParams>,
    gap_sd: f64,
}

#[derive(Debug, Clone, Copy)]
struct VolParams {
    /// Mean-reversion speed of log-volatility, per market year.
    kappa: f64,
    /// Stationary standard deviations of the market and idiosyncratic log-vol parts.
    sd_market: f64,
    sd_idio: f64,
    /// Total stationary variance of log-vol: `sigma = mean * exp(h - var)` has
    /// `E[sigma^2] = mean^2`.
    var: f64,
    /// The shortest OU step, in market years.
    min_step: f64,
}

#[derive(Debug, Clone, Copy)]
struct JumpParams {
    /// Jumps per virtual second, per symbol.
    rate_per_s: f64,
    mean: f64,
    sd: f64,
    /// `intensity * E[e^J - 1]` per market year: subtracted from the drift.
    compensator: f64,
}

impl Params {
    pub(crate) fn new(config: &Config) -> Self {
        let years_per_s = config.time_scale / TRADING_YEAR_S;
        let vol = match config.model {
            Model::Gbm => None,
            Model::StochasticVol(sv) => {
                let var = sv.vol_of_vol * sv.vol_of_vol;
                let half_life = sv.half_life_s / TRADING_YEAR_S;
                Some(VolParams {
                    kappa: std::f64::consts::LN_2 / half_life,
                    min_step: half_life * VOL_STEP_FRACTION,
                    sd_market: (var * sv.market_share).sqrt(),
                    sd_idio: (var * (1.0 - sv.market_share)).sqrt(),
                    var,
                })
            }
        };
        let jumps = config.jumps.then(|| {
            let m = config.merton;
            JumpParams {
                rate_per_s: m.intensity * years_per_s,
                mean: m.mean,
                sd: m.sd,
                compensator: m.intensity * ((m.mean + 0.5 * m.sd * m.sd).exp() - 1.0),
            }
        });
        Self {
            years_per_s,
            sqrt_rho: config.rho.sqrt(),
            sqrt_idio: (1.0 - config.rho).sqrt(),
            vol,
            jumps,
            gap_sd: config.halts.gap_sd,
        }
    }
}

/// Draws a standard normal.
#[inline]
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// One exact Ornstein-Uhlenbeck step of length `dy` (market years) towards 0.
#[inline]
fn ou_step(h: f64, kappa: f64, sd: f64, dy: f64, rng: &mut ChaCha8Rng) -> f64 {
    let a = (-kappa * dy).exp();
    h * a + sd * (1.0 - a * a).max(0.0).sqrt() * normal(rng)
}

/// The market factor: its Brownian path and the market part of log-volatility.
#[derive(Debug, Clone)]
pub(crate) struct Factor {
    t: f64,
    w: f64,
    h: f64,
    /// Market years since `h` last moved.
    vol_dy: f64,
    /// Bumped whenever `h` moves, so symbols know to recompute their volatility.
    h_version: u64,
}

impl Factor {
    pub(crate) fn new(params: &Params, rng: &mut ChaCha8Rng) -> Self {
        let h = params.vol.map_or(0.0, |v| v.sd_market * normal(rng));
        Self {
            t: 0.0,
            w: 0.0,
            h,
            vol_dy: 0.0,
            h_version: 0,
        }
    }

    /// Moves the factor to virtual time `t` (no-op when already there).
    #[inline]
    pub(crate) fn advance(&mut self, t: f64, params: &Params, rng: &mut ChaCha8Rng) {
        if t <= self.t {
            return;
        }
        let dy = (t - self.t) * params.years_per_s;
        self.w += dy.sqrt() * normal(rng);
        if let Some(v) = params.vol {
            self.vol_dy += dy;
            if self.vol_dy >= v.min_step {
                self.h = ou_step(self.h, v.kappa, v.sd_market, self.vol_dy, rng);
                self.vol_dy = 0.0;
                self.h_version += 1;
            }
        }
        self.t = t;
    }
}

/// One symbol's state between trades.
#[derive(Debug, Clone)]
pub(crate) struct SymbolState {
    log_price: f64,
    /// Annualised volatility mean (the instrument's `volatility`).
    sigma_mean: f64,
    /// Drift of the log-price before the `-sigma^2/2` term, jump-compensated.
    drift: f64,
    /// Idiosyncratic part of log-volatility.
    h: f64,
    /// Current annualised volatility, used over the interval starting at `last_t`.
    sigma: f64,
    /// `ln(sigma / sigma_mean)`.
    log_vol_ratio: f64,
    last_t: f64,
    last_w: f64,
    /// Market years since `h` last moved.
    vol_dy: f64,
    /// The factor's `h_version` that `sigma` reflects.
    h_version: u64,
    next_jump_t: f64,
    /// Set by a resume: the next trade carries the news gap.
    pub(crate) gap_pending: bool,
    /// Nested halts in force (a symbol trades only at 0).
    pub(crate) halt_depth: u32,
}

impl SymbolState {
    pub(crate) fn new(
        inst: &Instrument,
        params: &Params,
        factor: &Factor,
        rng: &mut ChaCha8Rng,
    ) -> Self {
        let mut s = Self {
            log_price: inst.price.ln(),
            sigma_mean: inst.volatility,
            drift: inst.drift - params.jumps.map_or(0.0, |j| j.compensator),
            h: params.vol.map_or(0.0, |v| v.sd_idio * normal(rng)),
            sigma: inst.volatility,
            log_vol_ratio: 0.0,
            last_t: 0.0,
            last_w: 0.0,
            vol_dy: 0.0,
            h_version: 0,
            next_jump_t: f64::INFINITY,
            gap_pending: false,
            halt_depth: 0,
        };
        if let Some(j) = params.jumps {
            if j.rate_per_s > 0.0 {
                s.next_jump_t = rng.sample::<f64, _>(Exp1) / j.rate_per_s;
            }
        }
        s.refresh_sigma(params, factor);
        s
    }

    #[inline]
    fn refresh_sigma(&mut self, params: &Params, factor: &Factor) {
        if let Some(v) = params.vol {
            self.log_vol_ratio = factor.h + self.h - v.var;
            self.sigma = self.sigma_mean * self.log_vol_ratio.exp();
            self.h_version = factor.h_version;
        }
    }

    /// Moves this symbol to virtual time `t` (the factor must already be there) and
    /// returns the new efficient price in dollars.
    #[inline]
    pub(crate) fn step(
        &mut self,
        t: f64,
        factor: &Factor,
        params: &Params,
        rng: &mut ChaCha8Rng,
    ) -> f64 {
        let dy = (t - self.last_t) * params.years_per_s;
        let dw = factor.w - self.last_w;
        let sigma = self.sigma;
        let diffusion = params.sqrt_rho * dw + params.sqrt_idio * dy.sqrt() * normal(rng);
        let mut r = (self.drift - 0.5 * sigma * sigma) * dy + sigma * diffusion;
        if let Some(j) = params.jumps {
            while self.next_jump_t <= t {
                r += j.mean + j.sd * normal(rng);
                self.next_jump_t += rng.sample::<f64, _>(Exp1) / j.rate_per_s;
            }
        }
        if self.gap_pending {
            self.gap_pending = false;
            r += params.gap_sd * normal(rng);
        }
        self.log_price = (self.log_price + r).clamp(LOG_PRICE_MIN, LOG_PRICE_MAX);
        if let Some(v) = params.vol {
            self.vol_dy += dy;
            let mut moved = self.h_version != factor.h_version;
            if self.vol_dy >= v.min_step {
                self.h = ou_step(self.h, v.kappa, v.sd_idio, self.vol_dy, rng);
                self.vol_dy = 0.0;
                moved = true;
            }
            if moved {
                self.refresh_sigma(params, factor);
            }
        }
        self.last_t = t;
        self.last_w = factor.w;
        self.log_price.exp()
    }

    /// Current annualised volatility.
    #[inline]
    pub(crate) fn sigma(&self) -> f64 {
        self.sigma
    }

    /// `ln(sigma / mean sigma)`: 0 under GBM.
    #[inline]
    pub(crate) fn log_vol_ratio(&self) -> f64 {
        self.log_vol_ratio
    }
}
