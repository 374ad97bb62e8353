//! `since` recovery: replay from the ring with no gap and no duplicate, or an honest
//! `recovered: false` snapshot.

use std::collections::BTreeMap;
use std::time::Duration;

use tickcast_proto::{ServerMessage, Subscribe};

use crate::support::*;

const TOPIC: &str = "ticks.SYN0000";

async fn read_until_seq(c: &mut Client, at_least: u64) -> u64 {
    loop {
        if let Some((TOPIC, seq)) = topic_seq(&c.recv().await) {
            if seq >= at_least {
                return seq;
            }
        }
    }
}

#[tokio::test]
async fn reconnect_with_since_ends_with_the_complete_sequence() {
    let server = start(config(1, 300.0)).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &[TOPIC]).await;
    let last = read_until_seq(&mut c, 10).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(400)).await; // ~120 ticks happen meanwhile

    let (mut c, welcome2) = Client::connect_welcomed(server.addr()).await;
    assert_eq!(welcome2.epoch, welcome.epoch);
    c.send(Subscribe {
        topics: vec![TOPIC.into()],
        since: Some(BTreeMap::from([(TOPIC.to_owned(), (welcome.epoch, last))])),
        ..Default::default()
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let mut expect = last + 1;
    // Well past the replayed part into live ticks.
    while expect < last + 200 {
        match c.recv().await {
            ServerMessage::Tick(t) => {
                assert_eq!(t.seq, expect, "replay then live, without gap or duplicate");
                expect += 1;
            }
            ServerMessage::Snapshot(s) => panic!("recovery should not need a snapshot: {s:?}"),
            _ => {}
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn since_up_to_date_sends_nothing_extra() {
    let server = start(config(1, 50.0)).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &[TOPIC]).await;
    let seq = read_until_seq(&mut c, 2).await;
    // Same connection, same topic: the subscription is already live, nothing is replayed.
    c.send(Subscribe {
        topics: vec![TOPIC.into()],
        since: Some(BTreeMap::from([(TOPIC.to_owned(), (welcome.epoch, seq))])),
        ..Default::default()
    })
    .await;
    let mut expect = seq + 1;
    for _ in 0..5 {
        match c.recv().await {
            ServerMessage::Ack(_) => {}
            ServerMessage::Tick(t) => {
                assert_eq!(t.seq, expect);
                expect += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn lost_history_or_other_epoch_gives_recovered_false() {
    let mut cfg = config(1, 400.0);
    cfg.history = 8;
    let server = start(cfg).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &[TOPIC]).await;
    let last = read_until_seq(&mut c, 2).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await; // far more than 8 ticks

    for epoch in [welcome.epoch, welcome.epoch + 1] {
        let (mut c, _) = Client::connect_welcomed(server.addr()).await;
        c.send(Subscribe {
            topics: vec![TOPIC.into()],
            since: Some(BTreeMap::from([(TOPIC.to_owned(), (epoch, last))])),
            snapshot: false,
            ..Default::default()
        })
        .await;
        assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
        match c.recv().await {
            ServerMessage::Snapshot(s) => {
                assert_eq!(s.recovered, Some(false), "epoch {epoch}");
                assert_eq!(s.epoch, welcome.epoch);
                assert!(s.seq > last + 8);
                // Live ticks continue from the snapshot.
                let next = c.recv_until(|m| matches!(m, ServerMessage::Tick(_))).await;
                assert!(matches!(next, ServerMessage::Tick(t) if t.seq > s.seq));
            }
            other => panic!("expected a recovered:false snapshot, got {other:?}"),
        }
    }
    server.shutdown().await;
}
