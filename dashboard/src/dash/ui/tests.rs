//! Rendering tests: the main views on ratatui's `TestBackend`, as insta snapshots
//! (accepted files live in `snapshots/`; a mismatch fails the test).

use ratatui::{Terminal, backend::TestBackend, style::Color};

use crate::dash::{
    App,
    app::{ChartKind, Conn, Mode, SortKey, TimeFrame},
    fixture,
    theme::Theme,
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
    app.frame = TimeFrame::Bars1s;
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
        app.frame = TimeFrame::Bars1s;
        render(&mut app);
    }
}

#[test]
fn no_color_uses_no_colors() {
    let mut app = fixture::app(Theme::MONO, (100, 30));
    app.chart = ChartKind::Candles;
    app.frame = TimeFrame::Bars1s;
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
