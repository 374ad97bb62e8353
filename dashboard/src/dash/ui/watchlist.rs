//! The watchlist table: one row per symbol, scrolled so the selection stays visible.

use ratatui::{
    Frame,
    layout::{Constraint, Rect},
    style::{Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Borders, Cell, Row, Table},
};
use tickcast_proto::MarketState;

use super::format::{human_count, price, sparkline};
use crate::dash::{app::App, model::Quote};

/// Bid and ask columns are dropped below this inner width.
const FULL_WIDTH: u16 = 76;

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = app.theme;
    let market = app.view();
    let title = Line::from(vec![
        Span::styled(" Watchlist ", theme.header()),
        Span::styled(
            format!(
                "{} symbols · sort {} ",
                market.quotes.len(),
                app.sort.label()
            ),
            theme.dim(),
        ),
    ]);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(title);
    let full = area.width.saturating_sub(2) >= FULL_WIDTH;

    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    let mut header = vec!["", "Symbol", "Last", "Chg", "Chg%"];
    if full {
        widths.extend([Constraint::Length(9), Constraint::Length(9)]);
        header.extend(["Bid", "Ask"]);
    }
    widths.extend([Constraint::Length(8), Constraint::Min(4)]);
    header.extend(["Volume", "Trend"]);
    let spark_width = spark_width(area.width.saturating_sub(2), &widths);

    let rows_visible = usize::from(area.height.saturating_sub(3));
    let rows = app
        .order
        .iter()
        .skip(app.offset)
        .take(rows_visible)
        .filter_map(|sym| market.quotes.get(sym))
        .map(|q| row(app, q, full, spark_width));
    let header = Row::new(header.into_iter().map(|h| {
        let cell = Cell::from(h).style(theme.header());
        if matches!(h, "Symbol" | "Trend" | "") {
            cell
        } else {
            Cell::from(Line::from(h).right_aligned()).style(theme.header())
        }
    }));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .block(block);
    frame.render_widget(table, area);
    if market.quotes.is_empty() {
        let msg = Line::from("waiting for data…")
            .style(theme.dim())
            .centered();
        let inner = Rect::new(area.x + 1, area.y + 2, area.width.saturating_sub(2), 1);
        if area.height > 3 {
            frame.render_widget(msg, inner);
        }
    }
}

fn spark_width(inner: u16, widths: &[Constraint]) -> usize {
    let fixed: u16 = widths
        .iter()
        .map(|c| match c {
            Constraint::Length(n) => *n + 1,
            _ => 0,
        })
        .sum();
    usize::from(inner.saturating_sub(fixed).clamp(4, 40))
}

fn row<'a>(app: &App, q: &'a Quote, full: bool, spark_width: usize) -> Row<'a> {
    let theme = app.theme;
    let now = app.now_ns;
    let stale = q.is_stale(now);
    let alert_fired = q.alert.is_some_and(|a| a.fired_at_ns.is_some());
    let (mark, mark_style) = if alert_fired {
        ("!", theme.alert())
    } else if q.state == MarketState::Halted {
        ("H", theme.warn())
    } else if q.state == MarketState::Closed {
        ("C", theme.dim())
    } else if stale {
        ("~", theme.dim())
    } else if q.alert.is_some() {
        ("•", theme.warn())
    } else {
        (" ", Style::new())
    };
    let change = q.change();
    let dir_style = theme.direction(change.and_then(|c| {
        if c > 0.0 {
            Some(crate::dash::model::Direction::Up)
        } else if c < 0.0 {
            Some(crate::dash::model::Direction::Down)
        } else {
            None
        }
    }));
    let last_style = match q.flashing(now) {
        Some(d) => theme.flash(d),
        None => Style::new(),
    };
    let right = |text: String| Cell::from(Line::from(text).right_aligned());
    let mut cells = vec![
        Cell::from(mark).style(mark_style),
        Cell::from(q.symbol.as_str()).style(if stale {
            theme.dim()
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }),
        right(if q.last > 0.0 {
            price(q.last)
        } else {
            "—".into()
        })
        .style(last_style),
        right(change.map_or("—".into(), |c| format!("{c:+.2}"))).style(dir_style),
        right(q.change_pct().map_or("—".into(), |c| format!("{c:+.2}%"))).style(dir_style),
    ];
    if full {
        cells.push(right(price(q.bid)));
        cells.push(right(price(q.ask)));
    }
    cells.push(right(human_count(q.volume)));
    let trend = sparkline(q.ticks.items.iter().map(|p| p.price), spark_width);
    let trend_style = match (q.ticks.items.front(), q.ticks.items.back()) {
        (Some(a), Some(b)) if b.price > a.price => theme.up(),
        (Some(a), Some(b)) if b.price < a.price => theme.down(),
        _ => Style::new(),
    };
    cells.push(Cell::from(trend).style(trend_style));
    let mut row = Row::new(cells);
    if app.selected.as_deref() == Some(q.symbol.as_str()) {
        row = row.style(theme.selected());
    } else if stale {
        row = row.style(theme.dim());
    }
    row
}
