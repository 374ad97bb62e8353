//! `tickcast-sim --nats` end to end: the binary feeds a real `nats-server`, a cluster node
//! (a server in this process) serves what it publishes: the model's trades and seqs, its
//! epoch, the reference price, and bars. Skipped when `nats-server` is missing, unless
//! `TICKCAST_REQUIRE_NATS` is set (then it fails).

use std::{net::SocketAddr, process::Output, time::Duration};

use tickcast_client::{Client, ClientConfig, ClientEvent};
use tickcast_proto::{ServerMessage, Tick};
use tickcast_simulator::{Arrivals, Config, Market, Universe};
use tickcast_testkit::{NatsServer, nats_server_bin};
use tokio::{io::AsyncReadExt, io::AsyncWriteExt, net::TcpStream, time::timeout};

use crate::support::{jsonl, sim_output_async};

const LIMIT: Duration = Duration::from_secs(30);

/// Waits until the node's `/healthz` says it is connected to NATS.
async fn wait_ready(addr: SocketAddr) {
    timeout(LIMIT, async {
        loop {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let req = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("write");
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp).await;
            if resp.starts_with("HTTP/1.1 200") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the node connects to NATS");
}

/// A cluster node on `nats` with no simulator of its own, once it is connected.
async fn start_node(nats: &NatsServer) -> tickcast_server::Handle {
    let node = tickcast_server::spawn(tickcast_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        simulator: None,
        nats: Some(nats.url()),
        ..tickcast_server::Config::default()
    })
    .await
    .expect("node");
    wait_ready(node.addr()).await;
    node
}

async fn sim(args: &[&str]) -> Output {
    sim_output_async(args, LIMIT).await
}

/// What a tick says besides its `ts` (which `--nats` stamps at publish time).
fn trade(t: &Tick) -> (String, u64, f64, u64, f64, f64, u64) {
    (
        t.topic.clone(),
        t.seq,
        t.price,
        t.size,
        t.bid,
        t.ask,
        t.volume,
    )
}

#[tokio::test]
async fn feeds_a_cluster_node_through_nats() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let nats = NatsServer::start(bin).await;
    let node = start_node(&nats).await;
    let (client, mut events) = Client::spawn(ClientConfig::new(node.ws_url()).patterns([
        "ticks.*",
        "bars.1s.*",
        "book.*",
    ]))
    .expect("subscriber");
    loop {
        match timeout(LIMIT, events.recv())
            .await
            .expect("an event in time")
        {
            Some(ClientEvent::Message(ServerMessage::Ack(_))) => break,
            Some(ClientEvent::Disconnected { reason, .. }) => panic!("subscriber: {reason}"),
            Some(_) => {}
            None => panic!("the subscriber stopped"),
        }
    }

    // 150 ticks of one symbol at 100/s: 1.5 s, so at least one 1-second bar closes.
    let args = [
        "--symbols",
        "1",
        "--arrivals",
        "constant",
        "--rate",
        "100",
        "--count",
        "150",
    ];
    let expected: Vec<Tick> = jsonl(&sim(&args).await.stdout)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Tick(t) => Some(t),
            _ => None,
        })
        .collect();
    let url = nats.url();
    let out = sim(&[&args[..], &["--nats", &url, "--preroll", "0"]].concat()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("published 150 ticks"), "{stderr}");
    assert!(stderr.contains("0 dropped"), "{stderr}");

    let mut ticks = Vec::new();
    let mut snapshot = None;
    let mut bars = Vec::new();
    let (mut books, mut book_updates) = (Vec::new(), 0);
    while ticks.len() + usize::from(snapshot.is_some()) < expected.len()
        || bars.is_empty()
        || book_updates < 20
    {
        match timeout(LIMIT, events.recv())
            .await
            .expect("messages in time")
        {
            Some(ClientEvent::Message(ServerMessage::Tick(t))) => ticks.push(t),
            Some(ClientEvent::Message(ServerMessage::Snapshot(s))) => snapshot = Some(s),
            Some(ClientEvent::Message(ServerMessage::Bar(b))) => bars.push(b),
            // The client checks every update's prev_seq and checksum (a fault is a resync).
            Some(ClientEvent::Message(ServerMessage::Book(b))) => books.push(b),
            Some(ClientEvent::Message(ServerMessage::BookUpdate(_))) => book_updates += 1,
            Some(ClientEvent::BookResync { topic, .. }) => panic!("a wrong book on {topic}"),
            Some(ClientEvent::Gap { topic, .. }) => panic!("gap on {topic}"),
            Some(_) => {}
            None => panic!("the subscriber stopped"),
        }
    }
    // The topic's first trade arrives as a snapshot, with the model's reference price.
    let snapshot = snapshot.expect("a snapshot");
    let reference = Market::new(Config {
        universe: Universe::synthetic(1),
        arrivals: Arrivals::Constant,
        ..Config::default()
    })
    .expect("market")
    .instruments()[0]
        .price;
    assert_eq!((snapshot.seq, snapshot.prev_close), (1, reference));
    assert!(snapshot.epoch > 1_600_000_000_000_000 && snapshot.epoch < 1 << 53);
    // The model's trades with the model's seqs, stamped with the wall clock.
    assert_eq!(
        ticks.iter().map(trade).collect::<Vec<_>>(),
        expected[1..].iter().map(trade).collect::<Vec<_>>()
    );
    assert!(ticks.iter().all(|t| t.ts > 1_600_000_000_000_000_000));
    assert_eq!(
        (bars[0].topic.as_str(), bars[0].seq),
        ("bars.1s.SYN0000", 1)
    );
    // The book, on by default, reaches the node whole first (at the default depth), then
    // as updates.
    assert_eq!(books.len(), 1, "{books:?}");
    assert_eq!(
        (books[0].topic.as_str(), books[0].depth),
        ("book.SYN0000", 10)
    );

    client.shutdown().await;
    node.shutdown().await;
}

