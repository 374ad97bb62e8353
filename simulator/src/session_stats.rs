//! Trading-session statistics per symbol ([`SessionStats`]): open, high, low, last, previous
//! close, volume.

use tickcast_proto::MarketState;

/// One symbol's trading session so far. Before the first trade, `open`, `high`, `low`
/// and `last` equal `prev_close`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionStats {
    /// The instrument's starting price.
    pub prev_close: f64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub last: f64,
    /// Cumulative shares traded.
    pub volume: u64,
    /// Number of trades.
    pub trades: u64,
    pub state: MarketState,
}

impl SessionStats {
    pub(crate) fn new(prev_close: f64) -> Self {
        Self {
            prev_close,
            open: prev_close,
            high: prev_close,
            low: prev_close,
            last: prev_close,
            volume: 0,
            trades: 0,
            state: MarketState::Open,
        }
    }

    /// Records a trade; returns the new cumulative volume.
    #[inline]
    pub(crate) fn record(&mut self, price: f64, size: u64) -> u64 {
        if self.trades == 0 {
            self.open = price;
            self.high = price;
            self.low = price;
        } else {
            self.high = self.high.max(price);
            self.low = self.low.min(price);
        }
        self.last = price;
        self.trades += 1;
        self.volume += size;
        self.volume
    }
}
