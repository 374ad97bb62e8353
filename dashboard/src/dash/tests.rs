//! State tests: applying client events and keys to [`App`] and [`Market`].

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use tickcast_proto::{BarInterval, MarketState, ServerMessage, Status};

use super::{
    App,
    app::{ChartKind, Conn, Mode, SortKey},
    fixture::{self, T0_NS, bar, snapshot, tick},
    model::{Direction, FLASH_NS, Market, STALE_NS, TICK_HISTORY},
    theme::Theme,
    timeframe::TimeFrame,
};
use tickcast_client::{ClientEvent, Command};

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn chars(app: &mut App, text: &str) {
    for c in text.chars() {
        key(app, KeyCode::Char(c));
    }
}

fn msg(app: &mut App, m: impl Into<ServerMessage>) {
    app.on_client(ClientEvent::Message(m.into()));
}

#[test]
fn ticks_update_the_quote_and_flash() {
    let mut m = Market::default();
    m.apply_snapshot(&snapshot("AAPL", 1, 100.0, 99.0), T0_NS);
    m.apply_tick(&tick("AAPL", 2, T0_NS, 101.0, 500), T0_NS);
    let q = &m.quotes["AAPL"];
    assert_eq!((q.last, q.volume, q.last_seq), (101.0, 500, 2));
    assert_eq!(q.change(), Some(2.0));
    assert!((q.change_pct().unwrap() - 2.0202).abs() < 1e-3);
    assert_eq!(q.flashing(T0_NS + 1), Some(Direction::Up));
    assert_eq!(q.flashing(T0_NS + FLASH_NS), None);
    m.apply_tick(&tick("AAPL", 3, T0_NS, 100.5, 600), T0_NS + FLASH_NS);
    assert_eq!(
        m.quotes["AAPL"].flashing(T0_NS + FLASH_NS),
        Some(Direction::Down)
    );
    assert_eq!(m.quotes["AAPL"].ticks.items.len(), 3);
}

#[test]
fn first_price_stands_in_for_previous_close_without_a_snapshot() {
    let mut m = Market::default();
    m.apply_tick(&tick("X", 1, T0_NS, 10.0, 1), T0_NS);
    m.apply_tick(&tick("X", 2, T0_NS, 11.0, 2), T0_NS);
    assert_eq!(m.quotes["X"].change(), Some(1.0));
    // A later snapshot brings the real previous close.
    m.apply_snapshot(&snapshot("X", 2, 11.0, 12.0), T0_NS);
    assert_eq!(m.quotes["X"].change(), Some(-1.0));
    // Same seq as the last tick: no duplicate point.
    assert_eq!(m.quotes["X"].ticks.items.len(), 2);
}

#[test]
fn tick_history_is_bounded() {
    let mut m = Market::default();
    for i in 0..(TICK_HISTORY as u64 + 50) {
        m.apply_tick(&tick("X", i + 1, i, 10.0 + i as f64, i), i);
    }
    let ticks = &m.quotes["X"].ticks.items;
    assert_eq!(ticks.len(), TICK_HISTORY);
    assert_eq!(
        ticks.back().map(|p| p.ts_ns),
        Some(TICK_HISTORY as u64 + 49)
    );
}

#[test]
fn bars_are_upserted_by_interval_start() {
    let mut m = Market::default();
    m.apply_bar(&bar("X", "1m", 1, 60, 1.0, 2.0));
    m.apply_bar(&bar("X", "1m", 2, 120, 2.0, 3.0));
    m.apply_bar(&bar("X", "1m", 2, 120, 2.0, 2.5)); // resent: replaces
    m.apply_bar(&bar("X", "1m", 1, 60, 1.0, 2.0)); // the same bar again: once
    m.apply_bar(&bar("X", "1s", 1, 60, 5.0, 5.0));
    let q = &m.quotes["X"];
    let closes: Vec<f64> = q
        .bars(BarInterval::M1)
        .items
        .iter()
        .map(|c| c.close)
        .collect();
    assert_eq!(closes, [2.0, 2.5]);
    assert_eq!(q.bars(BarInterval::S1).items.len(), 1);
}

