//! `tickcast-sim --publish` end to end: the binary publishes to a real server (in this
//! process) and a subscriber sees the same trades, in order, with the server's seq.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, Instant},
};

use tickcast_client::{Client, ClientConfig, ClientEvent};
use tickcast_proto::{ServerMessage, Tick};
use tickcast_testkit::Pki;
use tokio::{sync::mpsc, time::timeout};

use crate::support::{jsonl, sim_output_async};

const LIMIT: Duration = Duration::from_secs(30);
const TOKEN: &str = "sim-publisher";

/// A server with no simulator of its own, so every tick on it came from `tickcast-sim`.
fn server_config() -> tickcast_server::Config {
    tickcast_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        simulator: None,
        publish_token: Some(TOKEN.into()),
        ..tickcast_server::Config::default()
    }
}

/// Subscribes to every tick and waits for the ack, so nothing published later is missed.
async fn subscribe(url: &str, ca: Option<&Path>) -> (Client, mpsc::Receiver<ClientEvent>) {
    let mut config = ClientConfig::new(url).patterns(["ticks.*"]);
    if let Some(ca) = ca {
        config = config.ca_cert(ca);
    }
    let (client, mut events) = Client::spawn(config).expect("subscriber starts");
    loop {
        match timeout(LIMIT, events.recv())
            .await
            .expect("an event in time")
        {
            Some(ClientEvent::Message(ServerMessage::Ack(_))) => return (client, events),
            Some(ClientEvent::Disconnected { reason, .. }) => panic!("subscriber: {reason}"),
            Some(_) => {}
            None => panic!("the subscriber stopped"),
        }
    }
}

/// The next `n` trades. A topic's first trade reaches subscribers that were waiting for it
/// as a `snapshot`; it counts as a trade here.
async fn received(events: &mut mpsc::Receiver<ClientEvent>, n: usize) -> Vec<Tick> {
    let mut ticks = Vec::new();
    while ticks.len() < n {
        match timeout(LIMIT, events.recv()).await.expect("ticks in time") {
            Some(ClientEvent::Message(ServerMessage::Tick(t))) => ticks.push(t),
            Some(ClientEvent::Message(ServerMessage::Snapshot(s))) => ticks.push(s.trade()),
            Some(ClientEvent::Gap { topic, .. }) => panic!("gap on {topic}"),
            Some(_) => {}
            None => panic!("the subscriber stopped"),
        }
    }
    ticks
}

async fn sim(args: &[&str]) -> Output {
    sim_output_async(args, LIMIT).await
}

/// The trade fields a publish carries; seq, ts and volume are the server's.
fn trade(t: &Tick) -> (String, f64, u64, f64, f64) {
    (t.topic.clone(), t.price, t.size, t.bid, t.ask)
}

/// Every topic's seqs, which the server numbers 1, 2, 3, ...
fn assert_server_seqs(ticks: &[Tick]) {
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    for t in ticks {
        let want = next.entry(&t.topic).or_insert(1);
        assert_eq!(t.seq, *want, "{} seq", t.topic);
        *want += 1;
        assert!(
            t.ts > 1_600_000_000_000_000_000,
            "the server stamps wall-clock ts"
        );
    }
}

