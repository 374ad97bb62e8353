//! Rendering tests: the main views on ratatui's `TestBackend`, as insta snapshots
//! (accepted files live in `snapshots/`; a mismatch fails the test).

use ratatui::{Terminal, backend::TestBackend, style::Color};
use tickcast_client::ClientEvent;
use tickcast_proto::{BarInterval, ServerMessage};

use crate::dash::{
    App,
    app::{ChartKind, Conn, Mode, SortKey},
    fixture,
    theme::Theme,
    timeframe::TimeFrame,
};

fn render(app: &mut App) -> Terminal<TestBackend> {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test backend");
    app.prepare();
    terminal
        .draw(|frame| super::draw(frame, app))
        .expect("draw");
    terminal
}

fn snapshot(name: &str, app: &mut App) {
    let terminal = render(app);
    insta::assert_snapshot!(name, terminal.backend());
}

#[test]
fn main_view_small() {
    snapshot("main_80x24", &mut fixture::app(Theme::COLOR, (80, 24)));
}

#[test]
fn main_view_large_side_by_side() {
    snapshot("main_180x44", &mut fixture::app(Theme::COLOR, (180, 44)));
}

#[test]
fn candles_of_one_second_bars() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    app.chart = ChartKind::Candles;
    app.frame = TimeFrame::Bars(BarInterval::S1);
    snapshot("candles_100x30", &mut app);
}

#[test]
fn focused_chart_shows_the_gap() {
    let mut app = fixture::app(Theme::COLOR, (120, 30));
    app.focus = true;
    app.sort = SortKey::Volume;
    snapshot("focus_gap_120x30", &mut app);
}

#[test]
fn help_overlay() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    app.mode = Mode::Help;
    snapshot("help_100x30", &mut app);
}

#[test]
fn prompts_and_pattern_picker() {
    let mut app = fixture::app(Theme::COLOR, (80, 24));
    app.mode = Mode::AddPattern("bars.1m.AA".into());
    snapshot("prompt_add_80x24", &mut app);
    app.mode = Mode::DropPattern(1);
    snapshot("drop_pattern_80x24", &mut app);
}

#[test]
fn reconnecting_and_paused_status() {
    let mut app = fixture::app(Theme::COLOR, (100, 24));
    app.frozen = Some(app.market.clone());
    app.conn = Conn::Reconnecting {
        at_ns: app.now_ns + 3_000_000_000,
        reason: "connection reset by peer".into(),
    };
    snapshot("reconnecting_100x24", &mut app);
}

#[test]
fn waiting_for_data() {
    let mut app = App::new("ws://127.0.0.1:9/ws", vec!["ticks.*".into()], Theme::COLOR);
    app.size = (80, 24);
    snapshot("empty_80x24", &mut app);
}

#[test]
fn tiny_terminals_do_not_panic() {
    for (w, h) in [(1, 1), (10, 3), (20, 5), (40, 10), (79, 11)] {
        let mut app = fixture::app(Theme::COLOR, (w, h));
        render(&mut app);
        app.focus = true;
        app.chart = ChartKind::Candles;
        app.frame = TimeFrame::Bars(BarInterval::S1);
        render(&mut app);
        with_book(&mut app, 25);
        render(&mut app);
        app.focus = false;
        render(&mut app);
    }
}

/// The ladder shown, with the fixture book of AAPL (the selection) at `depth`.
fn with_book(app: &mut App, depth: u32) {
    app.ladder = true;
    let book = fixture::book("AAPL", depth, 812);
    app.on_client(ClientEvent::Message(ServerMessage::Book(book)));
}

#[test]
fn ladder_beside_the_chart() {
    let mut app = fixture::app(Theme::COLOR, (120, 36));
    with_book(&mut app, 10);
    let terminal = render(&mut app);
    let rows = rows(&terminal);
    // Asks above the spread, bids below, both priced; the best ones next to the spread.
    let spread = rows
        .iter()
        .position(|r| r.contains("spread 0.02 (2 ticks)"))
        .expect("a spread line");
    assert!(rows[spread - 1].contains("187.01"), "{}", rows[spread - 1]);
    assert!(rows[spread + 1].contains("186.99"), "{}", rows[spread + 1]);
    insta::assert_snapshot!("ladder_120x36", terminal.backend());
}

#[test]
fn ladder_in_place_of_a_narrow_chart() {
    let mut app = fixture::app(Theme::COLOR, (80, 24));
    with_book(&mut app, 10);
    snapshot("ladder_80x24", &mut app);
    let mut app = fixture::app(Theme::MONO, (100, 30));
    app.focus = true;
    app.ladder = true;
    // Before the book comes.
    snapshot("ladder_waiting_100x30", &mut app);
}

