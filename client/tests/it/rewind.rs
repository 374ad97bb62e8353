//! `rewind` against a real server: a topic's history, then live with contiguous seqs and no
//! reported gap; the history again after an unsubscribe and a subscribe of the topic while
//! it ticks; and a reconnect that resumes instead of rewinding.

use tickcast_client::{Client, ClientEvent, Publisher};
use tickcast_proto::ServerMessage;
use tokio::sync::mpsc;

use crate::support::{
    PUBLISH_TOKEN, Proxy, bounded, fast, next, quick, quiet_server, start, start_server, trade,
};

/// One message of a topic's seq stream, as received.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    kind: &'static str,
    topic: String,
    seq: u64,
    epoch: Option<u64>,
    price: f64,
}

/// The next `n` ticks, snapshots and bars (other messages skipped; a gap fails the test).
/// `Connected` events are counted into `connects`.
async fn seqs(events: &mut mpsc::Receiver<ClientEvent>, n: usize, connects: &mut u32) -> Vec<Seen> {
    let mut out = Vec::new();
    while out.len() < n {
        let seen = match next(events).await {
            ClientEvent::Message(ServerMessage::Snapshot(s)) => Seen {
                kind: "snapshot",
                topic: s.topic,
                seq: s.seq,
                epoch: Some(s.epoch),
                price: s.price,
            },
            ClientEvent::Message(ServerMessage::Tick(t)) => Seen {
                kind: "tick",
                topic: t.topic,
                seq: t.seq,
                epoch: None,
                price: t.price,
            },
            ClientEvent::Message(ServerMessage::Bar(b)) => Seen {
                kind: "bar",
                topic: b.topic,
                seq: b.seq,
                epoch: Some(b.epoch),
                price: b.close,
            },
            ClientEvent::Gap {
                topic,
                expected,
                got,
                cause,
                ..
            } => panic!("gap on {topic}: {expected:?}..{got} ({cause:?})"),
            ClientEvent::Connected { .. } => {
                *connects += 1;
                continue;
            }
            _ => continue,
        };
        out.push(seen);
    }
    out
}

fn assert_contiguous(seen: &[Seen]) {
    for w in seen.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "{:?} then {:?}", w[0], w[1]);
    }
}

async fn publish(publisher: &Publisher, topic: &str, trades: std::ops::Range<u64>) {
    let n = trades.end - trades.start;
    let before = publisher.stats().acked;
    for i in trades {
        publisher.publish(trade(topic, i)).await.expect("queued");
    }
    let stats = tokio::time::timeout(crate::support::LIMIT, publisher.flush())
        .await
        .expect("flushed in time");
    assert_eq!(stats.acked - before, n, "{stats:?}");
}

