//! Book topics across a cluster on a real `nats-server`: the source's book changes reach
//! every node, which serve identical `book_update` bytes and `seq`s at every depth; a node
//! started late builds the same book from the source's whole book; a client that moves to
//! it keeps a correct book. Skipped when `nats-server` is missing, unless
//! `TICKCAST_REQUIRE_NATS` is set (then it fails).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use tickcast_proto::{RequestId, ServerMessage, Subscribe};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use crate::books::Local;
use crate::cluster::{Cluster, next, node_config, record, source_config, wait_ready};
use crate::support::*;

const TOPIC: &str = "book.SYN0000";

/// What one subscriber saw: its book after every message (by `seq`) and the frame of
/// every update.
#[derive(Default)]
struct Seen {
    book: Option<Local>,
    books: HashMap<u64, Local>,
    updates: HashMap<u64, Vec<u8>>,
}

async fn book_subscriber(
    addr: SocketAddr,
    depth: u32,
) -> UnboundedReceiver<(ServerMessage, Vec<u8>)> {
    let (mut c, _) = Client::connect_welcomed(addr).await;
    c.send(Subscribe {
        id: Some(RequestId::Num(1)),
        topics: vec![TOPIC.into()],
        depth: Some(depth),
        ..Default::default()
    })
    .await;
    record(c).0
}

/// Reads until `updates` more updates were applied (each checked: `prev_seq` chains, the
/// checksum verifies).
async fn follow(
    rx: &mut UnboundedReceiver<(ServerMessage, Vec<u8>)>,
    seen: &mut Seen,
    updates: usize,
) {
    let mut applied = 0;
    while applied < updates {
        match next(rx).await {
            (ServerMessage::Book(b), _) if b.topic == TOPIC => {
                assert_eq!(b.recovered, None, "no loss on a healthy cluster: {b:?}");
                let local = Local::from_book(&b);
                seen.books.insert(local.seq, local.clone());
                seen.book = Some(local);
            }
            (ServerMessage::BookUpdate(u), frame) if u.topic == TOPIC => {
                let local = seen.book.as_mut().expect("a book before its updates");
                local.apply(&u);
                seen.books.insert(local.seq, local.clone());
                seen.updates.insert(u.seq, frame);
                applied += 1;
            }
            _ => {}
        }
    }
}

/// Both saw the same frames for every update both saw (at least `min` of them).
fn assert_same_updates(a: &Seen, b: &Seen, min: usize) {
    let mut common = 0;
    for (seq, frame) in &a.updates {
        if let Some(other) = b.updates.get(seq) {
            assert_eq!(frame, other, "seq {seq}: the nodes sent different updates");
            common += 1;
        }
    }
    assert!(
        common >= min,
        "only {common} updates in common (want {min})"
    );
}

#[tokio::test]
async fn books_reach_every_node_identical_and_a_late_node_builds_the_same_book() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let cluster = Cluster::start_with(bin, |url| {
        let mut cfg = source_config(url);
        if let Some(sim) = cfg.simulator.as_mut() {
            sim.books = true;
        }
        cfg
    })
    .await;
    let mut a10 = book_subscriber(cluster.a.addr(), 10).await;
    let mut b10 = book_subscriber(cluster.b.addr(), 10).await;
    let mut a50 = book_subscriber(cluster.a.addr(), 50).await;
    let mut b50 = book_subscriber(cluster.b.addr(), 50).await;
    let (mut on_a10, mut on_b10, mut on_a50, mut on_b50) = Default::default();
    follow(&mut a10, &mut on_a10, 40).await;
    follow(&mut b10, &mut on_b10, 40).await;
    follow(&mut a50, &mut on_a50, 40).await;
    follow(&mut b50, &mut on_b50, 40).await;
    assert_same_updates(&on_a10, &on_b10, 20);
    assert_same_updates(&on_a50, &on_b50, 20);

    // A node started now has missed every change so far: it builds the book from the
    // source's next whole book, and from then serves what the others serve.
    let late = start(node_config(&cluster.nats.url())).await;
    wait_ready(late.addr(), true, WAIT).await;
    let mut c10 = book_subscriber(late.addr(), 10).await;
    let mut on_c10 = Seen::default();
    follow(&mut c10, &mut on_c10, 40).await;
    let first = on_c10.books.keys().min().copied().expect("a book");
    // A's subscriber reaches the late node's first seq; both books agree there.
    let deadline = Instant::now() + Duration::from_secs(10);
    while on_a10.book.as_ref().is_some_and(|b| b.seq < first) {
        assert!(Instant::now() < deadline, "node A fell behind");
        follow(&mut a10, &mut on_a10, 1).await;
    }
    assert_eq!(
        on_a10.books.get(&first),
        on_c10.books.get(&first),
        "the late node's book at seq {first} is node A's"
    );
    follow(&mut a10, &mut on_a10, 40).await;
    assert_same_updates(&on_a10, &on_c10, 20);

    // A client moving from node B to the late node: a fresh book there, which is the book
    // node B's subscriber had at the same seq.
    drop(b10);
    let mut moved = book_subscriber(late.addr(), 10).await;
    let mut on_moved = Seen::default();
    follow(&mut moved, &mut on_moved, 5).await;
    let moved_first = on_moved.books.keys().min().copied().expect("a book");
    while on_c10.book.as_ref().is_some_and(|b| b.seq < moved_first) {
        follow(&mut c10, &mut on_c10, 1).await;
    }
    assert_eq!(
        on_c10.books.get(&moved_first),
        on_moved.books.get(&moved_first)
    );

    late.shutdown().await;
    cluster.shutdown().await;
}