#[test]
fn gaps_mark_the_next_point_and_are_counted() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    let q = &app.market.quotes["AAPL"];
    let gap_points: Vec<usize> = q
        .ticks
        .items
        .iter()
        .enumerate()
        .filter(|(_, p)| p.gap_before)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(gap_points, [81]); // the snapshot point, then 80 ticks, then the hole
    assert_eq!((q.gaps, app.stats.gaps), (1, 1));
    app.on_client(ClientEvent::Gap {
        topic: "bars.1s.MSFT".into(),
        epoch: 1,
        expected: Some(41),
        got: 43,
        cause: tickcast_client::GapCause::NotRecovered,
    });
    msg(
        &mut app,
        bar("MSFT", "1s", 43, T0_NS + 50_000_000_000, 1.0, 1.0),
    );
    assert!(
        app.market.quotes["MSFT"]
            .bars(BarInterval::S1)
            .items
            .back()
            .is_some_and(|c| c.gap_before)
    );
    assert_eq!(app.stats.gaps, 2);
}

#[test]
fn a_new_server_epoch_breaks_every_series() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    app.on_client(ClientEvent::Connected {
        server: "s".into(),
        addr: "127.0.0.1:1".parse().unwrap(),
        welcome: tickcast_proto::Welcome {
            epoch: 2,
            heartbeat_ms: 1000,
            ..Default::default()
        },
    });
    msg(&mut app, tick("MSFT", 1, T0_NS + 99, 400.0, 1));
    assert!(
        app.market.quotes["MSFT"]
            .ticks
            .items
            .back()
            .is_some_and(|p| p.gap_before)
    );
}

#[test]
fn sorting_orders_the_watchlist() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    assert_eq!(app.order, ["AAPL", "MSFT", "NVDA", "TSLA", "XOM"]);
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, SortKey::ChangePct);
    let pct: Vec<f64> = app
        .order
        .iter()
        .map(|s| app.market.quotes[s].change_pct().unwrap())
        .collect();
    assert!(pct.windows(2).all(|w| w[0] >= w[1]), "{pct:?}");
    key(&mut app, KeyCode::Char('s'));
    assert_eq!(app.sort, SortKey::Volume);
    let vol: Vec<u64> = app
        .order
        .iter()
        .map(|s| app.market.quotes[s].volume)
        .collect();
    assert!(vol.windows(2).all(|w| w[0] >= w[1]), "{vol:?}");
    // The selection follows the symbol, not the row.
    assert_eq!(app.selected.as_deref(), Some("AAPL"));
}

#[test]
fn alerts_fire_once_and_ring_the_bell() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    let last = app.market.quotes["AAPL"].last;
    key(&mut app, KeyCode::Char('a'));
    assert!(matches!(app.mode, Mode::Alert(_)));
    for _ in 0..10 {
        key(&mut app, KeyCode::Backspace);
    }
    chars(&mut app, &format!("{:.2}", last + 1.0));
    key(&mut app, KeyCode::Enter);
    let alert = app.market.quotes["AAPL"].alert.expect("alert set");
    assert!(alert.above && alert.fired_at_ns.is_none());
    msg(&mut app, tick("AAPL", 500, T0_NS, last + 0.5, 1));
    assert!(!app.take_bell());
    msg(&mut app, tick("AAPL", 501, T0_NS, last + 1.5, 1));
    assert!(app.take_bell());
    assert!(
        app.market.quotes["AAPL"]
            .alert
            .is_some_and(|a| a.fired_at_ns.is_some())
    );
    msg(&mut app, tick("AAPL", 502, T0_NS, last + 0.5, 1));
    msg(&mut app, tick("AAPL", 503, T0_NS, last + 2.0, 1));
    assert!(!app.take_bell(), "an alert fires once");
    // An empty price clears it.
    key(&mut app, KeyCode::Char('a'));
    for _ in 0..10 {
        key(&mut app, KeyCode::Backspace);
    }
    key(&mut app, KeyCode::Enter);
    assert!(app.market.quotes["AAPL"].alert.is_none());
}

#[test]
fn downward_alerts_fire_when_the_price_falls() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    let last = app.market.quotes["AAPL"].last;
    app.mode = Mode::Alert(format!("{:.2}", last - 1.0));
    key(&mut app, KeyCode::Enter);
    msg(&mut app, tick("AAPL", 500, T0_NS, last - 1.01, 1));
    assert!(app.take_bell());
}

#[test]
fn navigation_keys_move_and_scroll() {
    let mut app = fixture::app(Theme::COLOR, (80, 16));
    // 16 rows: 15 body, list 6 high -> 3 data rows.
    assert_eq!(super::ui::watchlist_rows(&app), 3);
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected.as_deref(), Some("TSLA"));
    assert_eq!(app.offset, 1);
    key(&mut app, KeyCode::Char('k'));
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!((app.selected.as_deref(), app.offset), (Some("AAPL"), 0));
    key(&mut app, KeyCode::End);
    assert_eq!((app.selected.as_deref(), app.offset), (Some("XOM"), 2));
}

