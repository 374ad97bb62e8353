//! Drawing: a pure function of [`App`] onto a ratatui frame. Nothing here mutates state.

mod axis;
mod chart;
mod format;
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
    pub chart: Rect,
    pub status: Rect,
}

/// Side by side from this width on; stacked below it.
const SIDE_BY_SIDE_WIDTH: u16 = 160;
/// Watchlist width when side by side.
const WATCHLIST_WIDTH: u16 = 92;

pub fn layout(area: Rect, focus: bool) -> Areas {
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
        status,
    }
}

/// How many symbols fit in the watchlist at the current size.
pub fn watchlist_rows(app: &App) -> usize {
    let area = Rect::new(0, 0, app.size.0, app.size.1);
    layout(area, app.focus)
        .watchlist_rows
        .map_or(0, |r| usize::from(r.height))
}

pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let areas = layout(frame.area(), app.focus);
    if let Some(area) = areas.watchlist {
        watchlist::draw(frame, area, app);
    }
    chart::draw(frame, areas.chart, app);
    status::draw(frame, areas.status, app);
    overlay::draw(frame, app);
}

#[cfg(test)]
mod tests;
