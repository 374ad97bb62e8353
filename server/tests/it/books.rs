//! Book topics (`book.SYM`): a `book` to the subscriber's depth, then `book_update`s whose
//! `prev_seq` chains and whose checksum verifies after each; late, slow and resuming
//! subscribers all end with the book a fresh subscriber gets.

use std::collections::HashMap;
use std::time::Duration;

use tickcast_proto::book::{Level, checksum};
use tickcast_proto::book_state::apply_levels;
use tickcast_proto::{Book, ErrorCode, RequestId, ServerMessage, Subscribe};

use crate::support::*;

const TOPIC: &str = "book.SYN0000";

fn books_config(rate: f64) -> tickcast_server::Config {
    let mut cfg = config(2, rate);
    if let Some(sim) = cfg.simulator.as_mut() {
        sim.books = true;
    }
    cfg
}

fn sub(depth: Option<u32>) -> Subscribe {
    Subscribe {
        id: Some(RequestId::Num(1)),
        topics: vec![TOPIC.into()],
        depth,
        ..Default::default()
    }
}

/// A client's copy of a book, kept as PROTOCOL.md section 8 says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Local {
    pub(crate) seq: u64,
    depth: usize,
    tick_size: f64,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

impl Local {
    pub(crate) fn from_book(b: &Book) -> Self {
        assert_eq!(
            b.checksum,
            checksum(&b.bids, &b.asks, b.tick_size),
            "the book's checksum"
        );
        assert!(
            b.bids.windows(2).all(|w| w[0].0 > w[1].0),
            "bids best first"
        );
        assert!(
            b.asks.windows(2).all(|w| w[0].0 < w[1].0),
            "asks best first"
        );
        if let (Some(bid), Some(ask)) = (b.bids.first(), b.asks.first()) {
            assert!(bid.0 < ask.0, "not crossed");
        }
        Self {
            seq: b.seq,
            depth: b.depth as usize,
            tick_size: b.tick_size,
            bids: b.bids.clone(),
            asks: b.asks.clone(),
        }
    }

    pub(crate) fn apply(&mut self, u: &tickcast_proto::BookUpdate) {
        assert_eq!(u.prev_seq, self.seq, "prev_seq chains: nothing missed");
        assert!(u.seq > self.seq);
        apply_levels(&mut self.bids, &u.bids, |a, b| a > b, self.depth);
        apply_levels(&mut self.asks, &u.asks, |a, b| a < b, self.depth);
        self.seq = u.seq;
        assert_eq!(
            checksum(&self.bids, &self.asks, self.tick_size),
            u.checksum,
            "checksum after update {}",
            u.seq
        );
    }
}

