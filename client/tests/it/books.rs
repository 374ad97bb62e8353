//! Order books: a wrong book (a crafted bad checksum, from a scripted fake) is subscribed
//! again at its depth, and the updates that come before the fresh book are dropped.

use tickcast_client::{BookFault, Client, ClientEvent, OrderBook};
use tickcast_proto::{Ack, Book, BookUpdate, ClientMessage, Op, ServerMessage, book::checksum};

use crate::support::{Step, bounded, fake_server, fast, next, welcome};

/// The `book` of PROTOCOL.md section 7, at depth 5, with `seq`.
fn book(seq: u64) -> Book {
    Book {
        topic: "book.AAPL".into(),
        seq,
        epoch: 7,
        ts: 1,
        symbol: "AAPL".into(),
        tick_size: 0.01,
        depth: 5,
        bids: vec![(187.22, 300), (187.21, 500), (187.2, 1200)],
        asks: vec![(187.24, 200), (187.25, 800)],
        checksum: 2_671_309_628,
        recovered: None,
    }
}

/// Its `book_update` (best bid removed, a bid and an ask added), after `prev_seq`.
fn update(seq: u64, prev_seq: u64) -> BookUpdate {
    BookUpdate {
        topic: "book.AAPL".into(),
        seq,
        prev_seq,
        ts: 2,
        symbol: "AAPL".into(),
        bids: vec![(187.22, 0), (187.19, 400)],
        asks: vec![(187.23, 100)],
        checksum: 922_130_848,
    }
}

fn ack(op: Op) -> ServerMessage {
    ServerMessage::Ack(Ack {
        id: None,
        op,
        topics: vec!["book.AAPL".into()],
        subscriptions: vec!["book.AAPL".into()],
    })
}

#[tokio::test]
async fn a_bad_checksum_is_subscribed_again_for_a_fresh_book() {
    bounded(async {
        let bad = BookUpdate {
            checksum: 17,
            ..update(815, 812)
        };
        let fake = fake_server(vec![
            Step::Send(welcome(1000)),
            Step::Read(1),
            Step::Send(ack(Op::Subscribe)),
            Step::Send(ServerMessage::Book(book(812))),
            Step::Send(ServerMessage::BookUpdate(bad)),
            // Already on its way when the client subscribed again: dropped.
            Step::Send(ServerMessage::BookUpdate(update(816, 815))),
            Step::Read(1),
            Step::Send(ack(Op::Subscribe)),
            Step::Send(ServerMessage::Book(book(900))),
            Step::Send(ServerMessage::BookUpdate(update(903, 900))),
            Step::Silence,
        ])
        .await;
        let config = fast(fake.url(), &["book.AAPL"]).depth(5);
        let (client, mut events) = Client::spawn(config).expect("spawn");
        let mut books: Vec<u64> = Vec::new();
        let mut held: Option<OrderBook> = None;
        let mut resyncs = Vec::new();
        while held.as_ref().is_none_or(|b| b.seq() != 903) {
            match next(&mut events).await {
                ClientEvent::Message(ServerMessage::Book(b)) => {
                    books.push(b.seq);
                    held = Some(OrderBook::from_book(&b));
                }
                ClientEvent::Message(ServerMessage::BookUpdate(u)) => {
                    let book = held.as_mut().expect("a book first");
                    assert_eq!(book.apply(&u), Ok(()), "only verified updates pass");
                }
                ClientEvent::BookResync { topic, seq, fault } => {
                    assert_eq!(topic, "book.AAPL");
                    resyncs.push((seq, fault));
                }
                ClientEvent::Gap { .. } => panic!("a resync is not reported as a gap"),
                _ => {}
            }
        }
        assert_eq!(books, [812, 900]);
        assert_eq!(
            resyncs,
            [(
                815,
                BookFault::Checksum {
                    expected: 17,
                    computed: 922_130_848
                }
            )]
        );
        assert_eq!(held.map(|b| b.checksum()), Some(922_130_848));
        let sent = fake.received.lock().expect("lock").clone();
        let summary: Vec<String> = sent
            .iter()
            .map(|m| match m {
                ClientMessage::Subscribe(s) => format!("+{}@{:?}", s.topics.join(","), s.depth),
                ClientMessage::Unsubscribe(u) => format!("-{}", u.topics.join(",")),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            summary,
            ["+book.AAPL@Some(5)", "+book.AAPL@Some(5)"],
            "the same depth again"
        );
        client.shutdown().await;
    })
    .await;
}

#[test]
fn the_good_update_verifies() {
    // The fixtures above are the protocol's: the good update verifies.
    let mut book = OrderBook::from_book(&book(812));
    assert_eq!(book.apply(&update(815, 812)), Ok(()));
    assert_eq!(
        book.checksum(),
        checksum(book.bids(), book.asks(), book.tick_size())
    );
}
