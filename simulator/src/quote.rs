//! Market microstructure: each instrument's tick grid ($0.01 by default), the quote around
//! the efficient price, and heavy-tailed trade sizes that grow with volatility.

/// Quoted spread as a fraction of the price per unit of annualised volatility: a 50%-vol
/// $250 stock quotes about three cents wide, a calm or cheap one the minimum of one cent.
pub(crate) const SPREAD_PER_VOL: f64 = 2.5e-4;
/// Share of trades that are odd lots (1..=99 shares).
pub(crate) const ODD_LOT_PROB: f64 = 0.12;
/// Round-lot count is log-normal: median `exp(LOT_LN_MEDIAN)` lots, log-sd `LOT_LN_SD`.
pub(crate) const LOT_LN_MEDIAN: f64 = std::f64::consts::LN_2;
pub(crate) const LOT_LN_SD: f64 = 1.1;
/// Trade sizes scale with `(sigma / mean sigma) ^ SIZE_VOL_ELASTICITY`: volume rises with
/// volatility.
pub(crate) const SIZE_VOL_ELASTICITY: f64 = 1.5;
/// The largest round-lot count of one trade (a block of ten million shares).
const MAX_LOTS: f64 = 100_000.0;

/// Prices in ticks (whole numbers held in `f64`; cents on the default grid):
/// `bid <= price <= ask`, `ask - bid >= 1`, `bid >= 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Quote {
    pub price: f64,
    pub bid: f64,
    pub ask: f64,
}

impl Quote {
    /// The quote around the efficient price `mid_ticks` for a current annualised volatility
    /// `sigma`: the trade prints at the efficient price rounded to the tick, the spread is
    /// at least one tick and wider for volatile names, and the extra room goes to the side
    /// the efficient price leans to.
    pub(crate) fn around(mid_ticks: f64, sigma: f64) -> Self {
        // Integer arithmetic: `f64::round` is a libm call on baseline x86-64.
        let price = round_non_negative(mid_ticks).max(1);
        let spread = round_non_negative(mid_ticks * SPREAD_PER_VOL * sigma).max(1);
        let below = if mid_ticks >= price as f64 {
            spread / 2
        } else {
            (spread + 1) / 2
        };
        let bid = (price - below).max(1);
        Self {
            price: price as f64,
            bid: bid as f64,
            ask: (bid + spread) as f64,
        }
    }
}

/// Rounds a non-negative number half up to an integer (saturating; NaN gives 0).
#[inline]
fn round_non_negative(x: f64) -> i64 {
    (x + 0.5) as i64
}

/// An instrument's price grid: converts between dollars and whole ticks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TickGrid {
    /// The tick size in dollars.
    pub tick_size: f64,
    /// Ticks per dollar: a whole number when the tick divides a dollar (100 for $0.01), so
    /// that `ticks / ticks_per_dollar` is the decimal price exactly as it would parse.
    ticks_per_dollar: f64,
}

impl TickGrid {
    /// The grid of `tick_size` dollars (> 0).
    pub(crate) fn new(tick_size: f64) -> Self {
        let per = 1.0 / tick_size;
        let whole = per.round();
        let ticks_per_dollar = if (whole * tick_size - 1.0).abs() < 1e-9 {
            whole
        } else {
            per
        };
        Self {
            tick_size,
            ticks_per_dollar,
        }
    }

    /// A price in dollars as (fractional) ticks.
    #[inline]
    pub(crate) fn ticks(&self, dollars: f64) -> f64 {
        dollars * self.ticks_per_dollar
    }

    /// Whole ticks as dollars, exactly as the decimal would parse on a grid that divides a
    /// dollar (`19007.0` cents -> `190.07`).
    #[inline]
    pub(crate) fn dollars(&self, ticks: f64) -> f64 {
        ticks / self.ticks_per_dollar
    }
}

/// A trade size in shares from a uniform `u` in `[0, 1)`, a standard normal `z`, and the
/// log of the current volatility relative to its mean.
#[inline]
pub(crate) fn trade_size(u: f64, z: f64, log_vol_ratio: f64) -> u64 {
    if u < ODD_LOT_PROB {
        return 1 + (u / ODD_LOT_PROB * 99.0) as u64;
    }
    let lots = (LOT_LN_MEDIAN + LOT_LN_SD * z + SIZE_VOL_ELASTICITY * log_vol_ratio).exp();
    (lots + 0.5).clamp(1.0, MAX_LOTS) as u64 * 100
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(q: Quote) {
        assert!(
            q.bid >= 1.0 && q.bid <= q.price && q.price <= q.ask,
            "{q:?}"
        );
        assert!(q.ask - q.bid >= 1.0, "{q:?}");
        for v in [q.bid, q.price, q.ask] {
            assert_eq!(v, v.round());
        }
    }

    #[test]
    fn quotes_hold_their_invariants() {
        for mid in [0.0, 0.2, 0.7, 1.0, 1.49, 99.5, 100.4, 22_500.3, 1e9] {
            for sigma in [0.0, 0.1, 0.3, 1.0, 5.0] {
                check(Quote::around(mid, sigma));
            }
        }
    }

    #[test]
    fn spread_widens_with_volatility() {
        let calm = Quote::around(10_000.0, 0.1);
        let wild = Quote::around(10_000.0, 1.5);
        assert_eq!(calm.ask - calm.bid, 1.0);
        assert!(wild.ask - wild.bid >= 3.0);
    }

    #[test]
    fn sizes_are_mostly_round_lots() {
        assert_eq!(trade_size(0.0, 0.0, 0.0), 1);
        assert_eq!(trade_size(ODD_LOT_PROB - 1e-12, 0.0, 0.0), 99);
        assert_eq!(trade_size(0.5, 0.0, 0.0), 200);
        assert_eq!(trade_size(0.5, -10.0, 0.0), 100);
        assert!(trade_size(0.5, 0.0, 1.0) > trade_size(0.5, 0.0, 0.0));
        assert_eq!(trade_size(0.5, 100.0, 0.0), 10_000_000);
    }

    #[test]
    fn dollars_print_as_decimals() {
        let cents = TickGrid::new(0.01);
        assert_eq!(cents.dollars(19_007.0).to_string(), "190.07");
        assert_eq!(cents.dollars(1.0).to_string(), "0.01");
        assert_eq!(cents.ticks(190.07).round(), 19_007.0);
        let nickels = TickGrid::new(0.05);
        assert_eq!(nickels.dollars(3.0).to_string(), "0.15");
        let odd = TickGrid::new(0.003);
        for ticks in [1.0, 7.0, 123_457.0] {
            assert_eq!((odd.dollars(ticks) / 0.003).round(), ticks);
        }
    }
}
