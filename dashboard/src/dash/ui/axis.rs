//! The chart's axes: prices on the right (a marker at the last price), times along the
//! bottom at round steps that suit the time frame, each label distinct.

use ratatui::{buffer::Buffer, layout::Rect};

use super::format::price;
use crate::dash::{theme::Theme, timeframe::TimeFrame};

/// Maps prices to rows the way ratatui's braille canvas does, so labels line up.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub top: u16,
    pub height: u16,
    pub lo: f64,
    pub hi: f64,
}

impl Scale {
    pub fn row(self, p: f64) -> u16 {
        let dots = f64::from(self.height) * 4.0 - 1.0;
        let dot = ((self.hi - p) / (self.hi - self.lo) * dots).clamp(0.0, dots);
        self.top + (dot as u16) / 4
    }

    fn price_at(self, row: u16) -> f64 {
        let dots = f64::from(self.height) * 4.0 - 1.0;
        let dot = f64::from(row - self.top) * 4.0 + 1.5;
        self.hi - dot / dots * (self.hi - self.lo)
    }
}

pub fn draw_price_axis(buf: &mut Buffer, area: Rect, scale: Scale, last: f64, theme: Theme) {
    let marker_row = scale.row(last);
    let bottom = area.y + area.height - 1;
    let label_rows: Vec<u16> = match area.height {
        0 => return,
        1..=3 => vec![area.y],
        h => (0..=4).map(|k| area.y + k * (h - 1) / 4).collect(),
    };
    for y in area.y..=bottom {
        buf[(area.x, y)].set_symbol("│").set_style(theme.border());
    }
    for &y in &label_rows {
        if y.abs_diff(marker_row) <= 1 {
            continue;
        }
        buf[(area.x, y)].set_symbol("┤").set_style(theme.border());
        buf.set_string(area.x + 1, y, price(scale.price_at(y)), theme.dim());
    }
    buf[(area.x, marker_row)]
        .set_symbol("◀")
        .set_style(theme.marker());
    let text = format!("{:<w$}", price(last), w = usize::from(area.width - 1));
    buf.set_string(area.x + 1, marker_row, text, theme.marker());
}

const SECOND_NS: u64 = 1_000_000_000;
const DAY_S: u64 = 86_400;
/// Label steps, in seconds: round times at every scale from ticks to days.
const STEPS_S: [u64; 19] = [
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10_800,
    21_600,
    43_200,
    DAY_S,
    7 * DAY_S,
];
/// Columns kept free between two time labels.
const LABEL_GAP: u16 = 3;

