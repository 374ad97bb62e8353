//! Parked connections: a quiet connection gives up its task, and still gets its
//! keepalives, its answers and every live message, in order.

use std::time::Duration;

use tickcast_proto::{RequestId, ServerMessage, Subscribe, decode_server};

use crate::support::*;

const TOKEN: &str = "pub-token";
const PARKED: &str = "tickcast_parked_connections";
const UNPARKED: &str = "tickcast_unparked_total";

#[tokio::test]
async fn quiet_connections_park_and_wake_for_keepalives_requests_and_data() {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    // 500 ms: the publisher, silent while the others are checked, has 1.5 s before the
    // idle close.
    cfg.heartbeat = Duration::from_millis(500);
    cfg.publish_token = Some(TOKEN.into());
    let server = start(cfg).await;
    let addr = server.addr();
    let (mut sub, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut sub, &["fx.*"]).await;
    // Greeted and answered, with nothing to deliver: it parks.
    wait_for_metric(addr, PARKED, 1).await;

    // Parked, it still gets heartbeats and pings, and its pongs are taken without
    // giving it a task: they keep it open past the idle timeout (3 intervals).
    let unparked = metric(addr, UNPARKED).await;
    let (mut heartbeats, mut pings) = (0, 0);
    while heartbeats < 3 || pings < 1 {
        let f = sub.recv_frame().await.expect("open");
        match f.opcode {
            OP_PING => {
                pings += 1;
                sub.send_frame(true, OP_PONG, &f.payload, true).await;
            }
            OP_BINARY => {
                let msg = decode_server(sub.encoding, &f.payload).unwrap();
                assert!(matches!(msg, ServerMessage::Heartbeat(_)), "{msg:?}");
                heartbeats += 1;
            }
            other => panic!("unexpected opcode {other}"),
        }
    }
    wait_for_metric(addr, PARKED, 1).await;
    assert_eq!(
        metric(addr, UNPARKED).await,
        unparked,
        "no task for heartbeats, pings or pongs"
    );

    // A request wakes it and is answered.
    sub.send(Subscribe {
        id: Some(RequestId::Num(2)),
        topics: vec!["ticks.*".into()],
        ..Default::default()
    })
    .await;
    match sub.recv().await {
        ServerMessage::Ack(a) => assert_eq!(a.id, Some(RequestId::Num(2))),
        other => panic!("expected the ack, got {other:?}"),
    }
    wait_for_metric(addr, PARKED, 1).await;
    assert!(
        metric(addr, UNPARKED).await > unparked,
        "a request gets a task"
    );

    // Live data wakes it: every trade, in order. The publisher, which gets only acks,
    // parks as well, and so does the subscriber once the trades stop.
    let (mut publisher, _) =
        connect_with_headers(addr, &format!("Authorization: Bearer {TOKEN}\r\n")).await;
    for i in 1..=20u64 {
        publish_fx(&mut publisher, i).await;
    }
    let mut seqs = Vec::new();
    while seqs.len() < 20 {
        match sub.recv().await {
            ServerMessage::Tick(t) if t.topic == "fx.EURUSD" => seqs.push(t.seq),
            ServerMessage::Snapshot(s) if s.topic == "fx.EURUSD" => seqs.push(s.seq),
            other => panic!("expected trades of fx.EURUSD, got {other:?}"),
        }
    }
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<u64>>(),
        "every trade, in order"
    );
    wait_for_metric(addr, PARKED, 2).await;
    assert_eq!(metric(addr, "tickcast_connections").await, 2);

    // A parked connection still closes on shutdown, with the notice first.
    let stopping = tokio::spawn(server.shutdown());
    for c in [&mut sub, &mut publisher] {
        c.recv_until(|m| matches!(m, ServerMessage::Shutdown(_)))
            .await;
    }
    stopping.await.unwrap();
}
