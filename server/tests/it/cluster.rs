//! Cluster mode on a real `nats-server`: two nodes and a source node (the embedded
//! simulator) deliver identical frames, a client can move between nodes with `since`, and
//! a NATS restart is survived. Skipped when `nats-server` is missing, unless
//! `TICKCAST_REQUIRE_NATS` is set (then it fails).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use tickcast_proto::{Encoding, ServerMessage, Subscribe, decode_server};
use tickcast_server::{Config, Handle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

use crate::support::*;

const TOPIC: &str = "ticks.SYN0000";
const BARS: &str = "bars.1s.SYN0000";
/// Upper bound for a node to notice NATS going away or coming back (async-nats backs
/// off up to 4 s between attempts).
const RECOVERY: Duration = Duration::from_secs(20);

/// A cluster node without a simulator: it serves what NATS delivers.
pub(crate) fn node_config(nats: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        simulator: None,
        nats: Some(nats.to_owned()),
        heartbeat: Duration::from_millis(500),
        shutdown_grace: Duration::from_millis(500),
        ..Config::default()
    }
}

/// The node whose embedded simulator feeds the cluster: 2 symbols, 100 ticks/s each.
pub(crate) fn source_config(nats: &str) -> Config {
    Config {
        nats: Some(nats.to_owned()),
        ..config(2, 200.0)
    }
}

/// Two serving nodes and a source node on one NATS server.
pub(crate) struct Cluster {
    pub(crate) nats: NatsServer,
    pub(crate) a: Handle,
    pub(crate) b: Handle,
    source: Handle,
}

impl Cluster {
    pub(crate) async fn start(bin: std::path::PathBuf) -> Self {
        Self::start_with(bin, source_config).await
    }

    /// Starts the two nodes, then a source node configured by `source`.
    pub(crate) async fn start_with(
        bin: std::path::PathBuf,
        source: impl Fn(&str) -> Config,
    ) -> Self {
        let nats = NatsServer::start(bin).await;
        let a = start(node_config(&nats.url())).await;
        let b = start(node_config(&nats.url())).await;
        let source = start(source(&nats.url())).await;
        for node in [&a, &b, &source] {
            wait_ready(node.addr(), true, WAIT).await;
        }
        Self { nats, a, b, source }
    }

    pub(crate) async fn shutdown(self) {
        for node in [self.a, self.b, self.source] {
            node.shutdown().await;
        }
        drop(self.nats);
    }
}

/// Polls `/healthz` until it says `ready` (HTTP 200) or not (HTTP 503).
pub(crate) async fn wait_ready(addr: SocketAddr, ready: bool, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = http_get(addr, "/healthz").await;
        let health: serde_json::Value = serde_json::from_str(&body).unwrap();
        if health["ready"] == ready {
            assert_eq!(status, if ready { 200 } else { 503 }, "{body}");
            assert_eq!(health["broker"], "nats", "{body}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} did not become ready={ready} within {limit:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `client` in its own task (answering pings, so it stays connected however long
/// the test looks elsewhere) and forwards every message with its frame's bytes. The task
/// panics if the server closes the connection.
pub(crate) fn record(
    mut client: Client,
) -> (
    mpsc::UnboundedReceiver<(ServerMessage, Vec<u8>)>,
    JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let frame = client
                .recv_frame()
                .await
                .expect("the node keeps the connection");
            match frame.opcode {
                OP_PING => client.send_frame(true, OP_PONG, &frame.payload, true).await,
                OP_BINARY => match decode_server(Encoding::MsgPack, &frame.payload).unwrap() {
                    ServerMessage::Heartbeat(_) => {}
                    msg => {
                        if tx.send((msg, frame.payload)).is_err() {
                            return;
                        }
                    }
                },
                OP_CLOSE => panic!("the node closed the connection: {:?}", frame.close_code()),
                other => panic!("unexpected opcode {other}"),
            }
        }
    });
    (rx, task)
}

/// Connects to `addr`, subscribes to `topics` and records the connection.
pub(crate) async fn subscriber(
    addr: SocketAddr,
    topics: &[&str],
) -> (
    mpsc::UnboundedReceiver<(ServerMessage, Vec<u8>)>,
    JoinHandle<()>,
) {
    let (mut c, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut c, topics).await;
    record(c)
}

