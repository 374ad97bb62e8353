//! Drawing: a pure function of [`App`] onto a ratatui frame. Nothing here mutates state.

mod axis;
mod chart;
mod format;
mod ladder;
mod overlay;
mod status;
mod watchlist;

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
};

use super::app::App;

pub use chart::capacity as chart_capacity;
pub use format::{clock_utc, human_count, price};

/// Where each part of the screen goes; shared with mouse hit-testing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub watchlist: Option<Rect>,
    /// The watchlist's data rows (inside the border, below the header).
    pub watchlist_rows: Option<Rect>,
    /// Empty when the ladder takes the chart's place (too narrow for both).
    pub chart: Rect,
    /// The depth ladder (`b`), right of the chart.
    pub ladder: Option<Rect>,
    pub status: Rect,
}

/// Side by side from this width on; stacked below it.
const SIDE_BY_SIDE_WIDTH: u16 = 160;
/// Watchlist width when side by side.
const WATCHLIST_WIDTH: u16 = 92;
/// Width of the depth ladder beside the chart.
const LADDER_WIDTH: u16 = 56;
/// The chart keeps at least this width beside the ladder; with less, the ladder takes its
/// place.
const CHART_MIN_WIDTH: u16 = 40;

/// Where everything goes at this size, in focus mode (`Enter`) or not, with the ladder
/// (`b`) or not.
pub fn layout(area: Rect, focus: bool, ladder: bool) -> Areas {
    let [body, status] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let (watchlist, chart) = if focus || body.height < 10 {
        (None, body)
    } else if body.width >= SIDE_BY_SIDE_WIDTH {
        let [w, c] = Layout::horizontal([Constraint::Length(WATCHLIST_WIDTH), Constraint::Min(0)])
            .areas(body);
        (Some(w), c)
    } else {
        let list_h = (body.height * 2 / 5).max(6);
        let [w, c] = Layout::vertical([Constraint::Length(list_h), Constraint::Min(0)]).areas(body);
        (Some(w), c)
    };
    let (chart, ladder) = if !ladder {
        (chart, None)
    } else if chart.width >= LADDER_WIDTH + CHART_MIN_WIDTH {
        let [c, l] =
            Layout::horizontal([Constraint::Min(0), Constraint::Length(LADDER_WIDTH)]).areas(chart);
        (c, Some(l))
    } else {
        (Rect { width: 0, ..chart }, Some(chart))
    };
    let watchlist_rows = watchlist.map(|w| {
        Rect::new(
            w.x + 1,
            w.y + 2,
            w.width.saturating_sub(2),
            w.height.saturating_sub(3),
        )
    });
    Areas {
        watchlist,
        watchlist_rows,
        chart,
        ladder,
        status,
    }
}

/// The layout of `app` at its terminal size.
pub fn areas(app: &App) -> Areas {
    layout(
        Rect::new(0, 0, app.size.0, app.size.1),
        app.focus,
        app.ladder,
    )
}

/// How many symbols fit in the watchlist at the current size.
pub fn watchlist_rows(app: &App) -> usize {
    areas(app)
        .watchlist_rows
        .map_or(0, |r| usize::from(r.height))
}

/// How many level rows (asks and bids together) the ladder has at the current size.
pub fn ladder_rows(app: &App) -> usize {
    areas(app).ladder.map_or(0, ladder::level_rows)
}

pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let areas = layout(frame.area(), app.focus, app.ladder);
    if let Some(area) = areas.watchlist {
        watchlist::draw(frame, area, app);
    }
    if !areas.chart.is_empty() {
        chart::draw(frame, areas.chart, app);
    }
    if let Some(area) = areas.ladder {
        ladder::draw(frame, area, app);
    }
    status::draw(frame, areas.status, app);
    overlay::draw(frame, app);
}

#[cfg(test)]
mod tests;
