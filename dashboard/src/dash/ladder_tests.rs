//! Ladder tests: `b` subscribes the selected symbol's book topic at the depth the ladder
//! fits, follows the selection and the terminal's height, leaves a user's own book pattern
//! alone; book messages build the book, a resync drops it until the fresh one.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tickcast_client::{BookFault, ClientEvent, Command};
use tickcast_proto::{Ack, BookUpdate, Op, ServerMessage, book::checksum};

use super::{App, fixture, theme::Theme};

fn key(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn msg(app: &mut App, m: impl Into<ServerMessage>) {
    app.on_client(ClientEvent::Message(m.into()));
}

/// The book commands as text: `+topic@depth` and `-topic`.
fn book_commands(app: &mut App) -> Vec<String> {
    app.take_commands()
        .into_iter()
        .map(|c| match c {
            Command::Subscribe {
                patterns, depth, ..
            } => format!("+{}@{}", patterns[0].as_str(), depth.unwrap_or(0)),
            Command::Unsubscribe(patterns) => format!("-{}", patterns[0].as_str()),
        })
        .filter(|c| c.contains("book."))
        .collect()
}

fn app(size: (u16, u16)) -> App {
    let mut app = fixture::app(Theme::COLOR, size);
    app.take_commands();
    app
}

#[test]
fn b_follows_the_selection_with_its_book() {
    let mut app = app((120, 36));
    assert_eq!(book_commands(&mut app), Vec::<String>::new());
    key(&mut app, KeyCode::Char('b'));
    assert!(app.ladder);
    assert_eq!(book_commands(&mut app), ["+book.AAPL@10"]);
    assert_eq!(book_commands(&mut app), Vec::<String>::new(), "once");
    msg(&mut app, fixture::book("AAPL", 10, 5));
    assert!(app.market.books.contains_key("AAPL"));
    // The ack names the ladder's topic: it is not one of the user's patterns.
    msg(
        &mut app,
        Ack {
            id: None,
            op: Op::Subscribe,
            topics: vec!["book.AAPL".into()],
            subscriptions: vec!["bars.1s.*".into(), "book.AAPL".into(), "ticks.*".into()],
        },
    );
    assert_eq!(app.patterns, ["bars.1s.*", "ticks.*"]);

    key(&mut app, KeyCode::Down);
    assert_eq!(app.selected.as_deref(), Some("MSFT"));
    assert_eq!(
        book_commands(&mut app),
        ["-book.AAPL", "+book.MSFT@10"],
        "the focus moved"
    );
    assert!(!app.market.books.contains_key("AAPL"), "no longer followed");
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(book_commands(&mut app), ["-book.MSFT"], "hidden");
}

#[test]
fn a_tall_ladder_asks_for_25_levels() {
    let mut app = app((180, 70));
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(book_commands(&mut app), ["+book.AAPL@25"]);
    app.on_terminal(Event::Resize(180, 44));
    assert_eq!(
        book_commands(&mut app),
        ["+book.AAPL@10"],
        "subscribed again at the depth that fits"
    );
}

#[test]
fn a_users_book_pattern_is_only_read() {
    let mut app = app((120, 36));
    app.patterns.push("book.*".into());
    msg(&mut app, fixture::book("MSFT", 10, 9));
    key(&mut app, KeyCode::Char('b'));
    key(&mut app, KeyCode::Down);
    assert_eq!(book_commands(&mut app), Vec::<String>::new());
    assert!(app.market.books.contains_key("MSFT"), "kept, still live");
    key(&mut app, KeyCode::Char('b'));
    assert_eq!(book_commands(&mut app), Vec::<String>::new());
}

#[test]
fn updates_patch_the_book_and_a_resync_drops_it() {
    let mut app = app((120, 36));
    let book = fixture::book("AAPL", 10, 5);
    msg(&mut app, book.clone());
    let mut bids = book.bids.clone();
    bids.remove(0);
    let update = BookUpdate {
        topic: "book.AAPL".into(),
        seq: 9,
        prev_seq: 5,
        ts: book.ts,
        symbol: "AAPL".into(),
        bids: vec![(book.bids[0].0, 0)],
        asks: vec![],
        checksum: checksum(&bids, &book.asks, 0.01),
    };
    msg(&mut app, update);
    let held = &app.market.books["AAPL"];
    assert_eq!((held.seq(), held.bids().len()), (9, 9));
    let gaps = app.stats.gaps;
    app.on_client(ClientEvent::BookResync {
        topic: "book.AAPL".into(),
        seq: 12,
        fault: BookFault::Checksum {
            expected: 1,
            computed: 2,
        },
    });
    assert!(!app.market.books.contains_key("AAPL"));
    assert_eq!(app.stats.gaps, gaps + 1);
    assert!(
        app.notice
            .as_ref()
            .is_some_and(|(text, _)| text.contains("book.AAPL")),
        "{:?}",
        app.notice
    );
}
