//! Subscribe, unsubscribe, snapshots, patterns, list, ping, max_rate, bars, JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tickcast_proto::{
    Encoding, ErrorCode, List, Op, Ping, RequestId, ServerMessage, Subscribe, Unsubscribe,
};

use crate::support::*;

#[tokio::test]
async fn welcome_comes_first_and_describes_the_server() {
    let server = start(config(3, 100.0)).await;
    let (_c, welcome) = Client::connect_welcomed(server.addr()).await;
    assert_eq!(welcome.protocol, 1);
    assert_eq!(welcome.heartbeat_ms, 500);
    assert_eq!(welcome.max_message_bytes, 64 * 1024);
    assert!(welcome.epoch > 0 && welcome.ts >= welcome.epoch);
    server.shutdown().await;
}

#[tokio::test]
async fn exact_subscription_gets_snapshot_then_every_tick_in_order() {
    let server = start(config(3, 300.0)).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // let topics get data
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    let subs = subscribe(&mut c, &["ticks.SYN0001"]).await;
    assert_eq!(subs, vec!["ticks.SYN0001"]);
    let snap = match c.recv().await {
        ServerMessage::Snapshot(s) => s,
        other => panic!("expected snapshot, got {other:?}"),
    };
    assert_eq!(snap.topic, "ticks.SYN0001");
    assert_eq!(snap.epoch, welcome.epoch);
    assert_eq!(snap.recovered, None);
    assert!(snap.low <= snap.price && snap.price <= snap.high);
    assert!(snap.bid < snap.ask);
    let mut expect = snap.seq + 1;
    for _ in 0..20 {
        match c.recv().await {
            ServerMessage::Tick(t) => {
                assert_eq!(t.topic, "ticks.SYN0001", "only the subscribed topic");
                assert_eq!(t.seq, expect, "no gap, no duplicate");
                assert_eq!(t.symbol, "SYN0001");
                assert!(t.bid <= t.price && t.price <= t.ask);
                expect += 1;
            }
            other => panic!("expected tick, got {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn two_clients_on_different_patterns_get_exactly_their_topics() {
    let server = start(config(4, 400.0)).await;
    let (mut a, _) = Client::connect_welcomed(server.addr()).await;
    let (mut b, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut a, &["ticks.*"]).await;
    subscribe(&mut b, &["ticks.SYN0002", "ticks.SYN0003"]).await;
    let mut seen_a = BTreeSet::new();
    let mut seen_b = BTreeSet::new();
    let mut last_seq: BTreeMap<String, u64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    while (seen_a.len() < 4 || seen_b.len() < 2) && Instant::now() < deadline {
        let msg = a.recv().await;
        if let ServerMessage::Tick(t) = &msg {
            assert!(t.topic.starts_with("ticks."));
            seen_a.insert(t.topic.clone());
            // Per-topic order: strictly increasing by one after the first.
            if let Some(prev) = last_seq.insert(t.topic.clone(), t.seq) {
                assert_eq!(t.seq, prev + 1, "gap or duplicate on {}", t.topic);
            }
        }
        if let Some((topic, _)) = topic_seq(&b.recv().await) {
            seen_b.insert(topic.to_owned());
        }
    }
    assert_eq!(seen_a.len(), 4, "ticks.* matches every symbol: {seen_a:?}");
    assert_eq!(
        seen_b,
        BTreeSet::from(["ticks.SYN0002".to_owned(), "ticks.SYN0003".to_owned()])
    );
    server.shutdown().await;
}

#[tokio::test]
async fn overlapping_patterns_deliver_each_tick_once() {
    let server = start(config(2, 300.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    let subs = subscribe(&mut c, &["ticks.*", "ticks.SYN0000", "*.SYN0000"]).await;
    assert_eq!(subs.len(), 3);
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let mut ticks = 0;
    while ticks < 40 {
        if let ServerMessage::Tick(t) = c.recv().await {
            if let Some(prev) = last.insert(t.topic.clone(), t.seq) {
                assert_eq!(t.seq, prev + 1, "duplicate or gap on {}", t.topic);
            }
            ticks += 1;
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn unsubscribe_stops_delivery_after_the_ack() {
    let server = start(config(2, 400.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &["ticks.*"]).await;
    c.recv_until(|m| matches!(m, ServerMessage::Tick(_))).await;
    c.send(Unsubscribe {
        id: Some(RequestId::Text("u1".into())),
        topics: vec!["ticks.*".into(), "nope.x".into()],
    })
    .await;
    c.recv_until(|m| {
        matches!(m, ServerMessage::Ack(a) if a.op == Op::Unsubscribe
            && a.id == Some(RequestId::Text("u1".into())) && a.subscriptions.is_empty())
    })
    .await;
    // Nothing but heartbeats may follow now.
    c.send(Ping {
        id: Some(RequestId::Num(9)),
    })
    .await;
    match c.recv().await {
        ServerMessage::Pong(p) => assert_eq!(p.id, Some(RequestId::Num(9))),
        other => panic!("after unsubscribe only the pong may come, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn snapshot_false_skips_the_snapshot() {
    let server = start(config(1, 300.0)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        topics: vec!["ticks.SYN0000".into()],
        snapshot: false,
        ..Default::default()
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    assert!(
        matches!(c.recv().await, ServerMessage::Tick(_)),
        "a live tick, not a snapshot"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn list_and_ping_answer_with_the_request_id() {
    let server = start(config(3, 300.0)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(List {
        id: Some(RequestId::Num(5)),
        pattern: Some("ticks.*".into()),
    })
    .await;
    match c.recv().await {
        ServerMessage::Topics(t) => {
            assert_eq!(t.id, Some(RequestId::Num(5)));
            assert_eq!(
                t.topics,
                vec!["ticks.SYN0000", "ticks.SYN0001", "ticks.SYN0002"]
            );
        }
        other => panic!("expected topics, got {other:?}"),
    }
    c.send(List {
        id: Some(RequestId::Num(6)),
        pattern: Some("ticks.>.x".into()),
    })
    .await;
    match c.recv().await {
        ServerMessage::Error(e) => {
            assert_eq!(
                (e.id, e.code),
                (Some(RequestId::Num(6)), ErrorCode::BadTopic)
            );
        }
        other => panic!("expected bad_topic, got {other:?}"),
    }
    c.send(Ping {
        id: Some(RequestId::Text("p".into())),
    })
    .await;
    match c.recv().await {
        ServerMessage::Pong(p) => assert_eq!(p.id, Some(RequestId::Text("p".into()))),
        other => panic!("expected pong, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn max_rate_conflates_per_topic_newest_wins() {
    let server = start(config(1, 500.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        topics: vec!["ticks.SYN0000".into()],
        max_rate: Some(4),
        snapshot: false,
        ..Default::default()
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let start = Instant::now();
    let mut seqs = Vec::new();
    while start.elapsed() < Duration::from_millis(1500) {
        if let ServerMessage::Tick(t) = c.recv().await {
            seqs.push(t.seq);
        }
    }
    // 4/s for 1.5 s: about 6 deliveries (one extra for the first slot), not ~750.
    assert!(
        (3..=9).contains(&seqs.len()),
        "got {} ticks: {seqs:?}",
        seqs.len()
    );
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "still in order");
    assert!(
        seqs.windows(2).any(|w| w[1] > w[0] + 1),
        "conflated: seq jumps"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bars_close_every_second_with_consistent_ohlcv() {
    let server = start(config(1, 200.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &["bars.1s.*"]).await;
    let bar = c.recv_until(|m| matches!(m, ServerMessage::Bar(_))).await;
    let ServerMessage::Bar(bar) = bar else {
        unreachable!()
    };
    assert_eq!(bar.topic, "bars.1s.SYN0000");
    assert_eq!(bar.interval_ms, 1000);
    assert_eq!(bar.ts % 1_000_000_000, 0, "starts on a second boundary");
    assert!(bar.trades > 0 && bar.volume > 0);
    assert!(bar.low <= bar.open.min(bar.close) && bar.high >= bar.open.max(bar.close));
    server.shutdown().await;
}

#[tokio::test]
async fn json_subprotocol_speaks_the_same_messages_in_text_frames() {
    let server = start(config(1, 300.0)).await;
    let mut c = Client::connect_with(server.addr(), Some("tickcast.v1.json")).await;
    assert_eq!(c.encoding, Encoding::Json);
    let first = c.recv_frame().await.unwrap();
    assert_eq!(first.opcode, OP_TEXT);
    let text = String::from_utf8(first.payload).unwrap();
    assert!(text.starts_with("{\"type\":\"welcome\""), "{text}");
    subscribe(&mut c, &["ticks.*"]).await;
    let tick = c.recv_until(|m| matches!(m, ServerMessage::Tick(_))).await;
    assert!(matches!(tick, ServerMessage::Tick(t) if t.topic == "ticks.SYN0000"));
    server.shutdown().await;
}

#[tokio::test]
async fn msgpack_and_json_clients_see_identical_ticks() {
    let server = start(config(1, 300.0)).await;
    let (mut m, _) = Client::connect_welcomed(server.addr()).await;
    let mut j = Client::connect_with(server.addr(), Some("tickcast.v1.json")).await;
    j.recv().await;
    subscribe(&mut m, &["ticks.SYN0000"]).await;
    subscribe(&mut j, &["ticks.SYN0000"]).await;
    let mut from_m = BTreeMap::new();
    let mut from_j = BTreeMap::new();
    while from_m.len() < 30 {
        if let ServerMessage::Tick(t) = m.recv().await {
            from_m.insert(t.seq, t);
        }
    }
    while from_j.len() < 30 || from_j.keys().next_back() < from_m.keys().next_back() {
        if let ServerMessage::Tick(t) = j.recv().await {
            from_j.insert(t.seq, t);
        }
    }
    let common: Vec<_> = from_m.keys().filter(|s| from_j.contains_key(s)).collect();
    assert!(common.len() >= 20);
    for seq in common {
        assert_eq!(
            from_m[seq], from_j[seq],
            "seq {seq} differs between encodings"
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn subscribers_waiting_for_a_new_topic_get_its_first_trade_as_a_snapshot() {
    // One tick per second: the subscription is in place long before the first trade.
    let server = start(config(1, 1.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &["ticks.*"]).await;
    match c.recv().await {
        ServerMessage::Snapshot(s) => {
            assert_eq!(
                (s.topic.as_str(), s.seq, s.recovered),
                ("ticks.SYN0000", 1, None)
            );
            assert!(s.prev_close > 0.0 && s.open == s.price);
        }
        other => panic!("expected the first trade as a snapshot, got {other:?}"),
    }
    assert!(matches!(c.recv().await, ServerMessage::Tick(t) if t.seq == 2));
    server.shutdown().await;
}
