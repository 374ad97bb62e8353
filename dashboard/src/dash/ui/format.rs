//! Number and time formatting shared by the views.

/// A price with two decimals (four below 1.00).
pub fn price(p: f64) -> String {
    if p.abs() < 1.0 && p != 0.0 {
        format!("{p:.4}")
    } else {
        format!("{p:.2}")
    }
}

/// 950, 12.3K, 4.56M, 7.89B.
pub fn human_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}K", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2}M", n as f64 / 1e6),
        _ => format!("{:.2}B", n as f64 / 1e9),
    }
}

/// `HH:MM:SS` (UTC) of a UNIX timestamp in ns.
pub fn clock_utc(ts_ns: u64) -> String {
    let secs = ts_ns / 1_000_000_000 % 86_400;
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A duration in ns as `0.42ms` / `12ms` / `1.3s`.
pub fn latency(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ms < 10.0 {
        format!("{ms:.2}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.1}s", ms / 1000.0)
    }
}

/// Prices as a one-line block sparkline, `width` glyphs wide at most (newest last).
pub fn sparkline(prices: impl DoubleEndedIterator<Item = f64> + Clone, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut recent: Vec<f64> = prices.rev().take(width).collect();
    recent.reverse();
    let (lo, hi) = recent
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &p| {
            (lo.min(p), hi.max(p))
        });
    recent
        .iter()
        .map(|&p| {
            if hi > lo {
                BARS[(((p - lo) / (hi - lo)) * 7.0).round() as usize]
            } else {
                BARS[3]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(price(187.234), "187.23");
        assert_eq!(price(0.12345), "0.1235");
        assert_eq!(human_count(999), "999");
        assert_eq!(human_count(12_345), "12.3K");
        assert_eq!(human_count(4_560_000), "4.56M");
        assert_eq!(clock_utc(3_723_000_000_000), "01:02:03");
        assert_eq!(latency(420_000), "0.42ms");
        assert_eq!(latency(1_300_000_000), "1.3s");
    }

    #[test]
    fn sparkline_scales_to_the_range() {
        let s = sparkline([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0].into_iter(), 8);
        assert_eq!(s, "▁▂▃▄▅▆▇█");
        assert_eq!(sparkline([5.0, 5.0].into_iter(), 8), "▄▄");
        assert_eq!(sparkline([1.0, 2.0, 3.0].into_iter(), 2), "▁█");
    }
}
