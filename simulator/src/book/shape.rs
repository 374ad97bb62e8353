//! The shape of a book: how much size rests at a level and how often a level is empty, by
//! its distance from the touch.
//!
//! A level's size in lots is `touch median x profile(distance) x lognormal`: the profile
//! rises from 1 at the touch towards `1 + DEPTH_GROWTH` over the first few ticks (resting
//! orders pile up just behind the quote), and the log-normal factor makes sizes heavy-tailed
//! (a few large resting orders, many small ones). Levels near the touch are always there;
//! deeper ones are empty with a probability that grows to `EMPTY_FAR`.

use std::sync::LazyLock;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// How much the mean size grows from the touch to deep levels (profile `1 -> 1 + growth`).
const DEPTH_GROWTH: f64 = 2.5;
/// Distance over which the profile grows, in ticks (63% of the way at this distance).
const DEPTH_GROWTH_TICKS: f64 = 3.0;
/// Log-sd of a level's size: heavy tails (the largest of thousands of levels is tens of
/// times the median).
const SIZE_LN_SD: f64 = 1.0;
/// The probability that a level far from the touch is empty.
const EMPTY_FAR: f64 = 0.2;
/// Distance over which that probability sets in, in ticks.
const EMPTY_TICKS: f64 = 15.0;
/// The median touch size is `TOUCH_LOTS_AT_100 x sqrt($100 / price)` lots: cheaper stocks
/// rest more shares per level ...
const TOUCH_LOTS_AT_100: f64 = 3.0;
/// ... within these bounds.
const TOUCH_LOTS_MIN: f64 = 1.0;
const TOUCH_LOTS_MAX: f64 = 40.0;
/// The most lots a level holds (a million shares on a 100-share lot).
const MAX_LOTS: f64 = 10_000.0;
/// Distances (ticks) whose profile and empty probability are tabulated: `exp` is a libm
/// call, and fresh levels are drawn on every quote move.
const TABLE_TICKS: usize = 128;

static PROFILE: LazyLock<[f64; TABLE_TICKS]> =
    LazyLock::new(|| std::array::from_fn(|d| profile(d as f64)));
static EMPTY: LazyLock<[f64; TABLE_TICKS]> =
    LazyLock::new(|| std::array::from_fn(|d| empty_probability(d as f64)));

fn profile(distance_ticks: f64) -> f64 {
    1.0 + DEPTH_GROWTH * (1.0 - (-distance_ticks / DEPTH_GROWTH_TICKS).exp())
}

fn empty_probability(distance_ticks: f64) -> f64 {
    EMPTY_FAR * (1.0 - (-distance_ticks / EMPTY_TICKS).exp())
}

/// `f` at a distance, from `table` when it is near enough.
#[inline]
fn lookup(table: &[f64; TABLE_TICKS], f: fn(f64) -> f64, distance_ticks: i64) -> f64 {
    usize::try_from(distance_ticks)
        .ok()
        .and_then(|d| table.get(d).copied())
        .unwrap_or_else(|| f(distance_ticks.max(0) as f64))
}

/// Level sizes of one instrument.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    /// Median lots at the touch.
    touch_lots: f64,
}

impl Shape {
    /// The shape of an instrument whose previous close is `price` dollars.
    pub(crate) fn new(price: f64) -> Self {
        let touch_lots =
            (TOUCH_LOTS_AT_100 * (100.0 / price).sqrt()).clamp(TOUCH_LOTS_MIN, TOUCH_LOTS_MAX);
        Self { touch_lots }
    }

    /// The mean-size profile at `distance_ticks` from the touch: 1 at the touch, rising.
    pub(crate) fn profile(distance_ticks: i64) -> f64 {
        lookup(&PROFILE, profile, distance_ticks)
    }

    /// The lots of a fresh level `distance_ticks` from the touch (at least one).
    pub(crate) fn level_lots(&self, distance_ticks: i64, rng: &mut ChaCha8Rng) -> u64 {
        self.lots(distance_ticks, 1.0, rng)
    }

    /// `scale` times a fresh level's lots, at least one: orders added to a level.
    pub(crate) fn lots(&self, distance_ticks: i64, scale: f64, rng: &mut ChaCha8Rng) -> u64 {
        let z: f64 = rng.sample(StandardNormal);
        let lots = scale * self.touch_lots * Self::profile(distance_ticks) * (SIZE_LN_SD * z).exp();
        (lots + 0.5).clamp(1.0, MAX_LOTS) as u64
    }

    /// Whether the level `distance_ticks` from the touch is empty (never at the touch).
    pub(crate) fn is_empty(distance_ticks: i64, rng: &mut ChaCha8Rng) -> bool {
        if distance_ticks <= 0 {
            return false;
        }
        rng.random::<f64>() < lookup(&EMPTY, empty_probability, distance_ticks)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_profile_rises_from_one_at_the_touch() {
        assert_eq!(Shape::profile(0), 1.0);
        assert!((1..20).all(|d| Shape::profile(d) > Shape::profile(d - 1)));
        assert!(Shape::profile(1_000) <= 1.0 + DEPTH_GROWTH);
        let edge = TABLE_TICKS as i64;
        assert!((Shape::profile(edge - 1) - profile((edge - 1) as f64)).abs() < 1e-15);
        assert!(Shape::profile(edge) >= Shape::profile(edge - 1));
    }

    #[test]
    fn cheaper_stocks_rest_more_lots_and_every_level_has_one() {
        assert!(Shape::new(10.0).touch_lots > Shape::new(500.0).touch_lots);
        assert_eq!(Shape::new(1e9).touch_lots, TOUCH_LOTS_MIN);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let shape = Shape::new(1e9);
        assert!((0..1_000).all(|_| shape.level_lots(0, &mut rng) >= 1));
    }

    #[test]
    fn the_touch_is_never_empty_and_far_levels_sometimes_are() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        assert!((0..1_000).all(|_| !Shape::is_empty(0, &mut rng)));
        let empty = (0..10_000)
            .filter(|_| Shape::is_empty(200, &mut rng))
            .count();
        assert!((1_500..2_500).contains(&empty), "{empty}");
    }
}
