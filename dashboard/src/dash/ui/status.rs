//! The status bar: connection state, server, rates, latency, gaps, lagged.

use ratatui::{
    Frame,
    layout::Rect,
    text::{Line, Span},
};

use super::format::latency;
use crate::dash::app::{App, Conn};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let theme = app.theme;
    let (state, style) = match &app.conn {
        Conn::Live if app.is_stale() => ("◐ STALE".to_owned(), theme.warn()),
        Conn::Live => ("● LIVE".to_owned(), theme.ok()),
        Conn::Connecting { attempt: 1 } => ("◌ CONNECTING".to_owned(), theme.warn()),
        Conn::Connecting { attempt } => (format!("◌ CONNECTING (try {attempt})"), theme.warn()),
        Conn::Reconnecting { at_ns, .. } => {
            let secs = at_ns.saturating_sub(app.now_ns).div_ceil(1_000_000_000);
            (format!("↻ RECONNECTING in {secs}s"), theme.warn())
        }
        Conn::Stopped { .. } => ("✕ STOPPED".to_owned(), theme.error()),
    };
    let sep = || Span::styled(" │ ", theme.dim());
    let mut spans = vec![Span::styled(format!(" {state} "), style)];
    if app.frozen.is_some() {
        spans.push(Span::styled(" PAUSED ", theme.alert()));
    }
    spans.push(sep());
    let addr = app.addr.map_or_else(|| app.url.clone(), |a| a.to_string());
    spans.push(Span::raw(addr));
    spans.push(sep());
    spans.push(Span::raw(format!(
        "{:.0} msg/s",
        app.stats.rate.per_second()
    )));
    spans.push(sep());
    let lat = match (app.stats.latency.p50_ns(), app.stats.latency.p99_ns()) {
        (Some(p50), Some(p99)) => format!("p50 {} p99 {}", latency(p50), latency(p99)),
        _ => "p50 — p99 —".to_owned(),
    };
    spans.push(Span::raw(lat));
    spans.push(sep());
    let gaps_style = if app.stats.gaps > 0 {
        theme.gap()
    } else {
        theme.dim()
    };
    spans.push(Span::styled(format!("gaps {}", app.stats.gaps), gaps_style));
    spans.push(sep());
    let lagged_style = if app.stats.lagged > 0 {
        theme.warn()
    } else {
        theme.dim()
    };
    spans.push(Span::styled(
        format!("lagged {}", app.stats.lagged),
        lagged_style,
    ));
    let tail = match (&app.notice, &app.conn) {
        (Some((text, _)), _) => Span::styled(text.clone(), theme.warn()),
        (None, Conn::Reconnecting { reason, .. } | Conn::Stopped { reason }) => {
            Span::styled(reason.clone(), theme.error())
        }
        _ => Span::styled("? help  q quit", theme.dim()),
    };
    spans.push(sep());
    spans.push(tail);
    frame.render_widget(Line::from(spans).style(theme.status_bar()), area);
}
