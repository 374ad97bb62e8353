//! The chart of the selected symbol: a line (ticks or bar closes) or candlesticks, volume
//! bars under it, a time axis, and a price axis on the right with a marker at the last
//! price (axes in `axis`). A gap in the data is drawn as a dotted column, never bridged by
//! the line. It shows the window of the series that pan and zoom select
//! ([`crate::dash::window`]).

use ratatui::{
    Frame,
    buffer::Buffer,
    layout::Rect,
    style::{Color, Style},
    symbols::Marker,
    text::{Line, Span},
    widgets::{
        Block, Borders,
        canvas::{Canvas, Line as CanvasLine, Points},
    },
};

use super::{
    axis::{Scale, draw_price_axis, draw_time_axis},
    format::{human_count, price},
};
use crate::dash::{
    app::{App, ChartKind},
    model::Quote,
    theme::Theme,
    timeframe::TimeFrame,
    window::{Item, series_items},
};

/// The chart kind actually drawn: candles need bars.
fn kind_of(app: &App) -> ChartKind {
    match (app.chart, app.frame) {
        (ChartKind::Candles, TimeFrame::Bars(_)) => ChartKind::Candles,
        _ => ChartKind::Line,
    }
}

/// Width of the price axis for these items.
fn axis_width(items: &[Item]) -> u16 {
    let last_close = items.last().map_or(0.0, |i| i.close);
    let label_w = items
        .iter()
        .map(|i| price(i.high).len())
        .max()
        .unwrap_or(6)
        .max(price(last_close).len()) as u16;
    label_w + 2
}

/// How many items fit `width` columns: two ticks per column (braille), or a candle every
/// other column.
fn slots(kind: ChartKind, width: u16) -> usize {
    match kind {
        ChartKind::Line => usize::from(width) * 2,
        ChartKind::Candles => usize::from(width.div_ceil(2)),
    }
}