#[tokio::test]
async fn publishes_the_model_in_real_time() {
    let server = tickcast_server::spawn(server_config())
        .await
        .expect("server");
    let (client, mut events) = subscribe(&server.ws_url(), None).await;
    let args = ["--seed", "11", "--rate", "40", "--count", "30"];
    // What the same flags write to stdout (virtual time, no server).
    let expected: Vec<Tick> = jsonl(&sim(&args).await.stdout)
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Tick(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(expected.len(), 30);

    let url = server.ws_url();
    let started = Instant::now();
    let out = sim(&[
        &args[..],
        &["--publish", &url, "--token", TOKEN, "--preroll", "0"],
    ]
    .concat())
    .await;
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout when publishing");
    assert!(
        stderr.contains("published 30 ticks: 30 acked, 0 rejected"),
        "{stderr}"
    );

    let seen = received(&mut events, 30).await;
    assert_eq!(
        seen.iter().map(trade).collect::<Vec<_>>(),
        expected.iter().map(trade).collect::<Vec<_>>()
    );
    assert_server_seqs(&seen);
    // Paced at speed 1: the run lasts as long as the ticks' virtual time span.
    let span = Duration::from_nanos(expected[29].ts - expected[0].ts);
    assert!(
        elapsed >= span.mul_f64(0.9),
        "{elapsed:?} for a span of {span:?}"
    );

    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn replays_a_csv_over_wss_trusting_a_private_ca() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("sim-publish-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the CSV");
    let pki = Pki::new(&["127.0.0.1"]);
    let ca = pki.ca.clone();
    let server = tickcast_server::spawn(tickcast_server::Config {
        tls: Some(tickcast_server::TlsFiles {
            cert: pki.cert.clone(),
            key: pki.key.clone(),
        }),
        ..server_config()
    })
    .await
    .expect("TLS server");
    let url = server.ws_url();
    assert!(url.starts_with("wss://"), "{url}");
    let (client, mut events) = subscribe(&url, Some(&ca)).await;

    let csv = dir.join("trades.csv");
    std::fs::write(
        &csv,
        "timestamp,symbol,price,size\n\
         2024-01-02T14:30:00Z,AAPL,185.10,100\n\
         2024-01-02T14:30:01Z,MSFT,370.50,200\n\
         2024-01-02T14:30:02Z,AAPL,185.20,300\n",
    )
    .expect("write csv");
    let csv = csv.to_string_lossy().into_owned();
    let ca_arg = ca.to_string_lossy().into_owned();
    let out = sim(&[
        "--replay",
        &csv,
        "--speed",
        "inf",
        "--publish",
        &url,
        "--token",
        TOKEN,
        "--ca-cert",
        &ca_arg,
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("published 3 ticks: 3 acked"), "{stderr}");

    let seen = received(&mut events, 3).await;
    let got: Vec<_> = seen
        .iter()
        .map(|t| (t.topic.as_str(), t.seq, t.price, t.size))
        .collect();
    assert_eq!(
        got,
        [
            ("ticks.AAPL", 1, 185.10, 100),
            ("ticks.MSFT", 1, 370.50, 200),
            ("ticks.AAPL", 2, 185.20, 300)
        ]
    );
    assert!(seen.iter().all(|t| t.bid < t.price && t.price < t.ask));

    // Without the CA the certificate is refused, and that is final: a quick failure.
    let out = sim(&["--replay", &csv, "--publish", &url, "--token", TOKEN]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("certificate of 127.0.0.1 rejected"),
        "{stderr}"
    );

    client.shutdown().await;
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wrong_token_fails_with_the_reason() {
    let server = tickcast_server::spawn(server_config())
        .await
        .expect("server");
    let url = server.ws_url();
    let out = sim(&[
        "--count",
        "5",
        "--preroll",
        "0",
        "--publish",
        &url,
        "--token",
        "wrong",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("401"), "{stderr}");
    // Without --token clap refuses before anything runs.
    let out = sim(&["--count", "5", "--publish", &url]).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));
    server.shutdown().await;
}

/// `--publish --preroll`: the past goes first, each trade with its own `ts`, so the server's
/// bars cover it (built at those times), then the market continues live.
#[tokio::test]
async fn a_pre_roll_is_published_with_its_own_times() {
    let server = tickcast_server::spawn(server_config())
        .await
        .expect("server");
    let url = server.ws_url();
    let args = [
        "--symbols",
        "1",
        "--rate",
        "20",
        "--count",
        "3",
        "--preroll",
        "5m",
        "--speed",
        "inf",
        "--publish",
        &url,
        "--token",
        TOKEN,
    ];
    let out = sim(&args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("pre-rolled"), "{stderr}");
    let addr = server.addr();
    let bars = get_json(addr, "/history/bars.1m.SYN0000").await;
    let bars = bars["messages"].as_array().expect("messages");
    assert!(bars.len() >= 4, "five minutes of past: {bars:?}");
    for w in bars.windows(2) {
        assert_eq!(
            w[1]["ts"].as_u64().unwrap() - w[0]["ts"].as_u64().unwrap(),
            60_000_000_000
        );
    }
    // The first and the last bar may be partial (the past starts mid-minute, and the clock
    // may close the current minute); the ones between are whole minutes at 20 trades/s.
    for bar in &bars[1..bars.len() - 1] {
        assert!(bar["trades"].as_u64().unwrap() > 900, "{bar}");
    }
    let ticks = get_json(addr, "/history/ticks.SYN0000?limit=5000").await;
    let ts: Vec<u64> = ticks["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|t| t["ts"].as_u64().unwrap())
        .collect();
    assert!(ts.len() >= 1024 - 1, "the history is full: {}", ts.len());
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in time order");
    server.shutdown().await;
}

/// `GET path` as JSON.
async fn get_json(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"))
}
