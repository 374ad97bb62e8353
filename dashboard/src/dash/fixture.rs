//! Deterministic market data for tests: a few symbols with ticks, bars, a gap and an alert,
//! and an order book.

use tickcast_proto::{
    Ack, Bar, BarInterval, Book, Op, ServerMessage, Snapshot, Tick, Welcome, book::checksum,
};

use super::{App, theme::Theme};
use tickcast_client::{ClientEvent, GapCause};

pub const T0_NS: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;

pub fn tick(symbol: &str, seq: u64, ts_ns: u64, price: f64, volume: u64) -> Tick {
    Tick {
        topic: format!("ticks.{symbol}"),
        seq,
        ts: ts_ns,
        symbol: symbol.into(),
        price,
        size: 100 + (seq % 7) * 50,
        bid: price - 0.01,
        ask: price + 0.01,
        volume,
    }
}

pub fn snapshot(symbol: &str, seq: u64, price: f64, prev_close: f64) -> Snapshot {
    Snapshot {
        topic: format!("ticks.{symbol}"),
        epoch: 1,
        seq,
        ts: T0_NS,
        symbol: symbol.into(),
        price,
        size: 100,
        bid: price - 0.01,
        ask: price + 0.01,
        volume: 10_000,
        open: prev_close,
        high: price.max(prev_close),
        low: price.min(prev_close),
        prev_close,
        ..Snapshot::default()
    }
}

pub fn bar(symbol: &str, interval: &str, seq: u64, ts_ns: u64, o: f64, c: f64) -> Bar {
    Bar {
        topic: format!("bars.{interval}.{symbol}"),
        seq,
        ts: ts_ns,
        interval_ms: BarInterval::from_token(interval).map_or(60_000, BarInterval::len_ms),
        symbol: symbol.into(),
        open: o,
        high: o.max(c) + 0.05,
        low: o.min(c) - 0.05,
        close: c,
        volume: 1000 + seq * 37 % 900,
        trades: 10,
        epoch: 1,
        recovered: None,
    }
}

/// `n` one-minute bars of `symbol` ending with the minute before [`T0_NS`], seqs from 1.
pub fn minute_bars(symbol: &str, base: f64, n: u64) -> Vec<Bar> {
    const MINUTE_NS: u64 = 60_000 * MS;
    let last = T0_NS / MINUTE_NS * MINUTE_NS - MINUTE_NS;
    (0..n)
        .map(|i| {
            let ts = last - (n - 1 - i) * MINUTE_NS;
            bar(
                symbol,
                "1m",
                i + 1,
                ts,
                path(base, i * 2),
                path(base, i * 2 + 1),
            )
        })
        .collect()
}

/// The book of `symbol` at `depth`: bids from 186.99 down and asks from 187.01 up, a
/// cent apart, with sizes that vary deterministically; its checksum is right.
pub fn book(symbol: &str, depth: u32, seq: u64) -> Book {
    let size = |i: u32, side: u32| u64::from(100 + (i * 7 + side * 3) % 11 * 150);
    let level =
        |base: f64, step: f64, i: u32| ((base + step * f64::from(i)) * 100.0).round() / 100.0;
    let bids: Vec<(f64, u64)> = (0..depth)
        .map(|i| (level(186.99, -0.01, i), size(i, 0)))
        .collect();
    let asks: Vec<(f64, u64)> = (0..depth)
        .map(|i| (level(187.01, 0.01, i), size(i, 1)))
        .collect();
    Book {
        topic: format!("book.{symbol}"),
        seq,
        epoch: 1,
        ts: T0_NS,
        symbol: symbol.into(),
        tick_size: 0.01,
        depth,
        checksum: checksum(&bids, &asks, 0.01),
        bids,
        asks,
        recovered: None,
    }
}

/// A price path that wiggles deterministically.
pub fn path(base: f64, i: u64) -> f64 {
    let x = i as f64;
    ((base + (x / 7.0).sin() * base * 0.004 + (x / 23.0).cos() * base * 0.002) * 100.0).round()
        / 100.0
}

/// A connected app with five symbols, 120 ticks each, 40 one-second bars each, a gap on
/// AAPL, 300 one-minute bars of AAPL (history, as a rewind brings it), and `now` just
/// after the last tick.
pub fn app(theme: Theme, size: (u16, u16)) -> App {
    let mut app = App::new(
        "ws://127.0.0.1:8080/ws",
        vec!["ticks.*".into(), "bars.1s.*".into()],
        theme,
    );
    app.size = size;
    app.tick(T0_NS);
    app.on_client(ClientEvent::Connected {
        server: "tickcast/test".into(),
        addr: "127.0.0.1:8080".parse().expect("literal address"),
        welcome: Welcome {
            protocol: 1,
            server: "tickcast/test".into(),
            epoch: 1,
            heartbeat_ms: 1000,
            max_message_bytes: 65536,
            max_subscriptions: 1000,
            ts: T0_NS,
        },
    });
    app.on_client(ClientEvent::Message(ServerMessage::Ack(Ack {
        id: None,
        op: Op::Subscribe,
        topics: vec!["ticks.*".into()],
        subscriptions: vec!["ticks.*".into(), "bars.1s.*".into()],
    })));
    let symbols = [
        ("AAPL", 187.0, 186.0),
        ("MSFT", 420.0, 421.5),
        ("NVDA", 130.0, 128.0),
        ("TSLA", 250.0, 251.0),
        ("XOM", 115.0, 115.0),
    ];
    for (k, &(sym, base, prev)) in symbols.iter().enumerate() {
        app.on_client(ClientEvent::Message(ServerMessage::Snapshot(snapshot(
            sym, 10, base, prev,
        ))));
        for i in 0..120u64 {
            let seq = 11 + i;
            if sym == "AAPL" && i == 80 {
                app.on_client(ClientEvent::Gap {
                    topic: "ticks.AAPL".into(),
                    epoch: 1,
                    expected: Some(seq),
                    got: seq + 5,
                    cause: GapCause::SeqJump,
                });
            }
            let ts = T0_NS + (i + 1) * 250 * MS + k as u64 * MS;
            app.tick(ts);
            let t = tick(
                sym,
                seq,
                ts,
                path(base, i + k as u64 * 11),
                10_000 + i * 300 * (k as u64 + 1),
            );
            app.on_client(ClientEvent::Message(ServerMessage::Tick(t)));
        }
        for i in 0..40u64 {
            let ts = T0_NS + i * 1_000 * MS;
            let b = bar(
                sym,
                "1s",
                i + 1,
                ts,
                path(base, i * 3),
                path(base, i * 3 + 2),
            );
            app.on_client(ClientEvent::Message(ServerMessage::Bar(b)));
        }
    }
    for b in minute_bars("AAPL", 187.0, 300) {
        app.on_client(ClientEvent::Message(ServerMessage::Bar(b)));
    }
    // Every flash has run out (so snapshots do not depend on timing); nothing is stale.
    app.tick(T0_NS + 121 * 250 * MS);
    app.tick(T0_NS + 122 * 250 * MS);
    app.prepare();
    app
}