/// `--preroll`: a node fed by a fresh `tickcast-sim --nats` holds the past at once: full
/// bar topics (built from the pre-rolled ticks at their own times) and the newest ticks.
#[tokio::test]
async fn a_pre_roll_fills_the_nodes_history_before_live_ticks() {
    let Some(bin) = nats_server_bin() else {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_NATS is set
    };
    let nats = NatsServer::start(bin).await;
    let node = start_node(&nats).await;
    let url = nats.url();
    let args = [
        "--symbols",
        "1",
        "--rate",
        "50",
        "--count",
        "5",
        "--preroll",
        "10m",
        "--nats",
        &url,
    ];
    let out = sim(&args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("pre-rolled"), "{stderr}");

    let minute_bars = get_json(node.addr(), "/history/bars.1m.SYN0000").await;
    let bars = minute_bars["messages"].as_array().expect("messages");
    assert!(
        bars.len() >= 9,
        "ten minutes of 1-minute bars: {}",
        bars.len()
    );
    for w in bars.windows(2) {
        assert_eq!(w[1]["seq"].as_u64(), w[0]["seq"].as_u64().map(|s| s + 1));
        assert_eq!(
            w[1]["ts"].as_u64().unwrap() - w[0]["ts"].as_u64().unwrap(),
            60_000_000_000
        );
    }
    let ticks = get_json(node.addr(), "/history/ticks.SYN0000?limit=5000").await;
    let ticks = ticks["messages"].as_array().expect("messages");
    // 10 minutes at 50/s is 30,000 trades: the newest 1,024 plus the 5 live ones.
    assert_eq!(ticks.len(), 1024, "the node's history bound");
    let seqs: Vec<u64> = ticks.iter().map(|t| t["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "contiguous");
    assert!(seqs[0] > 25_000, "the newest of the pre-roll: {}", seqs[0]);
}

/// `GET path` on `addr` as JSON, once the node has the topic (it arrives over NATS).
async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    timeout(LIMIT, async {
        loop {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("write");
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp).await;
            if resp.starts_with("HTTP/1.1 200") {
                let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                let value: serde_json::Value = serde_json::from_str(body).expect("json");
                if value["messages"]
                    .as_array()
                    .is_some_and(|m| m.len() >= 1024 || path.contains("bars"))
                {
                    return value;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the history in time")
}
