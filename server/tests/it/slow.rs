//! Slow consumers: bounded memory, no harm to others, `lagged` or 1008.

use std::time::{Duration, Instant};

use tickcast_proto::ServerMessage;
use tickcast_server::SlowConsumer;
use tokio::net::TcpSocket;

use crate::support::*;

/// A client whose kernel receive buffer is tiny, so the server's queue fills fast.
async fn stingy_client(addr: std::net::SocketAddr) -> Client {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    Client::connect_on(stream, addr, None).await
}

fn slow_config(policy: SlowConsumer) -> tickcast_server::Config {
    let mut cfg = config(4, 8000.0);
    cfg.queue_bytes = 32 * 1024;
    cfg.socket_send_buffer = Some(16 * 1024);
    cfg.slow_consumer = policy;
    cfg.heartbeat = Duration::from_secs(5);
    cfg
}

#[tokio::test]
async fn a_stalled_client_is_conflated_and_never_slows_a_fast_one() {
    let mut cfg = slow_config(SlowConsumer::Conflate);
    // 256 KiB: the stalled client (~480 KB/s of ticks) passes it in half a second, and the
    // fast one (a quarter of that) has 2 s of slack when CI's 2 cores starve its task.
    cfg.queue_bytes = 256 * 1024;
    let server = start(cfg).await;
    let addr = server.addr();
    let mut slow = stingy_client(addr).await;
    slow.recv().await; // welcome
    subscribe(&mut slow, &["ticks.*"]).await;
    let (mut fast, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut fast, &["ticks.SYN0000"]).await;

    // The slow client reads nothing for 2.5 s; the fast one keeps up, gap-free.
    let started = Instant::now();
    let mut last = None;
    let mut fast_ticks = 0u64;
    while started.elapsed() < Duration::from_millis(2500) {
        match fast.recv().await {
            ServerMessage::Tick(t) => {
                if let Some(prev) = last {
                    assert_eq!(t.seq, prev + 1, "the fast client lost a tick");
                }
                last = Some(t.seq);
                fast_ticks += 1;
            }
            ServerMessage::Lagged(l) => panic!("the fast client must not lag: {l:?}"),
            _ => {}
        }
    }
    // ~2,000 ticks/s for this symbol; the fast client must have seen most of them.
    assert!(fast_ticks > 2000, "fast client got only {fast_ticks} ticks");
    assert!(
        metric(addr, "tickcast_conflated_total").await > 0,
        "the slow client was conflated"
    );

    // Once it reads again it learns it lagged, and then gets the newest values.
    let lagged = slow
        .recv_until(|m| matches!(m, ServerMessage::Lagged(_)))
        .await;
    let ServerMessage::Lagged(lagged) = lagged else {
        unreachable!()
    };
    assert!(lagged.dropped > 0);
    assert!(!lagged.topics.is_empty());
    assert!(lagged.topics.iter().all(|t| t.starts_with("ticks.")));
    server.shutdown().await;
}

#[tokio::test]
async fn disconnect_policy_closes_a_stalled_client_with_1008() {
    let server = start(slow_config(SlowConsumer::Disconnect)).await;
    let addr = server.addr();
    let mut slow = stingy_client(addr).await;
    slow.recv().await;
    subscribe(&mut slow, &["ticks.*"]).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(slow.recv_close().await, Some(1008));
    assert!(metric(addr, "tickcast_slow_consumer_closes_total").await >= 1);
    // The server still serves others.
    let (mut other, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut other, &["ticks.SYN0001"]).await;
    other
        .recv_until(|m| matches!(m, ServerMessage::Tick(_)))
        .await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_takes_no_bytes_is_dropped_and_others_go_on() {
    let mut cfg = slow_config(SlowConsumer::Conflate);
    cfg.heartbeat = Duration::from_millis(100);
    // The bystander takes all 8,000 ticks/s; a 32 KiB queue is 70 ms of them, less than a
    // busy 2-core CI machine can stall a test task (it lagged there once). 1 MiB is 2 s;
    // the stuck client stalls on its full socket whatever its queue holds.
    cfg.queue_bytes = 1024 * 1024;
    let server = start(cfg).await;
    let addr = server.addr();
    let mut stuck = stingy_client(addr).await;
    stuck.recv().await; // welcome
    subscribe(&mut stuck, &["ticks.*"]).await;
    let bystander = Bystander::start(addr).await;
    // From here on `stuck` never reads. Its socket fills, the server's write to it cannot
    // finish, and it is dropped after the stall timeout (3 x heartbeat + 5 s): no close
    // frame can reach a peer that takes no bytes.
    let started = Instant::now();
    loop {
        if metric(addr, "tickcast_connections").await == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the stalled connection was not dropped"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "dropped before the stall timeout"
    );
    bystander.finish().await;
    drop(stuck);
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_reader_that_keeps_taking_bytes_is_not_cut_off() {
    use tokio::io::AsyncReadExt;
    let mut cfg = slow_config(SlowConsumer::Conflate);
    cfg.heartbeat = Duration::from_millis(100); // stall timeout: 3 x 0.1 s + 5 s
    cfg.queue_bytes = 64 * 1024;
    cfg.socket_send_buffer = Some(4096);
    let server = start(cfg).await;
    let addr = server.addr();
    let mut slow = stingy_client(addr).await;
    slow.recv().await; // welcome
    subscribe(&mut slow, &["ticks.*"]).await;
    // ~4 KiB/s for 8 s: one write of a full queue (64 KiB) takes far longer than the stall
    // timeout, but bytes keep moving, so the connection must stay. Pings keep it from
    // looking idle.
    let started = Instant::now();
    let mut chunk = [0u8; 800];
    while started.elapsed() < Duration::from_secs(8) {
        let n = tokio::time::timeout(WAIT, slow.stream.read(&mut chunk))
            .await
            .expect("bytes keep coming")
            .unwrap();
        assert!(
            n > 0,
            "the server dropped a slow reader after {:?}",
            started.elapsed()
        );
        slow.send_frame(true, OP_PING, b"k", true).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metric(addr, "tickcast_connections").await, 1);
    server.shutdown().await;
}
