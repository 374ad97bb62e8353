//! The publisher against a real server: ticks reach subscribers with the server's seq, over
//! `ws://` and `wss://`; refusals are counted or final; it reconnects after a cut.

use tickcast_client::{Client, ClientEvent, PublishStats, Publisher, PublisherState};
use tickcast_proto::{ServerMessage, Tick};
use tokio::{sync::mpsc, time::timeout};

use crate::support::{
    LIMIT, PUBLISH_TOKEN, Pki, Proxy, bounded, closed_port, fast, next, quick, quiet_server, start,
    tls_config, trade,
};

/// Subscribes to `pattern` and waits for the ack, so nothing published later is missed.
async fn subscriber(
    url: String,
    pki: Option<&Pki>,
    pattern: &str,
) -> (Client, mpsc::Receiver<ClientEvent>) {
    let mut config = fast(url, &[pattern]);
    if let Some(pki) = pki {
        config = config.ca_cert(&pki.ca);
    }
    let (client, mut events) = Client::spawn(config).expect("spawn subscriber");
    loop {
        if let ClientEvent::Message(ServerMessage::Ack(_)) = next(&mut events).await {
            return (client, events);
        }
    }
}

/// The next `n` trades. A topic's first trade reaches subscribers that were waiting for it
/// as a `snapshot`; it counts as a trade here.
async fn ticks(events: &mut mpsc::Receiver<ClientEvent>, n: usize) -> Vec<Tick> {
    let mut out = Vec::new();
    while out.len() < n {
        match next(events).await {
            ClientEvent::Message(ServerMessage::Tick(t)) => out.push(t),
            ClientEvent::Message(ServerMessage::Snapshot(s)) => out.push(s.trade()),
            ClientEvent::Message(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

async fn flushed(publisher: &Publisher) -> PublishStats {
    match timeout(LIMIT, publisher.flush()).await {
        Ok(stats) => stats,
        Err(_) => panic!(
            "not flushed in time: {:?} ({:?})",
            publisher.stats(),
            *publisher.state().borrow()
        ),
    }
}

async fn wait_for_state(
    publisher: &Publisher,
    want: impl Fn(&PublisherState) -> bool,
) -> PublisherState {
    let mut state = publisher.state();
    let found = timeout(LIMIT, state.wait_for(|s| want(s)))
        .await
        .expect("state in time")
        .expect("publisher task alive");
    found.clone()
}

/// Publishes 50 trades on `ticks.TEST` and checks what a subscriber sees.
async fn round_trip(url: String, pki: Option<&Pki>) {
    let (sub, mut events) = subscriber(url.clone(), pki, "ticks.TEST").await;
    let mut config = quick(url, PUBLISH_TOKEN);
    if let Some(pki) = pki {
        config = config.ca_cert(&pki.ca);
    }
    let publisher = Publisher::spawn(config).expect("spawn publisher");
    for i in 0..50 {
        publisher
            .publish(trade("ticks.TEST", i))
            .await
            .expect("queued");
    }
    let stats = flushed(&publisher).await;
    assert_eq!(
        (
            stats.queued,
            stats.sent,
            stats.acked,
            stats.rejected,
            stats.unanswered
        ),
        (50, 50, 50, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.connections, 1);
    let seen = ticks(&mut events, 50).await;
    for (i, t) in seen.iter().enumerate() {
        let sent = trade("ticks.TEST", i as u64);
        assert_eq!(t.seq, i as u64 + 1, "the server assigns seq 1, 2, ...");
        assert!(t.ts > 0, "the server stamps ts");
        assert_eq!(
            (t.symbol.as_str(), t.price, t.size),
            ("TEST", sent.price, sent.size)
        );
        assert_eq!((Some(t.bid), Some(t.ask)), (sent.bid, sent.ask));
    }
    let stats = publisher.shutdown().await;
    assert_eq!(stats.discarded, 0);
    sub.shutdown().await;
}

#[tokio::test]
async fn published_ticks_reach_subscribers_with_server_seq() {
    bounded(async {
        let server = start(quiet_server()).await;
        round_trip(server.ws_url(), None).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn publishes_over_wss() {
    bounded(async {
        let pki = Pki::new(&["127.0.0.1"]);
        let server = start(tickcast_server::Config {
            simulator: None,
            ..tls_config(&pki)
        })
        .await;
        assert!(server.ws_url().starts_with("wss://"));
        round_trip(server.ws_url(), Some(&pki)).await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn invalid_trades_are_rejected_and_counted_without_stopping() {
    bounded(async {
        let server = start(quiet_server()).await;
        let publisher = Publisher::spawn(quick(server.ws_url(), PUBLISH_TOKEN)).expect("spawn");
        let mut crossed = trade("ticks.TEST", 0);
        crossed.bid = Some(crossed.price + 1.0);
        publisher.publish(crossed).await.expect("queued");
        publisher
            .publish(trade("bad..topic", 0))
            .await
            .expect("queued");
        publisher
            .publish(trade("ticks.TEST", 1))
            .await
            .expect("queued");
        let stats = flushed(&publisher).await;
        assert_eq!((stats.acked, stats.rejected), (1, 2), "{stats:?}");
        let last = stats.last_error.unwrap_or_default();
        assert!(last.starts_with("bad_topic: "), "{last}");
        assert!(matches!(
            *publisher.state().borrow(),
            PublisherState::Connected { .. }
        ));
        publisher.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_connection_without_the_publisher_role_stops_the_publisher() {
    bounded(async {
        let server = start(tickcast_server::Config {
            subscribe_token: Some("sub-only".into()),
            ..quiet_server()
        })
        .await;
        let publisher = Publisher::spawn(quick(server.ws_url(), "sub-only")).expect("spawn");
        for i in 0..3 {
            publisher
                .publish(trade("ticks.TEST", i))
                .await
                .expect("queued");
        }
        let state = wait_for_state(&publisher, PublisherState::is_stopped).await;
        let PublisherState::Disconnected { reason, .. } = state else {
            unreachable!()
        };
        assert!(reason.contains("forbidden"), "{reason}");
        let stats = flushed(&publisher).await;
        assert!(
            stats.settled() && stats.acked == 0 && stats.rejected >= 1,
            "{stats:?}"
        );
        assert_eq!(stats.connections, 1, "no reconnect");
        assert!(publisher.publish(trade("ticks.TEST", 9)).await.is_err());
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_wrong_token_is_final() {
    bounded(async {
        let server = start(quiet_server()).await;
        let publisher = Publisher::spawn(quick(server.ws_url(), "wrong")).expect("spawn");
        let state = wait_for_state(&publisher, PublisherState::is_stopped).await;
        let PublisherState::Disconnected { reason, .. } = state else {
            unreachable!()
        };
        assert!(reason.contains("401"), "{reason}");
        assert_eq!(publisher.stats().connections, 0);
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn reconnects_after_a_cut_and_keeps_publishing() {
    bounded(async {
        let server = start(quiet_server()).await;
        let proxy = Proxy::start(server.addr()).await;
        let (sub, mut events) = subscriber(server.ws_url(), None, "ticks.TEST").await;
        let publisher = Publisher::spawn(quick(proxy.url(), PUBLISH_TOKEN)).expect("spawn");
        for i in 0..10 {
            publisher
                .publish(trade("ticks.TEST", i))
                .await
                .expect("queued");
        }
        assert_eq!(flushed(&publisher).await.acked, 10);

        proxy.cut();
        wait_for_state(&publisher, |s| {
            matches!(
                s,
                PublisherState::Disconnected {
                    retry_in: Some(_),
                    ..
                }
            )
        })
        .await;
        wait_for_state(&publisher, |s| {
            matches!(s, PublisherState::Connected { .. })
        })
        .await;
        for i in 10..20 {
            publisher
                .publish(trade("ticks.TEST", i))
                .await
                .expect("queued");
        }
        let stats = flushed(&publisher).await;
        assert_eq!(
            (stats.acked, stats.unanswered, stats.connections),
            (20, 0, 2),
            "{stats:?}"
        );
        let seqs: Vec<u64> = ticks(&mut events, 20).await.iter().map(|t| t.seq).collect();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
        publisher.shutdown().await;
        sub.shutdown().await;
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn while_unreachable_it_retries_queues_and_drops_past_the_queue() {
    bounded(async {
        let mut config = quick(
            format!("ws://127.0.0.1:{}/ws", closed_port()),
            PUBLISH_TOKEN,
        );
        config.queue_capacity = 2;
        let publisher = Publisher::spawn(config).expect("spawn");
        wait_for_state(&publisher, |s| {
            matches!(
                s,
                PublisherState::Disconnected {
                    retry_in: Some(_),
                    ..
                }
            )
        })
        .await;
        assert!(publisher.try_publish(trade("ticks.TEST", 0)).is_ok());
        assert!(publisher.try_publish(trade("ticks.TEST", 1)).is_ok());
        assert!(publisher.try_publish(trade("ticks.TEST", 2)).is_err());
        let stats = publisher.shutdown().await;
        assert_eq!(
            (stats.queued, stats.dropped, stats.sent, stats.discarded),
            (2, 1, 0, 2),
            "{stats:?}"
        );
        assert!(stats.settled());
    })
    .await;
}