/// The next message a recorder got (panics after [`WAIT`]).
pub(crate) async fn next(
    rx: &mut mpsc::UnboundedReceiver<(ServerMessage, Vec<u8>)>,
) -> (ServerMessage, Vec<u8>) {
    timeout(WAIT, rx.recv())
        .await
        .expect("a message within the time limit")
        .expect("the recorder is running")
}

/// The next tick of [`TOPIC`]: its seq and frame bytes.
async fn next_tick(rx: &mut mpsc::UnboundedReceiver<(ServerMessage, Vec<u8>)>) -> (u64, Vec<u8>) {
    loop {
        if let (ServerMessage::Tick(t), bytes) = next(rx).await {
            if t.topic == TOPIC {
                return (t.seq, bytes);
            }
        }
    }
}

/// Asserts that `ticks` are consecutive by seq.
fn assert_contiguous(node: &str, ticks: &[(u64, Vec<u8>)]) {
    for pair in ticks.windows(2) {
        assert_eq!(
            pair[1].0,
            pair[0].0 + 1,
            "{node}: a gap or duplicate by seq"
        );
    }
}

/// Asserts that both nodes sent the same bytes for every seq both sent, and that there
/// are at least `min` such seqs.
fn assert_same_frames(a: &[(u64, Vec<u8>)], b: &[(u64, Vec<u8>)], min: usize) {
    let b: HashMap<u64, &Vec<u8>> = b.iter().map(|(s, f)| (*s, f)).collect();
    let mut common = 0;
    for (seq, frame) in a {
        if let Some(other) = b.get(seq) {
            assert_eq!(frame, *other, "seq {seq}: the nodes sent different frames");
            common += 1;
        }
    }
    assert!(common >= min, "only {common} seqs in common (want {min})");
}