/// A UNIX time (s) as `HH:MM:SS`, `HH:MM` or, for steps of days, `MM-DD` (UTC).
fn label(secs: u64, frame: TimeFrame, step_s: u64) -> String {
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if step_s >= DAY_S {
        let (_, month, day) = civil_date(secs / DAY_S);
        format!("{month:02}-{day:02}")
    } else if frame.shows_seconds() {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Time labels for items stamped `ts_ns` (ascending) drawn at `columns`, within
/// `x0..x0 + width`: one at each round step (chosen so labels have room) that an item
/// starts, centred on that item's column, never overlapping, no two neighbours alike.
pub fn time_labels(
    ts_ns: &[u64],
    columns: &[u16],
    x0: u16,
    width: u16,
    frame: TimeFrame,
) -> Vec<(u16, String)> {
    let (Some(&first), Some(&last)) = (ts_ns.first(), ts_ns.last()) else {
        return Vec::new();
    };
    let min_step_s = if frame.shows_seconds() { 1 } else { 60 };
    let label_w = label(first / SECOND_NS, frame, min_step_s).len() as u16;
    let room = usize::from((width / (label_w + LABEL_GAP + 2)).max(1));
    let span_s = (last - first) / SECOND_NS;
    let step_s = STEPS_S
        .into_iter()
        .filter(|&s| s >= min_step_s)
        .find(|&s| span_s / s < room as u64)
        .unwrap_or(STEPS_S[STEPS_S.len() - 1]);
    let step_ns = step_s * SECOND_NS;
    let mut out: Vec<(u16, String)> = Vec::new();
    let mut free_from = x0;
    let mut boundary = if span_s == 0 {
        first // one instant: label it
    } else {
        first.div_ceil(step_ns) * step_ns
    };
    while boundary <= last {
        let at = ts_ns.partition_point(|&t| t < boundary);
        let Some((&ts, &x)) = ts_ns.get(at).zip(columns.get(at)) else {
            break;
        };
        if ts >= boundary + step_ns {
            // A stretch without items: on to the step that holds the next one.
            boundary = ts / step_ns * step_ns;
            continue;
        }
        let text = label(boundary / SECOND_NS, frame, step_s);
        let w = text.len() as u16;
        let left = x.saturating_sub(w / 2).max(x0);
        let fits = left >= free_from && left + w <= x0 + width;
        if fits && out.last().is_none_or(|(_, prev)| *prev != text) {
            free_from = left + w + LABEL_GAP;
            out.push((left, text));
        }
        boundary += step_ns;
    }
    out
}

/// The time labels along `area` (one row), and `UTC` at its right end when there is room.
pub fn draw_time_axis(
    buf: &mut Buffer,
    area: Rect,
    ts_ns: &[u64],
    columns: &[u16],
    frame: TimeFrame,
    theme: Theme,
) {
    let labels = time_labels(ts_ns, columns, area.x, area.width, frame);
    for (x, text) in &labels {
        buf.set_string(*x, area.y, text, theme.dim());
    }
    let end = labels
        .last()
        .map_or(area.x, |(x, t)| x + t.len() as u16 + 1);
    let utc_x = (area.x + area.width).saturating_sub(3);
    if utc_x > end && area.width >= 3 {
        buf.set_string(utc_x, area.y, "UTC", theme.dim());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickcast_proto::BarInterval;

    const T0: u64 = 1_764_763_200 * SECOND_NS; // 2025-12-03 12:00:00 UTC

    fn texts(labels: &[(u16, String)]) -> Vec<&str> {
        labels.iter().map(|(_, t)| t.as_str()).collect()
    }

    /// `n` items `every_ns` apart from `start`, one per `cols` columns.
    fn spread(start: u64, every_ns: u64, n: u64, cols: u16) -> (Vec<u64>, Vec<u16>) {
        (
            (0..n).map(|i| start + i * every_ns).collect(),
            (0..n).map(|i| i as u16 * cols).collect(),
        )
    }

    fn assert_distinct_and_apart(labels: &[(u16, String)]) {
        for w in labels.windows(2) {
            assert_ne!(w[0].1, w[1].1, "{labels:?}");
            assert!(
                w[0].0 + w[0].1.len() as u16 + LABEL_GAP <= w[1].0,
                "{labels:?}"
            );
        }
    }

    #[test]
    fn minute_bars_get_round_minutes() {
        let frame = TimeFrame::Bars(BarInterval::M1);
        let (ts, cols) = spread(T0, 60 * SECOND_NS, 50, 2);
        let labels = time_labels(&ts, &cols, 0, 100, frame);
        assert!(labels.len() >= 4, "{labels:?}");
        assert_eq!(texts(&labels)[0], "12:00");
        assert!(
            texts(&labels)
                .iter()
                .all(|t| t.len() == 5 && (t.ends_with('0') || t.ends_with('5')))
        );
        assert_distinct_and_apart(&labels);
    }

    #[test]
    fn ticks_within_one_second_get_one_label_not_three() {
        let (ts, cols) = spread(T0 + 1000, 1_000_000, 200, 1);
        let labels = time_labels(&ts, &cols, 0, 100, TimeFrame::Ticks);
        assert_eq!(texts(&labels), ["12:00:00"]);
        let (ts, cols) = spread(T0 + 1, 0, 3, 10);
        assert_eq!(time_labels(&ts, &cols, 0, 100, TimeFrame::Ticks).len(), 1);
        assert!(time_labels(&[], &[], 0, 100, TimeFrame::Ticks).is_empty());
    }

    #[test]
    fn every_frame_gets_distinct_labels_in_its_format() {
        for (frame, every_s, n) in [
            (TimeFrame::Ticks, 1, 400),
            (TimeFrame::Bars(BarInterval::S1), 1, 100),
            (TimeFrame::Bars(BarInterval::M5), 300, 288),
            (TimeFrame::Bars(BarInterval::M15), 900, 96),
            (TimeFrame::Bars(BarInterval::H1), 3600, 24),
            (TimeFrame::Bars(BarInterval::H1), 3600, 24 * 9),
        ] {
            let (ts, cols) = spread(T0, every_s * SECOND_NS, n, 1);
            let labels = time_labels(&ts, &cols, 0, n as u16, frame);
            assert!(labels.len() >= 2, "{frame:?} {labels:?}");
            assert_distinct_and_apart(&labels);
            let len = if n > 24 * 3 && every_s == 3600 {
                5 // MM-DD
            } else if frame.shows_seconds() {
                8
            } else {
                5
            };
            assert!(texts(&labels).iter().all(|t| t.len() == len), "{labels:?}");
        }
        assert_eq!(civil_date(T0 / SECOND_NS / DAY_S), (2025, 12, 3));
    }
}
