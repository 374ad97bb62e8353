//! Order books against a real server (its simulator trades and quotes books): a book
//! followed through its updates equals a fresh subscriber's at the same seq, every checksum
//! verifying; depth 5 is the top of depth 25 at every change; a depth change and a
//! reconnect each bring a fresh book, with no gap.

use std::collections::BTreeMap;

use tickcast_client::{Client, ClientEvent, OrderBook};
use tickcast_proto::{ServerMessage, book::Level};
use tokio::sync::mpsc;

use crate::support::{Proxy, bounded, fast, next, start_server};

const TOPIC: &str = "book.AAPL";

/// A client following [`TOPIC`] and keeping its book: every update must apply (the chain
/// and the checksum, checked again here), and a resync or a gap fails the test.
struct Follower {
    client: Client,
    events: mpsc::Receiver<ClientEvent>,
    book: Option<OrderBook>,
    books: usize,
    connects: usize,
}

/// What a book holds, to compare two of them.
type Levels = (Vec<Level>, Vec<Level>);

fn levels(book: &OrderBook, n: usize) -> Levels {
    let top = |side: &[Level]| side.iter().take(n).copied().collect();
    (top(book.bids()), top(book.asks()))
}

impl Follower {
    fn spawn(url: String, depth: u32) -> Self {
        let config = fast(url, &[TOPIC]).depth(depth);
        let (client, events) = Client::spawn(config).expect("spawn");
        Self {
            client,
            events,
            book: None,
            books: 0,
            connects: 0,
        }
    }

    /// Waits for the next book message; returns the book after it.
    async fn step(&mut self) -> &OrderBook {
        loop {
            match next(&mut self.events).await {
                ClientEvent::Message(ServerMessage::Book(b)) => {
                    assert_eq!(b.topic, TOPIC);
                    let book = OrderBook::from_book(&b);
                    assert_eq!(book.verify(b.checksum), Ok(()));
                    self.books += 1;
                    return self.book.insert(book);
                }
                ClientEvent::Message(ServerMessage::BookUpdate(u)) => {
                    let book = self.book.as_mut().expect("a book before its updates");
                    assert_eq!(book.apply(&u), Ok(()), "{u:?}");
                    return book;
                }
                ClientEvent::BookResync { topic, seq, fault } => {
                    panic!("resync of {topic} at {seq}: {fault}")
                }
                ClientEvent::Gap {
                    topic,
                    expected,
                    got,
                    cause,
                    ..
                } => panic!("gap on {topic}: {expected:?}..{got} ({cause:?})"),
                ClientEvent::Connected { .. } => self.connects += 1,
                _ => {}
            }
        }
    }

    /// Follows `updates` more messages; the book's levels (top `n`) by seq.
    async fn record(&mut self, messages: usize, n: usize, into: &mut BTreeMap<u64, Levels>) {
        for _ in 0..messages {
            let book = self.step().await;
            into.insert(book.seq(), levels(book, n));
        }
    }
}

#[tokio::test]
async fn a_followed_book_equals_a_fresh_one_at_the_same_seq() {
    bounded(async {
        let server = start_server().await;
        let mut old = Follower::spawn(server.ws_url(), 10);
        let mut seen = BTreeMap::new();
        old.record(40, 10, &mut seen).await;

        let mut fresh = Follower::spawn(server.ws_url(), 10);
        let book = fresh.step().await.clone();
        assert_eq!(book.depth(), 10);
        assert!(!book.bids().is_empty() && !book.asks().is_empty());
        while old.book.as_ref().is_some_and(|b| b.seq() < book.seq()) {
            old.record(1, 10, &mut seen).await;
        }
        assert_eq!(
            seen.get(&book.seq()),
            Some(&levels(&book, 10)),
            "at seq {}",
            book.seq()
        );
        assert_eq!(old.books, 1, "updates only after the first book");
        fresh.client.shutdown().await;
        old.client.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn depth_5_is_the_top_of_depth_25_at_every_change() {
    bounded(async {
        let server = start_server().await;
        let mut deep = Follower::spawn(server.ws_url(), 25);
        let mut five = Follower::spawn(server.ws_url(), 5);
        let mut shallow = BTreeMap::new();
        five.record(30, 5, &mut shallow).await;
        let last = shallow.keys().last().copied().unwrap_or_default();
        let mut deeper = BTreeMap::new();
        while deep.book.as_ref().is_none_or(|b| b.seq() < last) {
            deep.record(1, 5, &mut deeper).await;
        }
        let deep_book = deep.book.clone().expect("a book");
        assert_eq!(
            (five.book.as_ref().map(OrderBook::depth), deep_book.depth()),
            (Some(5), 25)
        );
        assert!(shallow.values().all(|(b, a)| b.len() <= 5 && a.len() <= 5));
        assert!(
            deep_book.bids().len().max(deep_book.asks().len()) > 5,
            "the simulator's book is deeper than 5"
        );
        // Every change at depth 5 is one at depth 25 too: same seq, same top 5.
        let first_deep = deeper.keys().next().copied().unwrap_or(u64::MAX);
        let mut compared = 0;
        for (seq, top) in shallow.iter().filter(|(s, _)| **s >= first_deep) {
            assert_eq!(deeper.get(seq), Some(top), "at seq {seq}");
            compared += 1;
        }
        assert!(compared >= 10, "{compared} seqs compared");
        five.client.shutdown().await;
        deep.client.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_depth_change_and_a_reconnect_each_bring_a_fresh_book() {
    bounded(async {
        let server = start_server().await;
        let proxy = Proxy::start(server.addr()).await;
        let mut f = Follower::spawn(proxy.url(), 5);
        f.record(10, 5, &mut BTreeMap::new()).await;
        f.client.subscribe_depth(&[TOPIC], 25).expect("subscribe");
        while f.books < 2 {
            f.step().await;
        }
        assert_eq!(f.book.as_ref().map(OrderBook::depth), Some(25));
        f.record(10, 25, &mut BTreeMap::new()).await;
        proxy.cut();
        while f.books < 3 {
            f.step().await;
        }
        assert_eq!(f.connects, 2);
        assert_eq!(
            f.book.as_ref().map(OrderBook::depth),
            Some(25),
            "resubscribed at the depth it had"
        );
        f.record(10, 25, &mut BTreeMap::new()).await;
        f.client.shutdown().await;
        server.shutdown().await;
    })
    .await;
}