#[tokio::test]
async fn two_nodes_deliver_identical_ticks_and_bars() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let cluster = Cluster::start(bin).await;
    let (mut on_a, task_a) = subscriber(cluster.a.addr(), &[TOPIC, BARS]).await;
    let (mut on_b, task_b) = subscriber(cluster.b.addr(), &[TOPIC, BARS]).await;
    let prev_close = tickcast_simulator::Market::new(source_config("").simulator.unwrap())
        .unwrap()
        .instruments()
        .iter()
        .find(|i| i.symbol == "SYN0000")
        .unwrap()
        .price;

    let mut snapshots = Vec::new();
    let mut ticks = [Vec::new(), Vec::new()];
    let mut bars = [Vec::new(), Vec::new()];
    // Until both have two bars (about 2 s) and 100 ticks.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bars.iter().any(|b| b.len() < 2) || ticks.iter().any(|t| t.len() < 100) {
        assert!(Instant::now() < deadline, "too few ticks or bars");
        for (i, rx) in [&mut on_a, &mut on_b].into_iter().enumerate() {
            while let Ok((msg, frame)) = rx.try_recv() {
                match msg {
                    ServerMessage::Snapshot(s) => snapshots.push(s),
                    ServerMessage::Tick(t) => ticks[i].push((t.seq, frame)),
                    ServerMessage::Bar(b) => bars[i].push((b.seq, frame)),
                    _ => {}
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Each client's first message of the topic is its snapshot, with the source's epoch
    // and the source's reference price (carried in a NATS header).
    assert_eq!(snapshots.len(), 2, "{snapshots:?}");
    assert_eq!(snapshots[0].epoch, snapshots[1].epoch);
    for s in &snapshots {
        assert_eq!(s.prev_close, prev_close, "{s:?}");
    }
    assert_contiguous("node A", &ticks[0]);
    assert_contiguous("node B", &ticks[1]);
    assert_same_frames(&ticks[0], &ticks[1], 50);
    assert_same_frames(&bars[0], &bars[1], 1);

    task_a.abort();
    task_b.abort();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_client_moves_to_another_node_with_since_and_misses_nothing() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let cluster = Cluster::start(bin).await;
    let (mut c, _) = Client::connect_welcomed(cluster.a.addr()).await;
    subscribe(&mut c, &[TOPIC]).await;
    // The topic's epoch comes with its snapshot (in a cluster it is the source's).
    let epoch = match c.recv().await {
        ServerMessage::Snapshot(s) => s.epoch,
        other => panic!("expected the snapshot, got {other:?}"),
    };
    let mut last = 0;
    while last < 20 {
        if let ServerMessage::Tick(t) = c.recv().await {
            last = t.seq;
        }
    }
    drop(c);
    tokio::time::sleep(Duration::from_millis(300)).await; // ~30 ticks happen meanwhile

    let (mut c, _) = Client::connect_welcomed(cluster.b.addr()).await;
    c.send(Subscribe {
        topics: vec![TOPIC.into()],
        since: Some(BTreeMap::from([(TOPIC.to_owned(), (epoch, last))])),
        ..Default::default()
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    let mut expect = last + 1;
    while expect < last + 100 {
        match c.recv().await {
            ServerMessage::Tick(t) => {
                assert_eq!(t.seq, expect, "node B replays from its ring, then live");
                expect += 1;
            }
            ServerMessage::Snapshot(s) => panic!("node B should have recovered: {s:?}"),
            _ => {}
        }
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn nodes_survive_a_nats_restart() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let mut cluster = Cluster::start(bin).await;
    let (mut on_a, task_a) = subscriber(cluster.a.addr(), &[TOPIC]).await;
    let (mut on_b, task_b) = subscriber(cluster.b.addr(), &[TOPIC]).await;
    let mut before = [0, 0];
    for (i, rx) in [&mut on_a, &mut on_b].into_iter().enumerate() {
        for _ in 0..10 {
            before[i] = next_tick(rx).await.0;
        }
    }

    cluster.nats.kill();
    for node in [&cluster.a, &cluster.b, &cluster.source] {
        wait_ready(node.addr(), false, RECOVERY).await;
    }
    // The source keeps stamping while NATS is away: these ticks are lost.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, rx) in [&mut on_a, &mut on_b].into_iter().enumerate() {
        while let Ok((msg, _)) = rx.try_recv() {
            if let ServerMessage::Tick(t) = msg {
                before[i] = t.seq;
            }
        }
    }

    cluster.nats.restart().await;
    for node in [&cluster.a, &cluster.b, &cluster.source] {
        wait_ready(node.addr(), true, RECOVERY).await;
    }
    let mut after = [Vec::new(), Vec::new()];
    for (i, rx) in [&mut on_a, &mut on_b].into_iter().enumerate() {
        let deadline = Instant::now() + RECOVERY;
        while after[i].len() < 50 {
            assert!(Instant::now() < deadline, "ticks did not resume");
            let tick = timeout(RECOVERY, next_tick(rx))
                .await
                .expect("ticks resume");
            after[i].push(tick);
        }
        // The same connection, and the hole is visible by seq.
        assert!(
            after[i][0].0 > before[i] + 1,
            "node {i}: expected a gap after {}, got {}",
            before[i],
            after[i][0].0
        );
    }
    // Live again, in order; the nodes may have resubscribed a moment apart, so compare
    // only what both got.
    assert_contiguous("node A", &after[0][5..]);
    assert_contiguous("node B", &after[1][5..]);
    assert_same_frames(&after[0], &after[1], 20);
    assert!(
        !task_a.is_finished() && !task_b.is_finished(),
        "clients stay connected"
    );

    task_a.abort();
    task_b.abort();
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_node_without_nats_serves_its_clients_but_is_not_ready() {
    // Nothing listens on this port: the node starts anyway and keeps trying.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node = start(node_config(&format!("nats://127.0.0.1:{port}"))).await;
    wait_ready(node.addr(), false, WAIT).await;
    let (mut c, _) = Client::connect_welcomed(node.addr()).await;
    assert_eq!(subscribe(&mut c, &[TOPIC]).await, vec![TOPIC.to_owned()]);
    let (status, body) = http_get(node.addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("tickcast_nats_connected 0"), "{body}");
    node.shutdown().await;
}

#[tokio::test]
async fn a_bad_broker_address_is_refused_at_start() {
    let err = tickcast_server::spawn(node_config("nats://[::1"))
        .await
        .expect_err("a malformed address is an error");
    // The message says where; its source says what.
    let cause = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        cause.as_deref().is_some_and(|c| c.contains("NATS")),
        "{err}: {cause:?}"
    );
}