#[tokio::test]
async fn a_rewind_brings_history_then_live_with_contiguous_seqs() {
    bounded(async {
        let server = start(quiet_server()).await;
        let publisher = Publisher::spawn(quick(server.ws_url(), PUBLISH_TOKEN)).expect("spawn");
        publish(&publisher, "ticks.HIST", 0..100).await;

        let config = fast(server.ws_url(), &["ticks.HIST"]).rewind(30);
        let (client, mut events) = Client::spawn(config).expect("spawn");
        let mut connects = 0;
        let history = seqs(&mut events, 30, &mut connects).await;
        // A snapshot standing for trade 71 (the server's seq 71), then ticks 72..=100.
        assert_eq!((history[0].kind, history[0].seq), ("snapshot", 71));
        assert_eq!(history[0].price, trade("ticks.HIST", 70).price);
        assert!(history[0].epoch.is_some_and(|e| e > 0));
        assert!(history[1..].iter().all(|s| s.kind == "tick"), "{history:?}");
        assert_contiguous(&history);
        assert_eq!(history[29].seq, 100);

        // Then live, right after the seam.
        publish(&publisher, "ticks.HIST", 100..110).await;
        let live = seqs(&mut events, 10, &mut connects).await;
        assert_eq!(live[0].seq, 101);
        assert!(live.iter().all(|s| s.kind == "tick"));
        assert_contiguous(&live);
        assert_eq!(live[9].price, trade("ticks.HIST", 109).price);
        assert_eq!(connects, 1);

        client.shutdown().await;
        publisher.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn bar_history_runs_into_live_bars() {
    bounded(async {
        let server = start_server().await;
        // What the server has before the rewinding client exists.
        let (watcher, mut watched) =
            Client::spawn(fast(server.ws_url(), &["bars.1s.AAPL"])).expect("spawn");
        let mut connects = 0;
        let mut known = 0;
        while known < 7 {
            known = seqs(&mut watched, 1, &mut connects).await[0].seq;
        }
        watcher.shutdown().await;

        let config = fast(server.ws_url(), &["bars.1s.AAPL"]).rewind(6);
        let (client, mut events) = Client::spawn(config).expect("spawn");
        let bars = seqs(&mut events, 8, &mut connects).await;
        assert!(
            bars.iter()
                .all(|b| b.kind == "bar" && b.epoch.is_some_and(|e| e > 0))
        );
        assert_contiguous(&bars);
        // The first six were history: they ended at the bar the server had when it took
        // the subscribe (`known`, or a second or two later: a 1s bar a second).
        assert!(
            bars[0].seq + 5 >= known && bars[0].seq + 3 <= known,
            "{bars:?} after {known}"
        );
        client.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn subscribing_again_while_the_topic_ticks_brings_its_history_again() {
    bounded(async {
        let server = start_server().await;
        let config = fast(server.ws_url(), &["ticks.AAPL"]).rewind(20);
        let (client, mut events) = Client::spawn(config).expect("spawn");
        let mut connects = 0;
        let first = seqs(&mut events, 25, &mut connects).await;
        assert_eq!(first[0].kind, "snapshot");
        assert_contiguous(&first);
        let last = first[24].seq;

        // Back to back: ticks already on the way for the old subscription must not make
        // the new one's history look like duplicates.
        client.unsubscribe(&["ticks.AAPL"]).expect("queued");
        client
            .subscribe_rewind(&["ticks.AAPL"], 20)
            .expect("queued");
        // Ticks the client had taken in before the commands still come, in order; then
        // the history, from a snapshot standing for a trade already seen.
        let mut prev = last;
        let restart = loop {
            let s = seqs(&mut events, 1, &mut connects).await.remove(0);
            if s.kind == "snapshot" {
                break s;
            }
            assert_eq!(s.seq, prev + 1, "{s:?}");
            prev = s.seq;
        };
        assert!(
            restart.seq <= prev,
            "history again: {restart:?} after {prev}"
        );
        let mut again = vec![restart];
        again.extend(seqs(&mut events, 24, &mut connects).await);
        assert_contiguous(&again);
        client.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_reconnect_resumes_where_it_was_instead_of_rewinding() {
    bounded(async {
        let server = start(quiet_server()).await;
        let proxy = Proxy::start(server.addr()).await;
        let publisher = Publisher::spawn(quick(server.ws_url(), PUBLISH_TOKEN)).expect("spawn");
        publish(&publisher, "ticks.RES", 0..50).await;

        let config = fast(proxy.url(), &["ticks.RES"]).rewind(10);
        let (client, mut events) = Client::spawn(config).expect("spawn");
        let mut connects = 0;
        let history = seqs(&mut events, 10, &mut connects).await;
        assert_eq!((history[0].kind, history[0].seq), ("snapshot", 41));

        proxy.cut();
        loop {
            match next(&mut events).await {
                ClientEvent::Disconnected { .. } => break,
                ClientEvent::Message(ServerMessage::Tick(t)) => {
                    panic!("nothing was published: {t:?}")
                }
                _ => {}
            }
        }
        publish(&publisher, "ticks.RES", 50..60).await;
        // The missed ticks are replayed from seq 51: no second snapshot, no history again.
        let after = seqs(&mut events, 10, &mut connects).await;
        assert_eq!(connects, 2, "reconnected");
        assert!(after.iter().all(|s| s.kind == "tick"), "{after:?}");
        assert_eq!((after[0].seq, after[9].seq), (51, 60));
        assert_contiguous(&after);

        client.shutdown().await;
        publisher.shutdown().await;
        server.shutdown().await;
    })
    .await;
}
