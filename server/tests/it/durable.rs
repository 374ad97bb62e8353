//! History that outlives the nodes, on a real `nats-server` with JetStream: a node started
//! after the feed began loads every topic's history from the stream before it reports
//! ready, serves the same messages (bytes, `seq`s, epochs) as a node that was up all along,
//! and a client that resumes on it with `since` from a position older than the node misses
//! nothing, and `rewind` gives it the window the early node holds; on three routed NATS
//! servers with the stream replicated, killing one loses nothing (the source publishes
//! again, in order, what the stream had not acknowledged). Skipped when
//! `nats-server` is missing, unless `TICKCAST_REQUIRE_NATS` is set.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use tickcast_proto::{ServerMessage, Subscribe};

use crate::cluster::{node_config, source_config, wait_ready};
use crate::support::*;

const TICKS: &str = "ticks.SYN0000";
const BARS: &str = "bars.1s.SYN0000";

/// A topic's history as `GET /history` serves it (JSON), by `seq`.
async fn history(addr: SocketAddr, topic: &str) -> BTreeMap<u64, serde_json::Value> {
    let (status, body) = http_get(addr, &format!("/history/{topic}?limit=100000")).await;
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["seq"].as_u64().unwrap(), m.clone()))
        .collect()
}

/// Over the range of `seq`s both nodes hold, they hold the same messages, identical (at
/// least `min`), and the late node reaches back to before `started` (the newest `seq` when
/// it started: it loaded history it was not up for).
fn assert_same_history(
    early: &BTreeMap<u64, serde_json::Value>,
    late: &BTreeMap<u64, serde_json::Value>,
    min: usize,
    started: u64,
) {
    let (Some((&e0, _)), Some((&l0, _))) = (early.first_key_value(), late.first_key_value()) else {
        panic!("both nodes hold history");
    };
    let (Some((&e1, _)), Some((&l1, _))) = (early.last_key_value(), late.last_key_value()) else {
        panic!("both nodes hold history");
    };
    assert!(
        e0.max(l0) <= e1.min(l1),
        "no history in common: {e0}..{e1} and {l0}..{l1}"
    );
    let range = e0.max(l0)..=e1.min(l1);
    let on_early: Vec<_> = early.range(range.clone()).collect();
    let on_late: Vec<_> = late.range(range).collect();
    assert!(on_early.len() >= min, "only {} in common", on_early.len());
    assert_eq!(on_early, on_late, "the nodes hold different histories");
    assert!(
        l0 < started,
        "the late node holds history from before it started ({l0} .. {started})"
    );
}

/// A history with no hole.
fn assert_no_hole(history: &BTreeMap<u64, serde_json::Value>) {
    let seqs: Vec<u64> = history.keys().copied().collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "a hole in {seqs:?}"
    );
}

/// The newest `seq` a node holds of `topic`.
async fn newest(addr: SocketAddr, topic: &str) -> u64 {
    *history(addr, topic).await.keys().last().expect("history")
}

