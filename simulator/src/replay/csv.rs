//! CSV trade files (`timestamp,symbol,price,size`, with or without a header naming the
//! columns in any order) turned into ticks with synthetic one-cent-each-side quotes.

use std::collections::HashMap;

use tickcast_proto::Tick;

use super::time::parse_timestamp;
use crate::universe::check_symbol;

const TIMESTAMP: &[&str] = &["timestamp", "time", "ts", "datetime", "date", "t"];
const SYMBOL: &[&str] = &["symbol", "ticker", "sym", "s"];
const PRICE: &[&str] = &["price", "px", "last", "trade_price", "p"];
const SIZE: &[&str] = &["size", "qty", "quantity", "shares", "volume", "v"];

/// Column positions of the four fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    timestamp: usize,
    symbol: usize,
    price: usize,
    size: usize,
}

impl Columns {
    const DEFAULT: Self = Self {
        timestamp: 0,
        symbol: 1,
        price: 2,
        size: 3,
    };

    fn from_header(fields: &[&str]) -> Result<Self, String> {
        let find = |names: &[&str], what: &str| {
            fields
                .iter()
                .position(|f| names.iter().any(|n| f.eq_ignore_ascii_case(n)))
                .ok_or_else(|| format!("header has no {what} column (one of {names:?})"))
        };
        Ok(Self {
            timestamp: find(TIMESTAMP, "timestamp")?,
            symbol: find(SYMBOL, "symbol")?,
            price: find(PRICE, "price")?,
            size: find(SIZE, "size")?,
        })
    }

    fn width(self) -> usize {
        1 + self
            .timestamp
            .max(self.symbol)
            .max(self.price)
            .max(self.size)
    }
}

/// Per-symbol numbering of a replayed CSV.
#[derive(Debug)]
struct Topic {
    topic: String,
    seq: u64,
    volume: u64,
}

/// The state of one CSV being replayed.
#[derive(Debug, Default)]
pub(crate) struct CsvReader {
    columns: Option<Columns>,
    topics: HashMap<String, Topic>,
}

fn split(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').trim())
        .collect()
}

impl CsvReader {
    /// Parses one non-blank line: `Ok(None)` for a header.
    pub(crate) fn parse(&mut self, line: &str) -> Result<Option<Tick>, String> {
        let fields = split(line);
        let columns = match self.columns {
            Some(c) => c,
            None => {
                let is_header = fields
                    .get(Columns::DEFAULT.price)
                    .is_none_or(|p| p.parse::<f64>().is_err());
                if is_header {
                    self.columns = Some(Columns::from_header(&fields)?);
                    return Ok(None);
                }
                *self.columns.insert(Columns::DEFAULT)
            }
        };
        if fields.len() < columns.width() {
            return Err(format!(
                "expected at least {} fields, found {}",
                columns.width(),
                fields.len()
            ));
        }
        let raw_ts = fields[columns.timestamp];
        let ts = parse_timestamp(raw_ts).ok_or_else(|| format!("bad timestamp {raw_ts:?}"))?;
        let symbol = fields[columns.symbol];
        check_symbol(symbol).map_err(|e| e.to_string())?;
        let raw_price = fields[columns.price];
        let price = raw_price
            .parse::<f64>()
            .ok()
            .filter(|p| p.is_finite() && *p > 0.0)
            .ok_or_else(|| format!("bad price {raw_price:?}"))?;
        let raw_size = fields[columns.size];
        let size = parse_size(raw_size).ok_or_else(|| format!("bad size {raw_size:?}"))?;
        let topic = self
            .topics
            .entry(symbol.to_owned())
            .or_insert_with(|| Topic {
                topic: format!("ticks.{symbol}"),
                seq: 0,
                volume: 0,
            });
        topic.seq += 1;
        topic.volume = topic.volume.saturating_add(size);
        let (bid, ask) = synthetic_quote(price);
        Ok(Some(Tick {
            topic: topic.topic.clone(),
            seq: topic.seq,
            ts,
            symbol: symbol.to_owned(),
            price,
            size,
            bid,
            ask,
            volume: topic.volume,
        }))
    }
}

/// Whole shares; `100.0` is accepted, fractions are rounded.
fn parse_size(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| s.round() as u64)
    })
}

/// A recorded trade has no quote: one cent each side of the price (on the cent grid),
/// so `bid < price < ask`.
fn synthetic_quote(price: f64) -> (f64, f64) {
    let cents = (price * 100.0).round();
    if cents >= 2.0 {
        ((cents - 1.0) / 100.0, (cents + 1.0) / 100.0)
    } else {
        (price, price + 0.01)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headerless_rows_use_the_default_order() {
        let mut r = CsvReader::default();
        let t = r.parse("1704205800,AAPL,190.07,100").unwrap().unwrap();
        assert_eq!(
            (t.topic.as_str(), t.seq, t.size, t.volume),
            ("ticks.AAPL", 1, 100, 100)
        );
        assert_eq!((t.bid, t.price, t.ask), (190.06, 190.07, 190.08));
        let t = r.parse("1704205801,AAPL,190.1,50").unwrap().unwrap();
        assert_eq!((t.seq, t.volume), (2, 150));
    }

    #[test]
    fn headers_name_columns_in_any_order() {
        let mut r = CsvReader::default();
        assert_eq!(r.parse("Symbol,Size,Price,Time").unwrap(), None);
        let t = r
            .parse("\"MSFT\", 300, 420.5, 2024-01-02T14:30:00Z")
            .unwrap()
            .unwrap();
        assert_eq!((t.symbol.as_str(), t.size, t.price), ("MSFT", 300, 420.5));
        assert_eq!(t.ts, 1_704_205_800_000_000_000);
    }

    #[test]
    fn bad_rows_say_why() {
        let mut r = CsvReader::default();
        assert!(r.parse("a,b,c,d").unwrap_err().contains("header has no"));
        let mut r = CsvReader::default();
        r.parse("1,A,1.0,1").unwrap();
        assert!(
            r.parse("1,A,1.0")
                .unwrap_err()
                .contains("expected at least 4")
        );
        assert!(r.parse("x,A,1.0,1").unwrap_err().contains("bad timestamp"));
        assert!(r.parse("1,A.B,1.0,1").is_err());
        assert!(r.parse("1,A,-1,1").unwrap_err().contains("bad price"));
        assert!(r.parse("1,A,1,-1").unwrap_err().contains("bad size"));
    }

    #[test]
    fn penny_prices_keep_bid_below_ask() {
        let (bid, ask) = synthetic_quote(0.004);
        assert!(bid <= 0.004 && 0.004 < ask);
    }
}
