//! The subscriber against a real server (reconnect + `since` recovery through a cut
//! proxy) and against scripted fakes (close-code advice, dead connections, gaps, token).

use std::{collections::BTreeMap, time::Duration};

use tickcast_client::{Client, ClientConfig, ClientEvent, GapCause};
use tickcast_proto::{ServerMessage, Tick};
use tokio::time::timeout;

use crate::support::{
    LIMIT, Proxy, Step, bounded, closed_port, fake_server, fast, next, start_server, welcome,
};

#[tokio::test]
async fn subscribes_and_receives_ticks_from_a_real_server() {
    bounded(async {
        let server = start_server().await;
        let (client, mut events) =
            Client::spawn(fast(server.ws_url(), &["ticks.*"])).expect("spawn");
        assert_eq!(
            next(&mut events).await,
            ClientEvent::Connecting { attempt: 1 }
        );
        match next(&mut events).await {
            ClientEvent::Connected { addr, welcome, .. } => {
                assert_eq!(addr, server.addr());
                assert_eq!(welcome.protocol, 1);
            }
            other => panic!("expected Connected, got {other:?}"),
        }
        let mut ticks = 0;
        while ticks < 20 {
            match next(&mut events).await {
                ClientEvent::Message(ServerMessage::Tick(t)) => {
                    assert!(t.topic.starts_with("ticks."));
                    ticks += 1;
                }
                ClientEvent::Message(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        client.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reconnects_and_recovers_missed_ticks_with_since() {
    bounded(async {
        let server = start_server().await;
        let proxy = Proxy::start(server.addr()).await;
        let (client, mut events) = Client::spawn(fast(proxy.url(), &["ticks.*"])).expect("spawn");
        let mut last: BTreeMap<String, u64> = BTreeMap::new();
        let mut connected = 0;
        let mut ticks = 0;
        let mut ticks_after_reconnect = 0;
        while ticks_after_reconnect < 200 {
            match next(&mut events).await {
                ClientEvent::Connected { .. } => connected += 1,
                ClientEvent::Message(ServerMessage::Tick(t)) => {
                    if let Some(prev) = last.insert(t.topic.clone(), t.seq) {
                        assert_eq!(
                            t.seq,
                            prev + 1,
                            "{} skipped from {prev} to {}",
                            t.topic,
                            t.seq
                        );
                    }
                    ticks += 1;
                    if ticks == 100 {
                        // Break the connection; the server keeps the history.
                        proxy.cut();
                    }
                    if connected >= 2 {
                        ticks_after_reconnect += 1;
                    }
                }
                ClientEvent::Message(ServerMessage::Snapshot(s)) => {
                    // After the reconnect, known topics are replayed, not snapshotted.
                    let known = last.insert(s.topic.clone(), s.seq).is_some();
                    assert!(
                        !(connected >= 2 && known),
                        "snapshot instead of replay: {s:?}"
                    );
                }
                ClientEvent::Gap {
                    topic,
                    expected,
                    got,
                    ..
                } => panic!("gap on {topic}: {expected:?}..{got}"),
                ClientEvent::Disconnected { retry_in, .. } => assert!(retry_in.is_some()),
                _ => {}
            }
        }
        assert_eq!(connected, 2);
        client.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_4001_close_is_final_and_the_token_is_passed_through() {
    bounded(async {
        let fake = fake_server(vec![Step::Close(4001, "unauthorized")]).await;
        let config = fast(fake.url(), &["ticks.*"]).token(Some("s3cret".into()));
        let (_client, mut events) = Client::spawn(config).expect("spawn");
        assert_eq!(
            next(&mut events).await,
            ClientEvent::Connecting { attempt: 1 }
        );
        match next(&mut events).await {
            ClientEvent::Disconnected { reason, retry_in } => {
                assert_eq!(retry_in, None);
                assert!(reason.contains("4001"), "{reason}");
            }
            other => panic!("expected Disconnected, got {other:?}"),
        }
        assert!(
            timeout(LIMIT, events.recv())
                .await
                .expect("closes")
                .is_none()
        );
        let seen = fake.seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 1, "no retry after 4001");
        assert_eq!(seen[0].uri, "/ws?token=s3cret");
        assert_eq!(seen[0].authorization.as_deref(), Some("Bearer s3cret"));
        assert_eq!(seen[0].protocol.as_deref(), Some("tickcast.v1.msgpack"));
    })
    .await;
}

fn tick(seq: u64) -> ServerMessage {
    ServerMessage::Tick(Tick {
        topic: "ticks.ZZ".into(),
        seq,
        ts: 1,
        symbol: "ZZ".into(),
        price: 1.0,
        ..Tick::default()
    })
}

#[tokio::test]
async fn gaps_are_reported_and_silence_means_dead() {
    bounded(async {
        let fake = fake_server(vec![
            Step::Send(welcome(50)),
            Step::Send(tick(1)),
            Step::Send(tick(2)),
            Step::Send(tick(2)),
            Step::Send(tick(5)),
            Step::Silence,
        ])
        .await;
        let (_client, mut events) = Client::spawn(fast(fake.url(), &["ticks.*"])).expect("spawn");
        let mut seqs = Vec::new();
        loop {
            match next(&mut events).await {
                ClientEvent::Message(ServerMessage::Tick(t)) => seqs.push(t.seq),
                ClientEvent::Gap {
                    topic,
                    expected,
                    got,
                    cause,
                    ..
                } => {
                    assert_eq!(
                        (topic.as_str(), expected, got, cause),
                        ("ticks.ZZ", Some(3), 5, GapCause::SeqJump)
                    );
                    seqs.push(0);
                }
                ClientEvent::Disconnected { reason, retry_in } => {
                    assert!(reason.contains("no message for 150 ms"), "{reason}");
                    assert!(retry_in.is_some());
                    break;
                }
                _ => {}
            }
        }
        // The duplicate 2 is dropped; the gap comes right before 5.
        assert_eq!(seqs, [1, 2, 0, 5]);
        // It reconnects, resuming from seq 5 of epoch 7.
        loop {
            if let ClientEvent::Connected { .. } = next(&mut events).await {
                break;
            }
        }
        assert!(fake.seen.lock().expect("lock").len() >= 2);
    })
    .await;
}

#[tokio::test]
async fn shutdown_advice_and_rebalance_close_codes_set_the_delay() {
    bounded(async {
        let fake = fake_server(vec![
            Step::Send(welcome(1000)),
            Step::Send(ServerMessage::Shutdown(tickcast_proto::Shutdown {
                reason: "maintenance".into(),
                reconnect_after_ms: 300,
            })),
            Step::Close(1001, "going away"),
        ])
        .await;
        let (_client, mut events) = Client::spawn(fast(fake.url(), &["ticks.*"])).expect("spawn");
        loop {
            match next(&mut events).await {
                ClientEvent::Message(ServerMessage::Shutdown(s)) => {
                    assert_eq!(s.reconnect_after_ms, 300)
                }
                ClientEvent::Disconnected { retry_in, .. } => {
                    let d = retry_in.expect("1001 is retryable");
                    // The server's delay, spread by at most a tenth plus half the minimum backoff.
                    assert!(
                        d >= Duration::from_millis(300) && d <= Duration::from_millis(340),
                        "{d:?}"
                    );
                    break;
                }
                _ => {}
            }
        }

        let fake = fake_server(vec![
            Step::Send(welcome(1000)),
            Step::Close(4200, "rebalance"),
        ])
        .await;
        let (_client, mut events) = Client::spawn(fast(fake.url(), &["ticks.*"])).expect("spawn");
        loop {
            if let ClientEvent::Disconnected { retry_in, .. } = next(&mut events).await {
                assert_eq!(retry_in, Some(Duration::ZERO), "4200 means reconnect now");
                break;
            }
        }
    })
    .await;
}

#[tokio::test]
async fn refused_connections_back_off_and_retry() {
    bounded(async {
        let port = closed_port();
        let (_client, mut events) =
            Client::spawn(fast(format!("ws://127.0.0.1:{port}/ws"), &["ticks.*"])).expect("spawn");
        let mut attempts = 0;
        while attempts < 3 {
            match next(&mut events).await {
                ClientEvent::Connecting { attempt } => {
                    attempts += 1;
                    assert_eq!(attempt, attempts);
                }
                ClientEvent::Disconnected { retry_in, .. } => {
                    let d = retry_in.expect("refused is retryable");
                    assert!(d <= Duration::from_millis(200));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn invalid_configs_are_rejected_up_front() {
    bounded(async {
        assert!(Client::spawn(ClientConfig::new("http://x/ws")).is_err());
        assert!(Client::spawn(ClientConfig::new("ws://x/ws").patterns(["bad..topic"])).is_err());
        assert!(
            Client::spawn(ClientConfig::new("ws://x/ws").patterns(Vec::<String>::new())).is_err()
        );
    })
    .await;
}
