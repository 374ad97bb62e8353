//! History tests: a rewind window merging with live data in the model, the chart's own
//! bar subscription following the selection and time frame, pan and zoom keys.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tickcast_client::{ClientEvent, Command};
use tickcast_proto::{Ack, BarInterval, Op, ServerMessage};

use super::{
    App, CHART_REWIND, TICK_REWIND,
    app::ChartKind,
    fixture::{self, T0_NS, bar, minute_bars, snapshot, tick},
    follow::SETTLE_NS,
    model::{BAR_HISTORY, Market},
    theme::Theme,
    timeframe::TimeFrame,
};

const MINUTE_NS: u64 = 60_000_000_000;

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn msg(app: &mut App, m: impl Into<ServerMessage>) {
    app.on_client(ClientEvent::Message(m.into()));
}

/// The commands as text (`+topic/rewind` and `-topic`), once the chart's topic has settled.
fn commands(app: &mut App) -> Vec<String> {
    let mut taken = app.take_commands();
    app.tick(app.now_ns + SETTLE_NS);
    taken.extend(app.take_commands());
    taken
        .into_iter()
        .map(|c| match c {
            Command::Subscribe {
                patterns, rewind, ..
            } => {
                format!("+{}/{}", patterns[0].as_str(), rewind.unwrap_or(0))
            }
            Command::Unsubscribe(patterns) => format!("-{}", patterns[0].as_str()),
        })
        .collect()
}

#[test]
fn a_tick_window_then_live_is_one_ordered_series() {
    let mut m = Market::default();
    // History: a snapshot standing for trade 801, ticks 802..=1000; then live, the seam
    // sent twice (as a careless server might) and once more out of order.
    m.apply_snapshot(&snapshot("X", 801, 10.0, 9.5), T0_NS);
    for seq in 802..=1000 {
        m.apply_tick(
            &tick("X", seq, T0_NS + seq, 10.0 + seq as f64 / 1e3, seq),
            T0_NS,
        );
    }
    for seq in [1000, 1001, 999, 1002] {
        m.apply_tick(&tick("X", seq, T0_NS + seq, 11.0, seq), T0_NS);
    }
    let q = &m.quotes["X"];
    let seqs: Vec<u64> = q.ticks.items.iter().map(|p| p.seq).collect();
    assert_eq!(seqs, (801..=1002).collect::<Vec<_>>());
    assert!(q.ticks.items.iter().all(|p| !p.gap_before));
    assert_eq!(q.prev_close, Some(9.5), "from the window's snapshot");
    assert_eq!(q.last_seq, 1002);
}

#[test]
fn a_bar_window_merges_with_live_bars_in_order_once() {
    let mut m = Market::default();
    let history = minute_bars("X", 50.0, 100);
    // A live bar got there first; then the window, overlapping it; then live again.
    let live = history[99].clone();
    m.apply_bar(&live);
    for b in &history {
        m.apply_bar(b);
    }
    let next = bar("X", "1m", 101, live.ts + MINUTE_NS, 1.0, 2.0);
    m.apply_bar(&next);
    m.apply_bar(&next);
    let candles = &m.quotes["X"].bars(BarInterval::M1).items;
    let stamps: Vec<u64> = candles.iter().map(|c| c.ts_ns).collect();
    assert_eq!(candles.len(), 101);
    assert!(
        stamps.windows(2).all(|w| w[1] == w[0] + MINUTE_NS),
        "ordered, no hole"
    );
    assert!(candles.iter().all(|c| !c.gap_before));

    // A full series drops what is older than all it holds, and stays bounded.
    let mut m = Market::default();
    let day = minute_bars("Y", 50.0, BAR_HISTORY as u64 + 10);
    for b in day.iter().skip(10) {
        m.apply_bar(b);
    }
    m.apply_bar(&day[0]);
    let candles = &m.quotes["Y"].bars(BarInterval::M1).items;
    assert_eq!(candles.len(), BAR_HISTORY);
    assert_eq!(candles.front().map(|c| c.ts_ns), Some(day[10].ts));
}

#[test]
fn the_chart_subscribes_its_bar_topic_with_history_and_drops_the_last_one() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    assert!(commands(&mut app).is_empty(), "ticks come from ticks.*");
    key(&mut app, KeyCode::Char('t')); // 1s: covered by the user's bars.1s.*
    assert!(commands(&mut app).is_empty());
    assert!(
        !app.market.quotes["AAPL"]
            .bars(BarInterval::S1)
            .items
            .is_empty()
    );
    key(&mut app, KeyCode::Char('t')); // 1m
    assert_eq!(
        commands(&mut app),
        [format!("+bars.1m.AAPL/{CHART_REWIND}")]
    );
    // What the chart had is replaced by the history that follows.
    assert!(
        app.market.quotes["AAPL"]
            .bars(BarInterval::M1)
            .items
            .is_empty()
    );
    key(&mut app, KeyCode::Down);
    key(&mut app, KeyCode::Char('t')); // MSFT, 5m
    assert_eq!(
        commands(&mut app),
        [
            "-bars.1m.AAPL".to_owned(),
            format!("+bars.5m.MSFT/{CHART_REWIND}")
        ]
    );
    // Its own topic is not one of the user's patterns.
    msg(
        &mut app,
        Ack {
            id: None,
            op: Op::Subscribe,
            topics: vec!["bars.5m.MSFT".into()],
            subscriptions: vec!["ticks.*".into(), "bars.1s.*".into(), "bars.5m.MSFT".into()],
        },
    );
    assert_eq!(app.patterns, ["ticks.*", "bars.1s.*"]);
    for _ in 0..4 {
        key(&mut app, KeyCode::Char('t')); // 15m, 1h, ticks, 1s
    }
    assert_eq!(
        commands(&mut app),
        ["-bars.5m.MSFT".to_owned()],
        "only where it stopped counts"
    );
    assert!(commands(&mut app).is_empty());
}

