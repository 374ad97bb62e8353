//! Pan and zoom: which part of a symbol's series the chart shows. Pure: items in, items
//! out; the chart decides how many fit.

use super::{model::Quote, timeframe::TimeFrame};

/// One plottable item: a tick (open = high = low = close) or a bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Item {
    pub ts_ns: u64,
    /// The item's place in its series, counted so that zoom buckets stay put as the series
    /// grows and is trimmed: a tick's seq, a bar's interval number (start / length).
    pub key: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: u64,
    /// Messages were lost between the previous item and this one.
    pub gap_before: bool,
}

/// The items of `quote` in time frame `frame`, oldest first.
pub fn series_items(quote: &Quote, frame: TimeFrame) -> Vec<Item> {
    match frame.interval() {
        None => quote
            .ticks
            .items
            .iter()
            .map(|p| Item {
                ts_ns: p.ts_ns,
                key: p.seq,
                open: p.price,
                high: p.price,
                low: p.price,
                close: p.price,
                volume: p.size,
                gap_before: p.gap_before,
            })
            .collect(),
        Some(interval) => quote
            .bars(interval)
            .items
            .iter()
            .map(|c| Item {
                ts_ns: c.ts_ns,
                key: c.ts_ns / interval.len_ns(),
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume,
                gap_before: c.gap_before,
            })
            .collect(),
    }
}

/// The most items merged into one plotted item: 2^MAX_ZOOM.
pub const MAX_ZOOM: u8 = 6;

/// How the chart looks at its series: how coarse, and where its right edge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChartView {
    /// Each plotted item merges up to 2^zoom items (OHLC and volume combined). 0: every
    /// item on its own.
    pub zoom: u8,
    /// Panned into the history: the newest item shown is the last one that starts at or
    /// before this time (UNIX ns). `None`: live, the right edge follows new data.
    pub end_ts_ns: Option<u64>,
}

impl ChartView {
    pub fn is_live(&self) -> bool {
        self.end_ts_ns.is_none()
    }

    /// Items merged by zoom bucket (`key >> zoom`), oldest first.
    pub fn zoomed(&self, items: &[Item]) -> Vec<Item> {
        if self.zoom == 0 {
            return items.to_vec();
        }
        let bucket = |i: &Item| i.key >> self.zoom;
        let mut out: Vec<Item> = Vec::with_capacity(items.len() >> self.zoom);
        for item in items {
            match out.last_mut() {
                Some(last) if last.key == bucket(item) => {
                    last.high = last.high.max(item.high);
                    last.low = last.low.min(item.low);
                    last.close = item.close;
                    last.volume += item.volume;
                    // A hole inside the group shows as a break before it: never hidden.
                    last.gap_before |= item.gap_before;
                }
                _ => out.push(Item {
                    key: bucket(item),
                    ..*item
                }),
            }
        }
        out
    }

    /// Index of the newest item shown (`items` not empty): the last one, when live; when
    /// panned, the last that starts at or before `end_ts_ns`, but never so far back that
    /// the window would not be full.
    fn end_index(&self, items: &[Item], capacity: usize) -> usize {
        let last = items.len() - 1;
        match self.end_ts_ns {
            None => last,
            Some(end) => {
                let at = items.partition_point(|i| i.ts_ns <= end).saturating_sub(1);
                at.max(capacity.min(items.len()).saturating_sub(1))
            }
        }
    }

    /// The items shown in `capacity` slots, oldest first.
    pub fn window<'a>(&self, items: &'a [Item], capacity: usize) -> &'a [Item] {
        if items.is_empty() || capacity == 0 {
            return &[];
        }
        let end = self.end_index(items, capacity);
        &items[(end + 1).saturating_sub(capacity)..=end]
    }

    /// Moves the right edge `by` items (negative: back in time) within `items` (zoomed).
    /// Reaching the newest item goes live again.
    pub fn pan(&mut self, items: &[Item], capacity: usize, by: isize) {
        if items.is_empty() {
            return;
        }
        let last = items.len() - 1;
        let end = self.end_index(items, capacity) as isize;
        let floor = capacity.min(items.len()).saturating_sub(1) as isize;
        let to = end.saturating_add(by).clamp(floor, last as isize) as usize;
        self.end_ts_ns = (to < last).then(|| items[to].ts_ns);
    }

    /// Shows more time: twice the items per plotted item.
    pub fn zoom_out(&mut self) {
        self.zoom = (self.zoom + 1).min(MAX_ZOOM);
    }

    /// Shows less time in more detail.
    pub fn zoom_in(&mut self) {
        self.zoom = self.zoom.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: u64, close: f64) -> Item {
        Item {
            ts_ns: key * 10,
            key,
            open: close - 0.5,
            high: close + 1.0,
            low: close - 1.0,
            close,
            volume: 1,
            gap_before: false,
        }
    }

    fn series(n: u64) -> Vec<Item> {
        (100..100 + n).map(|k| item(k, k as f64)).collect()
    }

    fn keys(items: &[Item]) -> Vec<u64> {
        items.iter().map(|i| i.key).collect()
    }

    #[test]
    fn live_shows_the_newest_items() {
        let items = series(50);
        let view = ChartView::default();
        assert_eq!(keys(view.window(&items, 4)), [146, 147, 148, 149]);
        assert_eq!(view.window(&items, 80).len(), 50);
        assert!(view.window(&[], 4).is_empty());
    }

    #[test]
    fn panning_moves_back_in_time_stays_full_and_returns_to_live() {
        let items = series(50);
        let mut view = ChartView::default();
        view.pan(&items, 10, -5);
        assert_eq!(view.end_ts_ns, Some(144 * 10));
        assert_eq!(keys(view.window(&items, 10)).last(), Some(&144));
        // New data does not move a panned view.
        let grown = series(60);
        assert_eq!(keys(view.window(&grown, 10)).last(), Some(&144));
        // Never past the oldest: the window stays full.
        view.pan(&items, 10, -1000);
        assert_eq!(
            keys(view.window(&items, 10)),
            (100..110).collect::<Vec<_>>()
        );
        view.pan(&items, 10, 3);
        assert_eq!(keys(view.window(&items, 10)).last(), Some(&112));
        view.pan(&items, 10, 1000);
        assert!(view.is_live());
        // Panning back with too little history to fill the chart stays live.
        let mut view = ChartView::default();
        view.pan(&series(5), 10, -2);
        assert!(view.is_live());
    }

    #[test]
    fn zooming_out_merges_aligned_buckets() {
        let mut items = series(8); // keys 100..108
        items[5].gap_before = true;
        items[5].volume = 10;
        let mut view = ChartView::default();
        view.zoom_out();
        view.zoom_out(); // 4 per bucket: 100..104, 104..108
        let z = view.zoomed(&items);
        assert_eq!(keys(&z), [25, 26]);
        assert_eq!(z[1].ts_ns, 1040);
        assert_eq!((z[1].open, z[1].close), (103.5, 107.0));
        assert_eq!((z[1].low, z[1].high), (103.0, 108.0));
        assert_eq!(z[1].volume, 13);
        assert!(z[1].gap_before && !z[0].gap_before);
        for _ in 0..20 {
            view.zoom_out();
        }
        assert_eq!(view.zoom, MAX_ZOOM);
        for _ in 0..20 {
            view.zoom_in();
        }
        assert_eq!(view.zoomed(&items), items);
    }
}