/// Reads the topic's messages, keeping the book; returns it after `updates` updates.
async fn follow(
    c: &mut Client,
    book: &mut Option<Local>,
    updates: usize,
    history: &mut HashMap<u64, Local>,
) {
    let mut seen = 0;
    while seen < updates {
        match c.recv().await {
            ServerMessage::Book(b) if b.topic == TOPIC => {
                let local = Local::from_book(&b);
                history.insert(local.seq, local.clone());
                *book = Some(local);
            }
            ServerMessage::BookUpdate(u) if u.topic == TOPIC => {
                let local = book.as_mut().expect("a book before any update");
                local.apply(&u);
                history.insert(local.seq, local.clone());
                seen += 1;
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_subscriber_gets_a_book_then_updates_that_verify() {
    let server = start(books_config(400.0)).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    c.send(sub(Some(5))).await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let book = match c.recv_until(|m| matches!(m, ServerMessage::Book(_))).await {
        ServerMessage::Book(b) => b,
        _ => unreachable!(),
    };
    assert_eq!(
        (book.depth, book.epoch, book.recovered),
        (5, welcome.epoch, None)
    );
    assert_eq!((book.bids.len(), book.asks.len()), (5, 5));
    let mut local = Some(Local::from_book(&book));
    follow(&mut c, &mut local, 300, &mut HashMap::new()).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_late_subscriber_gets_the_book_an_early_one_has_at_the_same_seq() {
    let server = start(books_config(400.0)).await;
    let (mut early, _) = Client::connect_welcomed(server.addr()).await;
    early.send(sub(Some(25))).await;
    let mut early_book = None;
    let mut early_history = HashMap::new();
    follow(&mut early, &mut early_book, 100, &mut early_history).await;

    let (mut late, _) = Client::connect_welcomed(server.addr()).await;
    late.send(sub(Some(25))).await;
    let late_book = match late
        .recv_until(|m| matches!(m, ServerMessage::Book(_)))
        .await
    {
        ServerMessage::Book(b) => Local::from_book(&b),
        _ => unreachable!(),
    };
    // The early one goes on until it has passed the late one's seq.
    while early_book.as_ref().is_some_and(|b| b.seq < late_book.seq) {
        follow(&mut early, &mut early_book, 1, &mut early_history).await;
    }
    assert_eq!(
        early_history.get(&late_book.seq),
        Some(&late_book),
        "identical books at seq {}",
        late_book.seq
    );
    server.shutdown().await;
}

/// The server's count of frames held for lagging readers (`tickcast_conflated_total`).
async fn conflated(addr: std::net::SocketAddr) -> u64 {
    let (_, body) = http_get(addr, "/metrics").await;
    body.lines()
        .find_map(|l| l.strip_prefix("tickcast_conflated_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("tickcast_conflated_total in /metrics")
}

/// A reader on small socket buffers, subscribed at `depth`, that stalls for `stall`
/// while the book moves, with the server's queue bound at `queue_bytes`.
async fn stalled_reader(
    queue_bytes: usize,
    depth: u32,
    stall: Duration,
) -> (tickcast_server::Handle, Client) {
    let mut cfg = books_config(4_000.0);
    cfg.queue_bytes = queue_bytes;
    cfg.socket_send_buffer = Some(8 * 1024);
    cfg.heartbeat = Duration::from_secs(5);
    let server = start(cfg).await;
    let stream = connect_small_buffers(server.addr(), 4 * 1024).await;
    let mut slow = Client::connect_on(stream, server.addr(), None).await;
    assert!(matches!(slow.recv().await, ServerMessage::Welcome(_)));
    slow.send(sub(Some(depth))).await;
    tokio::time::sleep(stall).await;
    (server, slow)
}

/// Reads on until the slow reader's book has reached a fresh subscriber's, and checks that
/// it is the same book at the same `seq`.
async fn agrees_with_a_fresh_subscriber(
    server: &tickcast_server::Handle,
    slow: &mut Client,
    book: &mut Option<Local>,
    depth: u32,
) {
    let mut history = HashMap::new();
    follow(slow, book, 50, &mut history).await;
    let (mut fresh, _) = Client::connect_welcomed(server.addr()).await;
    fresh.send(sub(Some(depth))).await;
    let mut fresh_book = None;
    let mut fresh_history = HashMap::new();
    follow(&mut fresh, &mut fresh_book, 1, &mut fresh_history).await;
    // Both read on until they hold a book at the same seq (a reader still lagging gets
    // merged updates, which skip seqs): there the books are the same.
    let common = loop {
        let common = history
            .keys()
            .filter(|s| fresh_history.contains_key(s))
            .max()
            .copied();
        if let Some(seq) = common {
            break seq;
        }
        let (slow_seq, fresh_seq) = (
            book.as_ref().map_or(0, |b| b.seq),
            fresh_book.as_ref().map_or(0, |b| b.seq),
        );
        if slow_seq <= fresh_seq {
            follow(slow, book, 1, &mut history).await;
        } else {
            follow(&mut fresh, &mut fresh_book, 1, &mut fresh_history).await;
        }
    };
    assert_eq!(
        history.get(&common),
        fresh_history.get(&common),
        "the books at seq {common}"
    );
}

#[tokio::test]
async fn a_slow_reader_gets_its_updates_merged_per_level_and_loses_nothing() {
    let (server, mut slow) = stalled_reader(16 * 1024, 10, Duration::from_millis(1_500)).await;
    let held = conflated(server.addr()).await;
    assert!(held > 0, "the reader lagged: its updates were held");
    // Every update it reads chains by prev_seq and verifies (Local::apply): the merged ones
    // skip seqs, not levels; it needs no fresh book and is told of no loss.
    let mut book: Option<Local> = None;
    let mut merged = 0;
    let mut updates = 0;
    while updates < 300 {
        match slow.recv().await {
            ServerMessage::Lagged(l) => {
                assert!(!l.topics.iter().any(|t| t == TOPIC), "no loss: {l:?}")
            }
            ServerMessage::Book(b) if b.topic == TOPIC => {
                assert!(book.is_none(), "one book, no resync: {b:?}");
                book = Some(Local::from_book(&b));
            }
            ServerMessage::BookUpdate(u) if u.topic == TOPIC => {
                let local = book.as_mut().expect("a book first");
                // Updates merged while it lagged name more levels than one change touches.
                merged += usize::from(u.bids.len() + u.asks.len() > 12);
                local.apply(&u);
                updates += 1;
            }
            _ => {}
        }
    }
    assert!(merged > 0, "some updates arrived merged");
    agrees_with_a_fresh_subscriber(&server, &mut slow, &mut book, 10).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_reader_past_its_bound_is_resynced_with_a_fresh_book_never_a_wrong_one() {
    // A 2 KiB bound: a depth-50 book's merged updates outgrow it within the stall.
    let (server, mut slow) = stalled_reader(2 * 1024, 50, Duration::from_millis(2_000)).await;
    let mut book: Option<Local> = None;
    let mut lagged = false;
    let mut resynced = false;
    while !(resynced && book.as_ref().is_some_and(|b| b.seq > 0)) {
        match slow.recv().await {
            ServerMessage::Lagged(l) if l.topics.iter().any(|t| t == TOPIC) => lagged = true,
            ServerMessage::Book(b) if b.topic == TOPIC => {
                if b.recovered == Some(false) {
                    assert!(lagged, "a resync follows the lagged notice");
                    resynced = true;
                }
                book = Some(Local::from_book(&b));
            }
            ServerMessage::BookUpdate(u) if u.topic == TOPIC => {
                book.as_mut().expect("a book first").apply(&u);
            }
            _ => {}
        }
    }
    // Reading again, it follows updates that verify; and a fresh subscriber agrees.
    agrees_with_a_fresh_subscriber(&server, &mut slow, &mut book, 50).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_resume_position_gets_a_fresh_book_and_bad_depths_are_refused() {
    let server = start(books_config(200.0)).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        since: Some([(TOPIC.to_owned(), (welcome.epoch, 3))].into()),
        ..sub(None)
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    match c.recv_until(|m| matches!(m, ServerMessage::Book(_))).await {
        ServerMessage::Book(b) => {
            assert_eq!(
                (b.depth, b.recovered),
                (10, None),
                "the default depth, a whole book"
            );
            Local::from_book(&b);
        }
        _ => unreachable!(),
    }
    for depth in [0, 7, 100] {
        c.send(sub(Some(depth))).await;
        match c.recv_until(|m| matches!(m, ServerMessage::Error(_))).await {
            ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::BadRequest, "depth {depth}"),
            _ => unreachable!(),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn instruments_list_reference_data_with_the_state_now() {
    let server = start(books_config(200.0)).await;
    let (status, body) = http_get(server.addr(), "/instruments").await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let first = &list[0];
    assert_eq!(first["symbol"], "SYN0000");
    assert_eq!(first["tick_size"].as_f64(), Some(0.01));
    assert_eq!(first["lot_size"].as_u64(), Some(100));
    assert!(first["prev_close"].as_f64().is_some_and(|p| p > 0.0));
    assert_eq!(first["state"], "open");
    // A book's tick size is the instrument's.
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(sub(None)).await;
    match c.recv_until(|m| matches!(m, ServerMessage::Book(_))).await {
        ServerMessage::Book(b) => assert_eq!(Some(b.tick_size), first["tick_size"].as_f64()),
        _ => unreachable!(),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn subscribing_a_book_again_brings_a_fresh_one_under_a_wildcard() {
    let server = start(books_config(200.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        topics: vec!["book.*".into()],
        ..sub(None)
    })
    .await;
    let mut book = None;
    follow(&mut c, &mut book, 5, &mut HashMap::new()).await;
    c.send(sub(None)).await;
    // Updates already on their way may come first; then the fresh book, which they lead to.
    match c
        .recv_until(|m| matches!(m, ServerMessage::Book(b) if b.topic == TOPIC))
        .await
    {
        ServerMessage::Book(b) => {
            let fresh = Local::from_book(&b);
            assert!(fresh.seq >= book.as_ref().map_or(0, |b| b.seq));
        }
        _ => unreachable!(),
    }
    server.shutdown().await;
}