#[test]
fn jump_finds_symbols_by_prefix() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "ts");
    assert_eq!(app.selected.as_deref(), Some("TSLA"));
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "nope");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.selected.as_deref(), Some("TSLA"));
}

#[test]
fn plus_and_minus_change_the_subscription() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    key(&mut app, KeyCode::Char('+'));
    chars(&mut app, "ticks.IBM");
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('+'));
    chars(&mut app, "bad..pattern");
    key(&mut app, KeyCode::Enter);
    let cmds = app.take_commands();
    assert_eq!(cmds.len(), 1);
    assert!(matches!(
        &cmds[0],
        Command::Subscribe { patterns, rewind: Some(super::TICK_REWIND), .. }
            if patterns[0].as_str() == "ticks.IBM"
    ));
    assert!(app.patterns.contains(&"ticks.IBM".to_owned()));
    key(&mut app, KeyCode::Char('-'));
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Enter);
    let cmds = app.take_commands();
    assert!(matches!(&cmds[..], [Command::Unsubscribe(p)] if p[0].as_str() == "bars.1s.*"));
    assert_eq!(app.patterns, ["ticks.*", "ticks.IBM"]);
}

#[test]
fn chart_keys_cycle_kind_and_time_frame() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    assert_eq!((app.chart, app.frame), (ChartKind::Line, TimeFrame::Ticks));
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.frame, TimeFrame::Bars(BarInterval::S1));
    key(&mut app, KeyCode::Char('c'));
    assert_eq!(app.chart, ChartKind::Candles);
    let mut seen = Vec::new();
    for _ in 0..5 {
        key(&mut app, KeyCode::Char('t'));
        seen.push(app.frame.label());
    }
    // Candles need bars: the tick frame is skipped, both ways.
    assert_eq!(seen, ["1m", "5m", "15m", "1h", "1s"]);
    key(&mut app, KeyCode::Char('T'));
    assert_eq!(app.frame, TimeFrame::Bars(BarInterval::H1));
    key(&mut app, KeyCode::Char('c'));
    key(&mut app, KeyCode::Char('t'));
    assert_eq!(app.frame, TimeFrame::Ticks, "lines show ticks too");
    key(&mut app, KeyCode::Enter);
    assert!(app.focus);
    key(&mut app, KeyCode::Esc);
    assert!(!app.focus && !app.should_quit());
}

#[test]
fn pause_freezes_the_view_while_data_flows() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    key(&mut app, KeyCode::Char('p'));
    let shown = app.view().quotes["AAPL"].last;
    msg(&mut app, tick("AAPL", 900, T0_NS, shown + 5.0, 1));
    assert_eq!(app.view().quotes["AAPL"].last, shown);
    assert_eq!(app.market.quotes["AAPL"].last, shown + 5.0);
    key(&mut app, KeyCode::Char('p'));
    assert_eq!(app.view().quotes["AAPL"].last, shown + 5.0);
}

#[test]
fn quitting_and_key_releases() {
    for code in [KeyCode::Char('q'), KeyCode::Esc] {
        let mut app = fixture::app(Theme::COLOR, (100, 30));
        key(&mut app, code);
        assert!(app.should_quit());
    }
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert!(app.should_quit());
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    app.on_terminal(Event::Key(release));
    assert!(!app.should_quit(), "releases are ignored");
    // In a prompt, q is text, not quit.
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.should_quit());
}

#[test]
fn clicking_a_row_selects_it() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    let rows = super::ui::layout(ratatui::layout::Rect::new(0, 0, 100, 30), false, false)
        .watchlist_rows
        .unwrap();
    app.on_terminal(Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: rows.x + 3,
        row: rows.y + 2,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(app.selected.as_deref(), Some("NVDA"));
}

#[test]
fn status_messages_and_stale_symbols() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    msg(
        &mut app,
        Status {
            topic: "ticks.XOM".into(),
            state: MarketState::Halted,
            ts: T0_NS,
        },
    );
    assert_eq!(app.market.quotes["XOM"].state, MarketState::Halted);
    let now = app.now_ns;
    assert!(!app.market.quotes["XOM"].is_stale(now));
    app.tick(now + STALE_NS + 1);
    assert!(app.market.quotes["XOM"].is_stale(app.now_ns));
    assert!(app.is_stale(), "no message for more than two heartbeats");
    app.on_client(ClientEvent::Disconnected {
        reason: "gone".into(),
        retry_in: Some(std::time::Duration::from_secs(2)),
    });
    assert!(matches!(app.conn, Conn::Reconnecting { .. }));
}