/// How many (zoomed) items the chart shows at the current size: what panning steps by.
pub fn capacity(app: &App) -> usize {
    let area = super::areas(app).chart;
    let items = app.selected_quote().map_or_else(Vec::new, |q| {
        app.chart_view.zoomed(&series_items(q, app.frame))
    });
    let width = area.width.saturating_sub(2 + axis_width(&items));
    slots(kind_of(app), width).max(1)
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = app.theme;
    let quote = app.selected_quote();
    let kind = kind_of(app);
    let kind_label = match kind {
        ChartKind::Line => "line",
        ChartKind::Candles => "candles",
    };
    let mut title = vec![Span::styled(
        format!(" {} ", quote.map_or("Chart", |q| q.symbol.as_str())),
        theme.header(),
    )];
    title.push(Span::styled(
        format!("{kind_label} · {} ", app.frame.label()),
        theme.dim(),
    ));
    let view = app.chart_view;
    if view.zoom > 0 {
        title.push(Span::styled(
            format!("· zoom 1:{} ", 1u32 << view.zoom),
            theme.dim(),
        ));
    }
    if !view.is_live() {
        title.push(Span::styled("· history (0: live) ", theme.warn()));
    }
    let mut block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border())
        .title(Line::from(title));
    if let Some(q) = quote.filter(|q| q.gaps > 0) {
        block = block.title(
            Line::from(Span::styled(
                format!(" {} gap{} ", q.gaps, if q.gaps == 1 { "" } else { "s" }),
                theme.gap(),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(q) = quote else {
        if inner.height > 0 {
            let msg = Line::from("no symbol selected")
                .style(theme.dim())
                .centered();
            frame.render_widget(msg, Rect { height: 1, ..inner });
        }
        return;
    };
    if inner.height < 2 || inner.width < 20 {
        return;
    }
    let header = Rect { height: 1, ..inner };
    frame.render_widget(quote_line(q, theme), header);
    let body = Rect {
        y: inner.y + 1,
        height: inner.height - 1,
        ..inner
    };
    let items = view.zoomed(&series_items(q, app.frame));
    if items.is_empty() {
        let msg = Line::from(match app.frame {
            TimeFrame::Ticks => "waiting for ticks…",
            TimeFrame::Bars(_) => {
                "waiting for bars (history, then each bar as its interval closes)…"
            }
        })
        .style(theme.dim())
        .centered();
        frame.render_widget(msg, Rect { height: 1, ..body });
        return;
    }
    plot(frame, body, &items, app, kind);
}

fn quote_line(q: &Quote, theme: Theme) -> Line<'static> {
    let change = q.change().unwrap_or(0.0);
    let (arrow, style) = if change > 0.0 {
        ("▲", theme.up())
    } else if change < 0.0 {
        ("▼", theme.down())
    } else {
        ("=", Style::new())
    };
    let mut spans = vec![
        Span::styled(price(q.last), theme.header()),
        Span::styled(
            format!(
                " {arrow} {change:+.2} ({:+.2}%)",
                q.change_pct().unwrap_or(0.0)
            ),
            style,
        ),
        Span::styled(
            format!(
                "  bid {}  ask {}  vol {}",
                price(q.bid),
                price(q.ask),
                human_count(q.volume)
            ),
            theme.dim(),
        ),
    ];
    if let Some(a) = q.alert {
        let text = format!(
            "  alert {} {}",
            if a.above { "≥" } else { "≤" },
            price(a.target)
        );
        let style = if a.fired_at_ns.is_some() {
            theme.alert()
        } else {
            theme.warn()
        };
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

/// Plots the window of `all` (zoomed items) that the chart view selects.
fn plot(frame: &mut Frame<'_>, area: Rect, all: &[Item], app: &App, kind: ChartKind) {
    let theme = app.theme;
    let axis_w = axis_width(all);
    if area.width <= axis_w + 4 || area.height < 3 {
        return;
    }
    let width = area.width - axis_w;
    let volume_h = match area.height {
        0..7 => 0,
        7..12 => 1,
        h => (h / 5).min(6),
    };
    let plot_h = area.height - 1 - volume_h;
    let plot_area = Rect::new(area.x, area.y, width, plot_h);
    let volume_area = Rect::new(area.x, area.y + plot_h, width, volume_h);
    let time_row = area.y + area.height - 1;

    let items = app.chart_view.window(all, slots(kind, width));
    let last_close = items.last().map_or(0.0, |i| i.close);
    let (mut lo, mut hi) = items
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), i| {
            (lo.min(i.low), hi.max(i.high))
        });
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.0005).max(0.005);
    lo -= pad;
    hi += pad;
    let scale = Scale {
        top: plot_area.y,
        height: plot_h,
        lo,
        hi,
    };
    let trend_up = items.last().map(|i| i.close) >= items.first().map(|i| i.open);
    let line_color = match (theme.color, trend_up) {
        (false, _) => Color::Reset,
        (true, true) => Color::Green,
        (true, false) => Color::Red,
    };

    // Column of each item, used by the volume bars and the gap markers.
    let n = items.len();
    let columns: Vec<u16> = (0..n)
        .map(|i| match kind {
            ChartKind::Line => {
                let dots = usize::from(width) * 2 - 1;
                let x = if n > 1 { i * dots / (n - 1) } else { dots };
                plot_area.x + (x / 2) as u16
            }
            ChartKind::Candles => plot_area.x + width - 1 - ((n - 1 - i) * 2) as u16,
        })
        .collect();

    match kind {
        ChartKind::Line => {
            let canvas = Canvas::default()
                .marker(Marker::Braille)
                .x_bounds([0.0, (n.max(2) - 1) as f64])
                .y_bounds([lo, hi])
                .paint(|ctx| {
                    if n == 1 {
                        let coords = [((n.max(2) - 1) as f64, items[0].close)];
                        ctx.draw(&Points {
                            coords: &coords,
                            color: line_color,
                        });
                    }
                    for (i, pair) in items.windows(2).enumerate() {
                        if pair[1].gap_before {
                            continue;
                        }
                        ctx.draw(&CanvasLine {
                            x1: i as f64,
                            y1: pair[0].close,
                            x2: (i + 1) as f64,
                            y2: pair[1].close,
                            color: line_color,
                        });
                    }
                });
            frame.render_widget(canvas, plot_area);
        }
        ChartKind::Candles => {
            let buf = frame.buffer_mut();
            for (item, &x) in items.iter().zip(&columns) {
                draw_candle(buf, x, scale, item, theme);
            }
        }
    }

    let buf = frame.buffer_mut();
    for (item, &x) in items.iter().zip(&columns) {
        if item.gap_before {
            let x = match kind {
                ChartKind::Candles => x.saturating_sub(1).max(plot_area.x),
                ChartKind::Line => x,
            };
            for y in plot_area.y..plot_area.y + plot_h {
                let cell = &mut buf[(x, y)];
                if matches!(cell.symbol(), " " | "⠀") {
                    cell.set_symbol("┆").set_style(theme.gap());
                }
            }
        }
    }
    draw_volume(buf, volume_area, items, &columns, theme);
    draw_price_axis(
        buf,
        Rect::new(area.x + width, area.y, axis_w, plot_h),
        scale,
        last_close,
        theme,
    );
    let stamps: Vec<u64> = items.iter().map(|i| i.ts_ns).collect();
    draw_time_axis(
        buf,
        Rect::new(area.x, time_row, width, 1),
        &stamps,
        &columns,
        app.frame,
        theme,
    );
}

fn draw_candle(buf: &mut Buffer, x: u16, scale: Scale, item: &Item, theme: Theme) {
    let up = item.close >= item.open;
    let style = if up { theme.up() } else { theme.down() };
    let (body_top, body_bottom) = (
        scale.row(item.open.max(item.close)),
        scale.row(item.open.min(item.close)),
    );
    for y in scale.row(item.high)..=scale.row(item.low) {
        let symbol = if (body_top..=body_bottom).contains(&y) {
            if (item.open - item.close).abs() < f64::EPSILON {
                "─"
            } else {
                theme.candle_body(up)
            }
        } else {
            "│"
        };
        buf[(x, y)].set_symbol(symbol).set_style(style);
    }
}

fn draw_volume(buf: &mut Buffer, area: Rect, items: &[Item], columns: &[u16], theme: Theme) {
    const EIGHTHS: [&str; 9] = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];
    if area.height == 0 {
        return;
    }
    let mut per_column = vec![(0u64, true); usize::from(area.width)];
    for (item, &x) in items.iter().zip(columns) {
        let slot = &mut per_column[usize::from(x - area.x)];
        slot.0 += item.volume;
        slot.1 = item.close >= item.open;
    }
    let max = per_column.iter().map(|c| c.0).max().unwrap_or(0).max(1);
    let total_eighths = u64::from(area.height) * 8;
    for (dx, &(volume, up)) in per_column.iter().enumerate() {
        if volume == 0 {
            continue;
        }
        let mut eighths = (volume * total_eighths).div_ceil(max);
        let style = if items.len() > usize::from(area.width) {
            theme.dim()
        } else if up {
            theme.up()
        } else {
            theme.down()
        };
        for dy in (0..area.height).rev() {
            let part = eighths.min(8);
            eighths -= part;
            buf[(area.x + dx as u16, area.y + dy)]
                .set_symbol(EIGHTHS[part as usize])
                .set_style(style);
            if eighths == 0 {
                break;
            }
        }
    }
    let label = format!("vol {}", human_count(max));
    buf.set_string(area.x, area.y, label, theme.dim());
}
