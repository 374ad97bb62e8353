//! History that outlives the nodes, on a real `nats-server` with JetStream: a node started
//! after the feed began loads every topic's history from the stream before it reports
//! ready, serves the same messages (bytes, `seq`s, epochs) as a node that was up all along,
//! and a client that resumes on it with `since` from a position older than the node misses
//! nothing. Skipped when `nats-server` is missing, unless `TICKCAST_REQUIRE_NATS` is set.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

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

/// `late` holds every message `early` holds from `early`'s first on, identical, with no
/// hole; at least `min` of them.
fn assert_holds(
    early: &BTreeMap<u64, serde_json::Value>,
    late: &BTreeMap<u64, serde_json::Value>,
    min: usize,
) {
    let first = *early.keys().next().expect("the early node holds history");
    let common: Vec<_> = early
        .iter()
        .filter(|(seq, _)| late.contains_key(seq))
        .collect();
    assert!(common.len() >= min, "only {} in common", common.len());
    assert!(
        late.contains_key(&first),
        "the late node holds the first message ({first})"
    );
    for (seq, msg) in common {
        assert_eq!(Some(msg), late.get(seq), "seq {seq}");
    }
    let seqs: Vec<u64> = late.keys().copied().collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no hole in the late node's history"
    );
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
    let late = start(node_config(&nats.url())).await;
    wait_ready(late.addr(), true, WAIT).await;
    // Once ready, it holds what the early node holds, identical (the live feed goes on:
    // compare what both hold).
    assert_holds(
        &history(early.addr(), TICKS).await,
        &history(late.addr(), TICKS).await,
        200,
    );
    assert_holds(
        &history(early.addr(), BARS).await,
        &history(late.addr(), BARS).await,
        2,
    );

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
    for node in [late, source, early] {
        node.shutdown().await;
    }
}
