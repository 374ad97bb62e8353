//! Heartbeats, idle peers and graceful shutdown.

use std::time::Duration;

use tickcast_proto::{ServerMessage, close, decode_server};

use crate::support::*;

#[tokio::test]
async fn quiet_connections_get_heartbeats_and_server_pings() {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg.heartbeat = Duration::from_millis(200);
    let server = start(cfg).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    let (mut heartbeat, mut ping) = (false, false);
    while !(heartbeat && ping) {
        let f = c.recv_frame().await.expect("open");
        match f.opcode {
            OP_PING => {
                ping = true;
                c.send_frame(true, OP_PONG, &f.payload, true).await;
            }
            OP_BINARY => {
                let msg = decode_server(c.encoding, &f.payload).unwrap();
                assert!(matches!(msg, ServerMessage::Heartbeat(_)), "{msg:?}");
                heartbeat = true;
            }
            other => panic!("unexpected opcode {other}"),
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_peer_that_never_answers_is_closed_with_idle_timeout() {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg.heartbeat = Duration::from_millis(100);
    let server = start(cfg).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    // recv_close reads frames without answering pings.
    assert_eq!(c.recv_close().await, Some(close::IDLE_TIMEOUT));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_sends_shutdown_then_close_1001() {
    let server = start(config(2, 200.0)).await;
    let (mut a, _) = Client::connect_welcomed(server.addr()).await;
    let (mut b, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut a, &["ticks.*"]).await;
    let stopping = tokio::spawn(server.shutdown());
    for c in [&mut a, &mut b] {
        let msg = c
            .recv_until(|m| matches!(m, ServerMessage::Shutdown(_)))
            .await;
        let ServerMessage::Shutdown(s) = msg else {
            unreachable!()
        };
        assert!(s.reconnect_after_ms > 0);
        assert_eq!(c.recv_close().await, Some(close::GOING_AWAY));
    }
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("shutdown is bounded")
        .unwrap();
}

#[tokio::test]
async fn reuse_port_lets_processes_share_a_port() {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg.reuse_port = true;
    let first = start(cfg.clone()).await;
    cfg.listen = first.addr();
    let second = start(cfg.clone()).await;
    assert_eq!(second.addr(), first.addr());
    // A server that does not ask to share the port cannot take it.
    cfg.reuse_port = false;
    let refused = tickcast_server::spawn(cfg).await;
    assert!(
        matches!(refused, Err(tickcast_server::ServerError::Bind { .. })),
        "{refused:?}"
    );
    // With the first gone, the port still serves: the second was listening on it too.
    first.shutdown().await;
    for _ in 0..8 {
        let (_c, welcome) = Client::connect_welcomed(second.addr()).await;
        assert_eq!(welcome.protocol, tickcast_proto::PROTOCOL_VERSION);
    }
    second.shutdown().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_out_the_grace_period_when_everyone_is_gone() {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg.shutdown_grace = Duration::from_secs(30);
    let server = start(cfg).await;
    // One connection that parks, then leaves: nothing is left for the server to wait on.
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &["fx.*"]).await;
    wait_for_metric(server.addr(), "tickcast_parked_connections", 1).await;
    drop(c);
    wait_for_metric(server.addr(), "tickcast_connections", 0).await;
    tokio::time::timeout(Duration::from_secs(10), server.shutdown())
        .await
        .expect("shut down long before the 30 s grace period");
}
