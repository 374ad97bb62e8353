//! The depth ladder of the selected symbol (`b`): asks above (the best, lowest, nearest the
//! middle), the spread, then bids (the best, highest, first). Each level shows its price,
//! its size with a bar scaled to the largest size shown, and the cumulative size from the
//! best level outward, bids on the left, asks on the right.

use ratatui::{
    Frame,
    layout::Rect,
    style::Style,
    text::{Line, Span},
    widgets::{Block, Borders},
};
use tickcast_client::OrderBook;

use super::format::{human_count, price};
use crate::dash::{app::App, theme::Theme};

/// Columns of the cumulative and the size of each side.
const CUM_W: usize = 7;
const SIZE_W: usize = 6;
/// Longest bar (the ladder may be wider when it takes the chart's place).
const MAX_BAR: usize = 24;

/// Rows for levels inside a ladder drawn in `area`: all but the borders, the header and
/// the spread line.
pub fn level_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(4))
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = app.theme;
    let symbol = app.selected.as_deref();
    let book = symbol.and_then(|s| app.view().books.get(s));
    let mut title = vec![Span::styled(
        format!(" {} book ", symbol.unwrap_or("Order")),
        theme.header(),
    )];
    if let Some(b) = book {
        title.push(Span::styled(format!("· depth {} ", b.depth()), theme.dim()));
    }
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let Some(book) = book else {
        let text = match symbol {
            Some(_) => "waiting for the book…",
            None => "no symbol selected",
        };
        let msg = Line::from(text).style(theme.dim()).centered();
        frame.render_widget(msg, Rect { height: 1, ..inner });
        return;
    };
    let per_side = level_rows(area) / 2;
    for (i, line) in lines(book, per_side, usize::from(inner.width), theme)
        .into_iter()
        .enumerate()
    {
        let Ok(dy) = u16::try_from(i) else { break };
        if dy >= inner.height {
            break;
        }
        let row = Rect {
            y: inner.y + dy,
            height: 1,
            ..inner
        };
        frame.render_widget(line, row);
    }
}

/// One side's levels as shown: `(price, size, cumulative size)`, best first.
fn with_cumulative(levels: &[(f64, u64)], n: usize) -> Vec<(f64, u64, u64)> {
    let mut cum = 0u64;
    levels
        .iter()
        .take(n)
        .map(|&(p, s)| {
            cum = cum.saturating_add(s);
            (p, s, cum)
        })
        .collect()
}

/// The ladder's lines: the header, `per_side` ask rows (padded at the top, so the spread
/// stays in the middle), the spread, then the bid rows.
fn lines(book: &OrderBook, per_side: usize, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let asks = with_cumulative(book.asks(), per_side);
    let bids = with_cumulative(book.bids(), per_side);
    let biggest = asks.iter().chain(&bids).map(|l| l.1).max().unwrap_or(0);
    let price_w = asks
        .iter()
        .chain(&bids)
        .map(|l| price(l.0).len())
        .max()
        .unwrap_or(6)
        .max(5)
        + 2;
    let fixed = 2 * (CUM_W + SIZE_W) + price_w + 6;
    let bar_w = (width.saturating_sub(fixed) / 2).min(MAX_BAR);
    let cols = Columns {
        price_w,
        bar_w,
        biggest,
    };

    let mut out = Vec::with_capacity(2 * per_side + 2);
    out.push(Line::from(Span::styled(
        format!(
            "{:>CUM_W$} {:>SIZE_W$} {:bar_w$} {:^price_w$} {:bar_w$} {:>SIZE_W$} {:>CUM_W$}",
            "Total", "Bid", "", "Price", "", "Ask", "Total"
        ),
        theme.header(),
    )));
    for _ in asks.len()..per_side {
        out.push(Line::from(""));
    }
    for &level in asks.iter().rev() {
        out.push(cols.ask_row(level, theme));
    }
    out.push(spread_line(book, width, theme));
    for &level in &bids {
        out.push(cols.bid_row(level, theme));
    }
    out
}

/// Column widths and the bar scale of one drawing.
struct Columns {
    price_w: usize,
    bar_w: usize,
    /// The largest size shown: a full bar.
    biggest: u64,
}

impl Columns {
    fn bar(&self, size: u64) -> String {
        if self.biggest == 0 || size == 0 {
            return String::new();
        }
        let cells = (size as f64 / self.biggest as f64 * self.bar_w as f64).round() as usize;
        "█".repeat(cells.clamp(1, self.bar_w.max(1)).min(self.bar_w))
    }

    fn bid_row(&self, (p, size, cum): (f64, u64, u64), theme: Theme) -> Line<'static> {
        let (price_w, bar_w) = (self.price_w, self.bar_w);
        Line::from(vec![
            Span::styled(format!("{:>CUM_W$} ", human_count(cum)), theme.dim()),
            Span::raw(format!("{:>SIZE_W$} ", human_count(size))),
            Span::styled(format!("{:>bar_w$} ", self.bar(size)), theme.up()),
            Span::styled(format!("{:^price_w$}", price(p)), theme.up()),
        ])
    }

    fn ask_row(&self, (p, size, cum): (f64, u64, u64), theme: Theme) -> Line<'static> {
        let (price_w, bar_w) = (self.price_w, self.bar_w);
        let pad = CUM_W + SIZE_W + bar_w + 3;
        Line::from(vec![
            Span::raw(" ".repeat(pad)),
            Span::styled(format!("{:^price_w$}", price(p)), theme.down()),
            Span::styled(format!(" {:<bar_w$}", self.bar(size)), theme.down()),
            Span::raw(format!(" {:>SIZE_W$}", human_count(size))),
            Span::styled(format!(" {:>CUM_W$}", human_count(cum)), theme.dim()),
        ])
    }
}

/// `──── spread 0.02 (2 ticks) ────`, centered on the ladder.
fn spread_line(book: &OrderBook, width: usize, theme: Theme) -> Line<'static> {
    let tick = book.tick_size();
    let text = match book.spread() {
        Some(spread) if tick > 0.0 && tick.is_finite() => {
            // As many decimals as the tick has, at least two.
            let decimals = ((-tick.log10()).ceil().clamp(0.0, 8.0) as usize).max(2);
            let ticks = (spread / tick).round();
            let unit = if ticks == 1.0 { "tick" } else { "ticks" };
            format!(" spread {spread:.decimals$} ({ticks:.0} {unit}) ")
        }
        Some(spread) => format!(" spread {spread} "),
        None => " one-sided book ".to_owned(),
    };
    let fill = width.saturating_sub(text.chars().count());
    let left = fill / 2;
    Line::from(vec![
        Span::styled("─".repeat(left), theme.dim()),
        Span::styled(text, Style::new()),
        Span::styled("─".repeat(fill - left), theme.dim()),
    ])
}
