//! OHLCV aggregation of one symbol's trades into bars of every [`BarInterval`] (pure: the
//! caller passes the time). Whoever stamps ticks (a server, or `tickcast-sim --nats`)
//! builds the bars, so every node publishes identical ones.

use crate::BarInterval;

/// A bar being built; `start_ns` is the interval start on the UNIX clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarAcc {
    pub start_ns: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
    pub trades: u64,
}

impl BarAcc {
    /// The wire `bar` for this bar of `interval` of `symbol`, as message `seq` of its
    /// topic in `epoch`.
    pub fn to_bar(&self, interval: BarInterval, symbol: &str, epoch: u64, seq: u64) -> crate::Bar {
        crate::Bar {
            topic: interval.topic(symbol),
            seq,
            epoch,
            recovered: None,
            ts: self.start_ns,
            interval_ms: interval.len_ms(),
            symbol: symbol.to_owned(),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume: self.volume,
            trades: self.trades,
        }
    }
}

/// A bar that just closed: its interval and its values.
pub type Closed = (BarInterval, BarAcc);

/// The open bars of one symbol, one per interval.
#[derive(Debug, Default)]
pub struct Bars {
    open: [Option<BarAcc>; BarInterval::ALL.len()],
}

impl Bars {
    /// Adds a trade; bars of an earlier interval are closed into `out` first.
    pub fn on_trade(&mut self, ts_ns: u64, price: f64, size: u64, out: &mut Vec<Closed>) {
        for interval in BarInterval::ALL {
            let len_ns = interval.len_ns();
            let start_ns = ts_ns - ts_ns % len_ns;
            match &mut self.open[interval.index()] {
                Some(bar) if bar.start_ns == start_ns => {
                    bar.high = bar.high.max(price);
                    bar.low = bar.low.min(price);
                    bar.close = price;
                    bar.volume += size;
                    bar.trades += 1;
                }
                slot => {
                    if let Some(done) = slot.take() {
                        out.push((interval, done));
                    }
                    *slot = Some(BarAcc {
                        start_ns,
                        open: price,
                        high: price,
                        low: price,
                        close: price,
                        volume: size,
                        trades: 1,
                    });
                }
            }
        }
    }

    /// Closes every bar whose interval ended at or before `now_ns`.
    pub fn close_due(&mut self, now_ns: u64, out: &mut Vec<Closed>) {
        for interval in BarInterval::ALL {
            let slot = &mut self.open[interval.index()];
            if slot
                .as_ref()
                .is_some_and(|b| b.start_ns + interval.len_ns() <= now_ns)
            {
                if let Some(done) = slot.take() {
                    out.push((interval, done));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn aggregates_ohlcv_and_closes_on_interval_change() {
        let mut bars = Bars::default();
        let mut out = Vec::new();
        let t0 = 1_700_000_040 * S; // on a minute boundary
        bars.on_trade(t0, 10.0, 100, &mut out);
        bars.on_trade(t0 + S / 2, 12.0, 50, &mut out);
        bars.on_trade(t0 + S / 3, 9.0, 10, &mut out);
        assert!(out.is_empty());
        bars.on_trade(t0 + S + 1, 11.0, 5, &mut out);
        assert_eq!(out.len(), 1);
        let (interval, b) = out[0];
        assert_eq!(interval, BarInterval::S1);
        assert_eq!(
            (b.start_ns, b.open, b.high, b.low, b.close),
            (t0, 10.0, 12.0, 9.0, 9.0)
        );
        assert_eq!((b.volume, b.trades), (160, 3));
    }

    #[test]
    fn closes_due_bars_without_new_trades() {
        let mut bars = Bars::default();
        let mut out = Vec::new();
        // On a minute boundary, 2 minutes into a 5-minute bar.
        let t0 = 1_700_000_160 * S;
        bars.on_trade(t0 + 10, 10.0, 1, &mut out);
        bars.close_due(t0 + S - 1, &mut out);
        assert!(out.is_empty());
        bars.close_due(t0 + S, &mut out);
        assert_eq!(
            out.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![BarInterval::S1]
        );
        bars.close_due(t0 + 60 * S, &mut out);
        assert_eq!(
            out.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![BarInterval::S1, BarInterval::M1]
        );
        // The hour: every interval has closed.
        bars.close_due(t0 + 3_600 * S, &mut out);
        assert_eq!(
            out.iter().map(|c| c.0).collect::<Vec<_>>(),
            [BarInterval::S1, BarInterval::M1]
                .into_iter()
                .chain(BarInterval::ALL[2..].iter().copied())
                .collect::<Vec<_>>()
        );
        assert!(out.iter().all(|(_, b)| b.open == 10.0 && b.trades == 1));
    }
}
