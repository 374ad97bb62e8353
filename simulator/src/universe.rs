//! The instruments a market trades: the built-in equities, synthetic universes for load
//! tests, and universe files (TOML or JSON), all validated on the way in.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::equities::DEFAULT_EQUITIES;

/// The smallest tick size accepted, in dollars (keeps prices in ticks well inside `i64`).
const MIN_TICK_SIZE: f64 = 1e-6;

/// One tradable instrument and the parameters of its price process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instrument {
    /// Ticker, one topic token (`[A-Za-z0-9_-]`): trades go to `ticks.SYMBOL`.
    pub symbol: String,
    /// Display name. Default: the symbol.
    #[serde(default)]
    pub name: String,
    /// Sector, e.g. "Information Technology". Default: empty.
    #[serde(default)]
    pub sector: String,
    /// Previous close in dollars: the starting price.
    pub price: f64,
    /// Annualised volatility (0.25 = 25% a year).
    pub volatility: f64,
    /// Annualised expected return (0.08 = 8% a year). Default: 0.
    #[serde(default)]
    pub drift: f64,
    /// Relative trading activity: its share of the aggregate trade rate. Default: 1.
    #[serde(default = "one")]
    pub weight: f64,
    /// Price increment in dollars: trades, quotes and book levels are whole multiples of it.
    /// Default: 0.01.
    #[serde(default = "default_tick_size")]
    pub tick_size: f64,
    /// Shares in a round lot: book sizes are whole lots. Default: 100.
    #[serde(default = "default_lot_size")]
    pub lot_size: u64,
}

fn one() -> f64 {
    1.0
}

fn default_tick_size() -> f64 {
    Instrument::DEFAULT_TICK_SIZE
}

fn default_lot_size() -> u64 {
    Instrument::DEFAULT_LOT_SIZE
}

impl Instrument {
    /// The tick size of US equities over $1: one cent.
    pub const DEFAULT_TICK_SIZE: f64 = 0.01;
    /// The round lot of US equities: 100 shares.
    pub const DEFAULT_LOT_SIZE: u64 = 100;

    /// An instrument with weight 1, named after its symbol, on the default tick and lot.
    pub fn new(symbol: &str, price: f64, volatility: f64, drift: f64) -> Self {
        Self {
            symbol: symbol.to_owned(),
            name: symbol.to_owned(),
            sector: String::new(),
            price,
            volatility,
            drift,
            weight: 1.0,
            tick_size: Self::DEFAULT_TICK_SIZE,
            lot_size: Self::DEFAULT_LOT_SIZE,
        }
    }
}

/// A validated, non-empty list of instruments with unique symbols.
#[derive(Debug, Clone, PartialEq)]
pub struct Universe {
    instruments: Vec<Instrument>,
}

/// The document shape of a universe file: `instruments = [...]` (TOML `[[instruments]]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UniverseFile {
    instruments: Vec<Instrument>,
}

/// Why a universe could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum UniverseError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: unsupported file type; expected .toml or .json", path.display())]
    Extension { path: PathBuf },
    #[error("{}: invalid TOML universe", path.display())]
    Toml {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{}: invalid JSON universe", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the universe has no instruments")]
    Empty,
    #[error("symbol {0:?} appears twice")]
    DuplicateSymbol(String),
    #[error("invalid symbol {symbol:?}: {reason}")]
    InvalidSymbol { symbol: String, reason: String },
    #[error("{symbol}: {field} = {value} is invalid: expected {expected}")]
    InvalidField {
        symbol: String,
        field: &'static str,
        value: f64,
        expected: &'static str,
    },
}

