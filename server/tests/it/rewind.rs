//! `rewind`: a topic's latest messages first, then live ones, with no hole and no duplicate
//! at the seam; fewer when fewer are held; with `since`, `max_rate`, bars and the pre-roll.

use std::collections::BTreeMap;
use std::time::Duration;

use tickcast_proto::{RequestId, ServerMessage, Subscribe};

use crate::support::*;

const TOPIC: &str = "ticks.SYN0000";
const PUBLISH_TOKEN: &str = "pub-token";

fn rewind(topics: &[&str], n: u32) -> Subscribe {
    Subscribe {
        id: Some(RequestId::Num(1)),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        rewind: Some(n),
        ..Default::default()
    }
}

/// Reads `count` messages of `topic` after the ack: (seq, was it a snapshot, recovered).
async fn read_topic(c: &mut Client, topic: &str, count: usize) -> Vec<(u64, bool, Option<bool>)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        match c.recv().await {
            ServerMessage::Tick(t) if t.topic == topic => out.push((t.seq, false, None)),
            ServerMessage::Snapshot(s) if s.topic == topic => out.push((s.seq, true, s.recovered)),
            ServerMessage::Bar(b) if b.topic == topic => out.push((b.seq, false, b.recovered)),
            ServerMessage::Lagged(l) => panic!("no loss expected here: {l:?}"),
            _ => {}
        }
    }
    out
}

fn assert_contiguous(seqs: &[(u64, bool, Option<bool>)]) {
    for w in seqs.windows(2) {
        assert_eq!(
            w[1].0,
            w[0].0 + 1,
            "contiguous seq, no hole, no duplicate: {seqs:?}"
        );
    }
}

/// A server with no simulator whose `fx.EURUSD` has `n` published trades.
async fn published(n: u64, history: usize) -> (tickcast_server::Handle, Client) {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg.history = history;
    cfg.publish_token = Some(PUBLISH_TOKEN.into());
    let server = start(cfg).await;
    let (mut publisher, _) = connect_with_headers(
        server.addr(),
        &format!("Authorization: Bearer {PUBLISH_TOKEN}\r\n"),
    )
    .await;
    for i in 1..=n {
        publish_fx(&mut publisher, i).await;
    }
    (server, publisher)
}

#[tokio::test]
async fn rewind_hands_over_to_live_with_no_seam_under_a_fast_feed() {
    let server = start(config(1, 2_000.0)).await;
    let (mut warm, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut warm, &[TOPIC]).await;
    read_topic(&mut warm, TOPIC, 300).await; // the ring holds at least 300 now

    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(rewind(&[TOPIC], 200)).await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let got = read_topic(&mut c, TOPIC, 1_000).await;
    assert!(
        got[0].1,
        "the first message stands for its trade as a snapshot"
    );
    assert!(got[1..].iter().all(|m| !m.1), "then ticks only");
    assert_eq!(got[0].2, None);
    assert_contiguous(&got);
    server.shutdown().await;
}

#[tokio::test]
async fn rewind_larger_than_what_is_held_sends_everything_held_then_live() {
    let (server, mut publisher) = published(300, 100).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(rewind(&["fx.*"], 1_000)).await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let history = read_topic(&mut c, "fx.EURUSD", 100).await;
    assert_eq!(
        history.first().map(|m| m.0),
        Some(201),
        "the 100 held: 201..=300"
    );
    assert_eq!(history.last().map(|m| m.0), Some(300));
    assert_contiguous(&history);
    publish_fx(&mut publisher, 301).await;
    let live = read_topic(&mut c, "fx.EURUSD", 1).await;
    assert_eq!(live, [(301, false, None)], "live continues right after");
    server.shutdown().await;
}