#[tokio::test]
async fn a_late_node_loads_the_history_from_the_stream_and_serves_since() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let nats = NatsServer::start_jetstream(bin).await;
    let early = start(node_config(&nats.url())).await;
    wait_ready(early.addr(), true, WAIT).await;
    let source = start(source_config(&nats.url())).await;
    wait_ready(source.addr(), true, WAIT).await;

    // A client follows the topic on the early node, then leaves.
    let (mut c, _) = Client::connect_welcomed(early.addr()).await;
    subscribe(&mut c, &[TICKS]).await;
    let epoch = match c.recv().await {
        ServerMessage::Snapshot(s) => s.epoch,
        other => panic!("expected the snapshot, got {other:?}"),
    };
    let mut last = 0;
    while last < 30 {
        if let ServerMessage::Tick(t) = c.recv().await {
            last = t.seq;
        }
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(2_500)).await; // two 1 s bars close meanwhile

    // A node started now was not up for any of it.
    let (ticks_before, bars_before) = (
        newest(early.addr(), TICKS).await,
        newest(early.addr(), BARS).await,
    );
    let late = start(node_config(&nats.url())).await;
    wait_ready(late.addr(), true, WAIT).await;
    // Once ready, it holds what the early node holds, identical (the live feed goes on:
    // compare what both hold).
    for (topic, min, before) in [(TICKS, 200, ticks_before), (BARS, 2, bars_before)] {
        let late_history = history(late.addr(), topic).await;
        assert_same_history(
            &history(early.addr(), topic).await,
            &late_history,
            min,
            before,
        );
        assert_no_hole(&late_history);
    }

    // The client comes back on the late node with its position: replayed, then live.
    let (mut c, _) = Client::connect_welcomed(late.addr()).await;
    c.send(Subscribe {
        topics: vec![TICKS.into()],
        since: Some(BTreeMap::from([(TICKS.to_owned(), (epoch, last))])),
        ..Default::default()
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let mut expect = last + 1;
    while expect < last + 300 {
        match c.recv().await {
            ServerMessage::Tick(t) => {
                assert_eq!(
                    t.seq, expect,
                    "the late node replays from its ring, then live"
                );
                expect += 1;
            }
            ServerMessage::Snapshot(s) => panic!("the late node should have recovered: {s:?}"),
            _ => {}
        }
    }
    drop(c);

    // `rewind` on the late node: a window of bars from before it started, the same as the
    // early node holds, then live bars with no seam.
    let newest_then = newest(late.addr(), BARS).await;
    let (mut c, _) = Client::connect_welcomed(late.addr()).await;
    c.send(Subscribe {
        topics: vec![BARS.into()],
        rewind: Some(1_000), // more than it holds: all of it
        ..Default::default()
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let mut bars = Vec::new();
    while bars
        .last()
        .is_none_or(|b: &tickcast_proto::Bar| b.seq < newest_then + 2)
    {
        if let ServerMessage::Bar(b) = c.recv().await {
            bars.push(b);
        }
    }
    assert!(
        bars[0].seq < bars_before,
        "the window reaches back before the node started"
    );
    assert!(
        bars.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "{bars:?}"
    );
    let on_early = history(early.addr(), BARS).await;
    for bar in bars.iter().filter(|b| b.seq <= newest_then) {
        let held = &on_early[&bar.seq];
        assert_eq!(
            (
                held["ts"].as_u64(),
                held["close"].as_f64(),
                held["epoch"].as_u64()
            ),
            (Some(bar.ts), Some(bar.close), Some(bar.epoch)),
            "the late node's window differs from the early node's history"
        );
    }
    for node in [late, source, early] {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn a_stream_on_three_nats_servers_loses_nothing_when_one_dies() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let mut nats = NatsCluster::start(bin).await;
    // JetStream elects its leader a moment after the servers start.
    let election = Duration::from_secs(40);
    // Every node is given every NATS server, as a deployment does: it connects to one and
    // moves to another when that one dies.
    let urls = nats.urls();
    let on = |config_of: fn(&str) -> tickcast_server::Config| {
        let mut cfg = config_of(&urls);
        cfg.stream_replicas = 3;
        cfg
    };
    let early = start(on(node_config)).await;
    wait_ready(early.addr(), true, election).await;
    let source = start(on(source_config)).await;
    wait_ready(source.addr(), true, election).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    // A NATS server dies: the nodes on it go on through another one.
    nats.servers[0].kill();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let late = start(on(node_config)).await;
    wait_ready(late.addr(), true, election).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    // The feed ends; both nodes carry on to its last message (a reader that was on the
    // dead server is made again on another one) and then hold the same history.
    source.shutdown().await;
    let stopped = Instant::now();
    let (early_ticks, late_ticks) = loop {
        let (e, l) = (
            history(early.addr(), TICKS).await,
            history(late.addr(), TICKS).await,
        );
        if e.keys().last().is_some() && e.keys().last() == l.keys().last() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if history(early.addr(), TICKS).await == e && history(late.addr(), TICKS).await == l {
                break (e, l);
            }
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(60),
            "the nodes did not carry on"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "both nodes had the feed's last message {:?} after it stopped",
        stopped.elapsed()
    );
    // Identical, and with no hole: what the source had in flight to the dead server, or
    // sent while the stream elected a new leader, was unacknowledged and published again
    // in order. (That a node loads what it was not up for is the test above.)
    assert_same_history(&early_ticks, &late_ticks, 200, u64::MAX);
    assert_no_hole(&early_ticks);
    assert_no_hole(&late_ticks);

    nats.servers[0].restart().await;
    for node in [late, early] {
        node.shutdown().await;
    }
}