#[test]
fn the_chart_topic_changes_once_the_selection_rests() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    app.frame = TimeFrame::Bars(BarInterval::M1);
    assert!(app.take_commands().is_empty(), "not yet");
    let due = app.now_ns + SETTLE_NS;
    assert!(app.next_wake_ns() <= due, "the loop wakes up for it");
    // Scrolling on restarts the wait; stopping ends it.
    app.tick(due - 1);
    key(&mut app, KeyCode::Down);
    assert!(app.take_commands().is_empty());
    app.tick(due + 1);
    assert!(
        app.take_commands().is_empty(),
        "MSFT has not rested long enough"
    );
    app.tick(app.now_ns + SETTLE_NS);
    assert_eq!(
        commands(&mut app),
        [format!("+bars.1m.MSFT/{CHART_REWIND}")]
    );
    // Leaving a topic forgets its bars: they would go stale.
    msg(&mut app, bar("MSFT", "1m", 7, T0_NS, 1.0, 2.0));
    key(&mut app, KeyCode::Up);
    assert_eq!(
        commands(&mut app),
        [
            "-bars.1m.MSFT".to_owned(),
            format!("+bars.1m.AAPL/{CHART_REWIND}")
        ]
    );
    assert!(
        app.market.quotes["MSFT"]
            .bars(BarInterval::M1)
            .items
            .is_empty()
    );
}

#[test]
fn a_user_pattern_that_brings_the_chart_topic_takes_it_over() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    app.frame = TimeFrame::Bars(BarInterval::M1);
    assert_eq!(commands(&mut app).len(), 1);
    key(&mut app, KeyCode::Char('+'));
    for c in "bars.1m.*".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(
        commands(&mut app),
        [
            format!("+bars.1m.*/{TICK_REWIND}"),
            "-bars.1m.AAPL".to_owned()
        ]
    );
    // Dropping it again hands the topic back to the chart, with history.
    app.patterns.retain(|p| p != "bars.1m.*");
    assert_eq!(
        commands(&mut app),
        [format!("+bars.1m.AAPL/{CHART_REWIND}")]
    );
}

/// The fixture with AAPL's 1m candle chart, full screen, 300 bars of history.
fn minute_chart() -> App {
    let mut app = fixture::app(Theme::COLOR, (120, 30));
    app.focus = true;
    app.chart = ChartKind::Candles;
    app.frame = TimeFrame::Bars(BarInterval::M1);
    commands(&mut app); // subscribes, and resets the series...
    for b in minute_bars("AAPL", 187.0, 300) {
        msg(&mut app, b); // ...which its history fills
    }
    app
}

#[test]
fn pan_and_zoom_keys_move_through_the_history_and_back_to_live() {
    let mut app = minute_chart();
    assert!(app.chart_view.is_live());
    key(&mut app, KeyCode::Left);
    let end = app.chart_view.end_ts_ns.expect("panned into the history");
    key(&mut app, KeyCode::Char('h'));
    assert!(app.chart_view.end_ts_ns < Some(end), "further back");
    // Live bars do not move a panned chart.
    let last = minute_bars("AAPL", 187.0, 300)
        .pop()
        .map(|b| b.ts)
        .unwrap_or(0);
    msg(&mut app, bar("AAPL", "1m", 301, last + MINUTE_NS, 1.0, 1.0));
    key(&mut app, KeyCode::Right);
    key(&mut app, KeyCode::Char('l'));
    assert!(!app.chart_view.is_live(), "the new bar is one step further");
    key(&mut app, KeyCode::Right);
    assert!(app.chart_view.is_live());
    key(&mut app, KeyCode::Char('['));
    key(&mut app, KeyCode::Char('['));
    assert_eq!(app.chart_view.zoom, 2);
    key(&mut app, KeyCode::Char(']'));
    assert_eq!(app.chart_view.zoom, 1);
    key(&mut app, KeyCode::Left);
    key(&mut app, KeyCode::Char('0'));
    assert_eq!(app.chart_view, Default::default());
    // Another symbol or frame starts live.
    key(&mut app, KeyCode::Char('['));
    key(&mut app, KeyCode::Left);
    app.take_commands();
    assert!(!app.chart_view.is_live());
    key(&mut app, KeyCode::Char('T'));
    app.take_commands();
    assert_eq!(app.chart_view, Default::default());
}

#[test]
fn history_ticks_are_not_latency_samples() {
    let mut app = fixture::app(Theme::COLOR, (100, 30));
    let before = app.stats.latency.p99_ns();
    // Hours old: history from a rewind, stamped before the welcome.
    msg(
        &mut app,
        tick("MSFT", 5_000, T0_NS - 3_600_000_000_000, 400.0, 1),
    );
    app.tick(app.now_ns + 1_000_000_000);
    assert_eq!(app.stats.latency.p99_ns(), before);
}