impl Universe {
    /// Validates `instruments`: at least one, unique valid symbols, prices > 0, finite
    /// volatility >= 0 and drift, weight > 0, tick size >= 1e-6, lot size >= 1. Empty
    /// names become the symbol.
    pub fn new(mut instruments: Vec<Instrument>) -> Result<Self, UniverseError> {
        if instruments.is_empty() {
            return Err(UniverseError::Empty);
        }
        let mut seen = std::collections::HashSet::with_capacity(instruments.len());
        for inst in &mut instruments {
            check_symbol(&inst.symbol)?;
            if !seen.insert(inst.symbol.clone()) {
                return Err(UniverseError::DuplicateSymbol(inst.symbol.clone()));
            }
            check_field(inst, "price", inst.price, inst.price > 0.0, "> 0")?;
            check_field(
                inst,
                "volatility",
                inst.volatility,
                inst.volatility >= 0.0,
                ">= 0",
            )?;
            check_field(inst, "drift", inst.drift, true, "a finite number")?;
            check_field(inst, "weight", inst.weight, inst.weight > 0.0, "> 0")?;
            check_field(
                inst,
                "tick_size",
                inst.tick_size,
                inst.tick_size >= MIN_TICK_SIZE,
                ">= 1e-6",
            )?;
            check_field(
                inst,
                "lot_size",
                inst.lot_size as f64,
                inst.lot_size >= 1,
                ">= 1",
            )?;
            if inst.name.is_empty() {
                inst.name = inst.symbol.clone();
            }
        }
        Ok(Self { instruments })
    }

    /// About 50 well-known US equities with plausible prices, volatilities and drifts.
    pub fn default_equities() -> Self {
        let instruments = DEFAULT_EQUITIES
            .iter()
            .map(
                |&(symbol, name, sector, price, volatility, drift, weight)| Instrument {
                    symbol: symbol.to_owned(),
                    name: name.to_owned(),
                    sector: sector.to_owned(),
                    price,
                    volatility,
                    drift,
                    weight,
                    tick_size: Instrument::DEFAULT_TICK_SIZE,
                    lot_size: Instrument::DEFAULT_LOT_SIZE,
                },
            )
            .collect();
        Self { instruments }
    }

    /// `n` synthetic symbols (`SYN0000`, `SYN0001`, ...; at least one) with parameters
    /// spread deterministically over realistic ranges, for load tests with many topics.
    pub fn synthetic(n: usize) -> Self {
        const SECTORS: [&str; 6] = [
            "Information Technology",
            "Financials",
            "Health Care",
            "Industrials",
            "Energy",
            "Consumer Discretionary",
        ];
        let n = n.max(1);
        let width = (n - 1).to_string().len().max(4);
        let instruments = (0..n)
            .map(|i| {
                let mut h = i as u64;
                let mut unit = || unit_hash(&mut h);
                let mut symbol = String::with_capacity(3 + width);
                let _ = write!(symbol, "SYN{i:0width$}");
                Instrument {
                    name: format!("Synthetic {i}"),
                    sector: SECTORS[i % SECTORS.len()].to_owned(),
                    price: (5.0f64.ln() + unit() * (500.0f64 / 5.0).ln()).exp(),
                    volatility: 0.15 + 0.45 * unit(),
                    drift: 0.02 + 0.10 * unit(),
                    weight: (0.5f64.ln() + unit() * 4.0f64.ln()).exp(),
                    tick_size: Instrument::DEFAULT_TICK_SIZE,
                    lot_size: Instrument::DEFAULT_LOT_SIZE,
                    symbol,
                }
            })
            .map(|mut inst| {
                inst.price = (inst.price * 100.0).round() / 100.0;
                inst
            })
            .collect();
        Self { instruments }
    }

    /// Loads a universe file: `.toml` with `[[instruments]]` tables, or `.json` with
    /// `{"instruments": [...]}` or a bare array. Fields: `symbol`, `price`, `volatility`
    /// (required); `name`, `sector`, `drift`, `weight`, `tick_size`, `lot_size` (optional).
    /// Unknown fields are errors.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, UniverseError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let is_json = match ext.as_deref() {
            Some("json") => true,
            Some("toml") => false,
            _ => {
                return Err(UniverseError::Extension {
                    path: path.to_owned(),
                });
            }
        };
        let text = std::fs::read_to_string(path).map_err(|source| UniverseError::Io {
            path: path.to_owned(),
            source,
        })?;
        let instruments = if is_json {
            parse_json(&text).map_err(|source| UniverseError::Json {
                path: path.to_owned(),
                source,
            })?
        } else {
            toml::from_str::<UniverseFile>(&text)
                .map_err(|source| UniverseError::Toml {
                    path: path.to_owned(),
                    source,
                })?
                .instruments
        };
        Self::new(instruments)
    }

    /// The instruments, in universe order (the order `Market` indexes them by).
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// The number of instruments (at least one).
    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// Always false: a universe has at least one instrument.
    pub fn is_empty(&self) -> bool {
        self.instruments.is_empty()
    }

    /// The position of `symbol` in [`Universe::instruments`].
    pub fn index_of(&self, symbol: &str) -> Option<usize> {
        self.instruments.iter().position(|i| i.symbol == symbol)
    }

    /// The instrument named `symbol`.
    pub fn get(&self, symbol: &str) -> Option<&Instrument> {
        self.index_of(symbol).map(|i| &self.instruments[i])
    }
}