#[test]
fn no_color_uses_no_colors() {
    let mut app = fixture::app(Theme::MONO, (100, 30));
    app.chart = ChartKind::Candles;
    app.frame = TimeFrame::Bars(BarInterval::S1);
    let terminal = render(&mut app);
    let buffer = terminal.backend().buffer();
    for cell in &buffer.content {
        assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "{cell:?}");
    }
    insta::assert_snapshot!("no_color_candles_100x30", terminal.backend());

    let mut colored = fixture::app(Theme::COLOR, (100, 30));
    let terminal = render(&mut colored);
    let uses_color = terminal
        .backend()
        .buffer()
        .content
        .iter()
        .any(|c| c.fg != Color::Reset);
    assert!(uses_color, "the colour theme does use colour");
}

/// The screen's rows as text.
fn rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    let width = usize::from(buffer.area.width);
    buffer
        .content
        .chunks(width)
        .map(|row| row.iter().map(|c| c.symbol()).collect())
        .collect()
}

/// The chart's time axis of a focused (full screen) chart: the row above its bottom border.
fn time_axis(terminal: &Terminal<TestBackend>) -> String {
    let rows = rows(terminal);
    rows[rows.len() - 3].clone()
}

#[test]
fn a_filled_minute_chart_is_full_on_its_first_frame() {
    // 300 one-minute bars came as the history of the chart's subscription.
    let mut app = fixture::app(Theme::COLOR, (120, 30));
    app.focus = true;
    app.chart = ChartKind::Candles;
    app.frame = TimeFrame::Bars(BarInterval::M1);
    let terminal = render(&mut app);
    let rows = rows(&terminal);
    // Every other column of the plot, from its left edge, holds a candle.
    let plot: Vec<Vec<char>> = rows[2..20].iter().map(|r| r.chars().collect()).collect();
    let filled = (1..100)
        .filter(|&x| {
            plot.iter()
                .any(|r| matches!(r[x], '│' | '█' | '─' | '▌' | '┃'))
        })
        .count();
    assert!(
        filled >= 45,
        "{filled} candle columns:\n{}",
        rows.join("\n")
    );
    insta::assert_snapshot!("minute_candles_full_120x30", terminal.backend());
}

#[test]
fn time_labels_are_distinct_and_fit_each_frame() {
    for frame in TimeFrame::ALL {
        let mut app = fixture::app(Theme::COLOR, (120, 30));
        app.focus = true;
        app.frame = frame;
        if let Some(interval) = frame.interval() {
            // As many as the server holds by default, at most 200.
            let n = match interval {
                BarInterval::M15 => 96,
                BarInterval::H1 => 24,
                _ => 200,
            };
            let len = interval.len_ns();
            let end = fixture::T0_NS / len * len;
            for i in 0..n {
                let ts = end - (n - i) * len;
                let b = fixture::bar(
                    "AAPL",
                    interval.token(),
                    1_000 + i,
                    ts,
                    fixture::path(187.0, i),
                    fixture::path(187.0, i + 1),
                );
                app.on_client(ClientEvent::Message(ServerMessage::Bar(b)));
            }
        }
        let axis = time_axis(&render(&mut app));
        let labels: Vec<&str> = axis.split([' ', '│']).filter(|w| w.contains(':')).collect();
        let want_len = if frame.shows_seconds() { 8 } else { 5 };
        assert!(labels.len() >= 2, "{frame:?}: {axis}");
        assert!(
            labels.iter().all(|l| l.len() == want_len),
            "{frame:?}: {axis}"
        );
        assert!(labels.windows(2).all(|w| w[0] != w[1]), "{frame:?}: {axis}");
    }
}

#[test]
fn hourly_line_in_history() {
    let mut app = fixture::app(Theme::COLOR, (100, 24));
    app.focus = true;
    app.frame = TimeFrame::Bars(BarInterval::H1);
    let len = BarInterval::H1.len_ns();
    let end = fixture::T0_NS / len * len;
    for i in 0..24u64 {
        let b = fixture::bar(
            "AAPL",
            "1h",
            i + 1,
            end - (24 - i) * len,
            fixture::path(187.0, i * 5),
            fixture::path(187.0, i * 5 + 4),
        );
        app.on_client(ClientEvent::Message(ServerMessage::Bar(b)));
    }
    app.chart_view.zoom_out();
    snapshot("hourly_zoomed_100x24", &mut app);
}