#[tokio::test]
async fn rewind_smaller_than_what_is_held_sends_the_latest_n() {
    let (server, _publisher) = published(50, 1024).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(rewind(&["fx.EURUSD"], 10)).await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let got = read_topic(&mut c, "fx.EURUSD", 10).await;
    assert_eq!(
        got.iter().map(|m| m.0).collect::<Vec<_>>(),
        (41..=50).collect::<Vec<_>>()
    );
    // Nothing else follows until something is published.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), c.recv())
            .await
            .is_err(),
        "exactly N messages"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rewind_with_a_position_that_can_be_replayed_is_a_plain_replay() {
    let (server, _publisher) = published(50, 1024).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        since: Some(BTreeMap::from([(
            "fx.EURUSD".to_owned(),
            (welcome.epoch, 45),
        )])),
        ..rewind(&["fx.EURUSD"], 30)
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let got = read_topic(&mut c, "fx.EURUSD", 5).await;
    assert_eq!(
        got.iter().map(|m| (m.0, m.1)).collect::<Vec<_>>(),
        [
            (46, false),
            (47, false),
            (48, false),
            (49, false),
            (50, false)
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn rewind_with_a_position_that_cannot_be_served_announces_the_loss_then_history() {
    let (server, _publisher) = published(50, 1024).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        since: Some(BTreeMap::from([(
            "fx.EURUSD".to_owned(),
            (welcome.epoch - 1, 7),
        )])),
        ..rewind(&["fx.EURUSD"], 20)
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let got = read_topic(&mut c, "fx.EURUSD", 20).await;
    assert_eq!(
        got[0],
        (31, true, Some(false)),
        "one announcement: the first of the window"
    );
    assert!(got[1..].iter().all(|m| m.2.is_none() && !m.1));
    assert_contiguous(&got);
    assert_eq!(got[19].0, 50);
    server.shutdown().await;
}

#[tokio::test]
async fn rewind_is_not_paced_by_max_rate() {
    let server = start(config(1, 1_000.0)).await;
    let (mut warm, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut warm, &[TOPIC]).await;
    read_topic(&mut warm, TOPIC, 200).await;

    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        max_rate: Some(2),
        ..rewind(&[TOPIC], 150)
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let history = read_topic(&mut c, TOPIC, 150).await;
    assert_contiguous(&history);
    // Live messages after it are paced: a second brings at most a few, with seq jumps.
    let live = read_topic(&mut c, TOPIC, 2).await;
    assert!(live[0].0 > history[149].0);
    assert!(
        live[1].0 > live[0].0 + 1,
        "max_rate drops the messages in between: {live:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_reader_gets_the_whole_window_and_an_announced_live_part() {
    let mut cfg = config(1, 4_000.0);
    cfg.queue_bytes = 32 * 1024;
    cfg.socket_send_buffer = Some(16 * 1024);
    cfg.heartbeat = Duration::from_secs(5);
    let server = start(cfg).await;
    let (mut warm, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut warm, &[TOPIC]).await;
    read_topic(&mut warm, TOPIC, 1_000).await;
    drop(warm);

    let stream = connect_small_buffers(server.addr(), 8 * 1024).await;
    let mut c = Client::connect_on(stream, server.addr(), None).await;
    assert!(matches!(c.recv().await, ServerMessage::Welcome(_)));
    c.send(rewind(&[TOPIC], 1_000)).await;
    tokio::time::sleep(Duration::from_millis(800)).await; // ~3,200 live ticks pile up
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let history = read_topic(&mut c, TOPIC, 1_000).await;
    assert!(history[0].1);
    assert_contiguous(&history);
    // After the window, live ticks continue: in order, and any skip is announced by `lagged`.
    let mut last = history[999].0;
    let mut announced = false;
    for _ in 0..500 {
        match c.recv().await {
            ServerMessage::Lagged(_) => announced = true,
            ServerMessage::Tick(t) => {
                assert!(t.seq > last, "never back, never a duplicate");
                assert!(
                    t.seq == last + 1 || announced,
                    "a skip after the seam is announced"
                );
                announced = false;
                last = t.seq;
            }
            _ => {}
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_pre_rolled_server_has_full_bar_topics_from_the_start() {
    let mut cfg = config(2, 200.0);
    cfg.preroll = Duration::from_secs(20 * 60);
    let server = start(cfg).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    c.send(rewind(&["bars.1m.SYN0000", "bars.1s.SYN0000"], 100))
        .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let mut one_second = Vec::new();
    let mut one_minute = Vec::new();
    while one_second.len() < 100 || one_minute.len() < 19 {
        if let ServerMessage::Bar(b) = c.recv().await {
            assert_eq!(b.epoch, welcome.epoch);
            match b.interval_ms {
                1_000 => one_second.push(b),
                60_000 => one_minute.push(b),
                other => panic!("unexpected interval {other}"),
            }
        }
    }
    // Twenty minutes of past: at least 19 closed 1-minute bars, a minute apart.
    for w in one_minute.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert_eq!(w[1].ts - w[0].ts, 60_000_000_000);
        assert!(w[1].volume > 0 && w[1].trades > 0);
    }
    for w in one_second.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert!(w[1].ts > w[0].ts);
    }
    // The first live 1-second bars continue the last pre-rolled one: the next seq, a later
    // second, and no visible jump in price (open near the previous close).
    let Some(mut previous) = one_second.last().cloned() else {
        panic!("the window holds pre-rolled bars")
    };
    let mut live = 0;
    while live < 3 {
        if let ServerMessage::Bar(b) = c.recv().await
            && b.interval_ms == 1_000
        {
            assert_eq!(b.seq, previous.seq + 1, "no hole, no repeat at the seam");
            assert!(b.ts > previous.ts);
            assert!(
                (b.open / previous.close - 1.0).abs() < 0.01,
                "a jump at the seam: {previous:?} -> {b:?}"
            );
            assert!(b.low <= b.open && b.open <= b.high);
            if b.ts >= welcome.ts {
                live += 1;
            }
            previous = b;
        }
    }
    server.shutdown().await;
}