impl Default for Universe {
    fn default() -> Self {
        Self::default_equities()
    }
}

fn parse_json(text: &str) -> Result<Vec<Instrument>, serde_json::Error> {
    match serde_json::from_str::<serde_json::Value>(text)? {
        value @ serde_json::Value::Array(_) => serde_json::from_value(value),
        value => serde_json::from_value::<UniverseFile>(value).map(|f| f.instruments),
    }
}

pub(crate) fn check_symbol(symbol: &str) -> Result<(), UniverseError> {
    let invalid = |reason: String| UniverseError::InvalidSymbol {
        symbol: symbol.to_owned(),
        reason,
    };
    if symbol.contains('.') {
        return Err(invalid("a symbol is one topic token and has no '.'".into()));
    }
    // The longest topic a symbol appears in is `bars.1m.SYMBOL`.
    tickcast_proto::validate_topic(&format!("bars.1m.{symbol}"))
        .and_then(|()| tickcast_proto::validate_topic(symbol))
        .map_err(|e| invalid(e.to_string()))
}

fn check_field(
    inst: &Instrument,
    field: &'static str,
    value: f64,
    ok: bool,
    expected: &'static str,
) -> Result<(), UniverseError> {
    if value.is_finite() && ok {
        Ok(())
    } else {
        Err(UniverseError::InvalidField {
            symbol: inst.symbol.clone(),
            field,
            value,
            expected,
        })
    }
}

/// SplitMix64 step mapped to `[0, 1)`: deterministic parameters without a generator.
fn unit_hash(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_equities_are_valid() {
        let u = Universe::default_equities();
        assert!(u.len() >= 50);
        assert!(Universe::new(u.instruments().to_vec()).is_ok());
        assert_eq!(
            u.get("AAPL").map(|i| i.sector.as_str()),
            Some("Information Technology")
        );
    }

    #[test]
    fn synthetic_universes_are_valid_and_deterministic() {
        let u = Universe::synthetic(3000);
        assert_eq!(u.len(), 3000);
        assert_eq!(u.instruments()[0].symbol, "SYN0000");
        assert_eq!(u.instruments()[2999].symbol, "SYN2999");
        assert!(Universe::new(u.instruments().to_vec()).is_ok());
        assert_eq!(u, Universe::synthetic(3000));
        assert_eq!(Universe::synthetic(0).len(), 1);
        assert_eq!(
            Universe::synthetic(12345).instruments()[7].symbol,
            "SYN00007"
        );
    }

    #[test]
    fn validation_rejects_bad_instruments() {
        let new = |inst: Instrument| Universe::new(vec![inst]);
        assert!(matches!(Universe::new(vec![]), Err(UniverseError::Empty)));
        assert!(matches!(
            new(Instrument::new("A.B", 1.0, 0.1, 0.0)),
            Err(UniverseError::InvalidSymbol { .. })
        ));
        assert!(matches!(
            new(Instrument::new("A B", 1.0, 0.1, 0.0)),
            Err(UniverseError::InvalidSymbol { .. })
        ));
        assert!(matches!(
            new(Instrument::new("A", 0.0, 0.1, 0.0)),
            Err(UniverseError::InvalidField { field: "price", .. })
        ));
        assert!(matches!(
            new(Instrument::new("A", 1.0, f64::NAN, 0.0)),
            Err(UniverseError::InvalidField {
                field: "volatility",
                ..
            })
        ));
        let a = Instrument::new("A", 1.0, 0.1, 0.0);
        assert!(matches!(
            Universe::new(vec![a.clone(), a]),
            Err(UniverseError::DuplicateSymbol(s)) if s == "A"
        ));
    }
}
