//! `tickcast-sub` end to end against a real server.

use std::process::Stdio;

use tickcast_proto::{Encoding, ServerMessage};
use tokio::{process::Command, time::timeout};

use crate::support::{LIMIT, corrupting_proxy, start_server, start_tls_server};

const SUB: &str = env!("CARGO_BIN_EXE_tickcast-sub");

async fn run(args: &[&str]) -> std::process::Output {
    let child = Command::new(SUB)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    timeout(LIMIT, child)
        .await
        .expect("tickcast-sub finished in time")
        .expect("tickcast-sub runs")
}

#[tokio::test]
async fn prints_json_lines() {
    let server = start_server().await;
    let url = server.ws_url();
    let out = run(&["--url", &url, "--count", "30", "ticks.*", "bars.1s.*"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 30);
    for line in lines {
        let msg = tickcast_proto::decode_server(Encoding::Json, line.as_bytes()).expect(line);
        assert!(
            matches!(
                msg,
                ServerMessage::Tick(_)
                    | ServerMessage::Snapshot(_)
                    | ServerMessage::Bar(_)
                    | ServerMessage::Status(_)
            ),
            "{line}"
        );
    }
    assert!(String::from_utf8_lossy(&out.stderr).contains("connected to"));
    server.shutdown().await;
}

#[tokio::test]
async fn prints_a_pretty_format() {
    let server = start_server().await;
    let url = server.ws_url();
    let out = run(&[
        "--url", &url, "--pretty", "--quiet", "--count", "10", "ticks.*",
    ])
    .await;
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "--quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 10);
    for line in stdout.lines() {
        // `HH:MM:SS ticks.SYM #SEQ ...`
        let mut parts = line.split(' ');
        assert_eq!(parts.next().map(str::len), Some(8), "{line}");
        assert!(
            parts.next().is_some_and(|t| t.starts_with("ticks.")),
            "{line}"
        );
        assert!(parts.next().is_some_and(|s| s.starts_with('#')), "{line}");
    }
    server.shutdown().await;
}

/// The seq of `topic` on the server, once it has reached `at_least`.
async fn seq_reached(url: &str, topic: &str, at_least: u64) -> u64 {
    let config = tickcast_client::ClientConfig::new(url).patterns([topic]);
    let (client, mut events) = tickcast_client::Client::spawn(config).expect("spawn");
    let seq = timeout(LIMIT, async {
        loop {
            let seq = match events.recv().await.expect("client running") {
                tickcast_client::ClientEvent::Message(ServerMessage::Tick(t)) => t.seq,
                tickcast_client::ClientEvent::Message(ServerMessage::Snapshot(s)) => s.seq,
                _ => 0,
            };
            if seq >= at_least {
                return seq;
            }
        }
    })
    .await
    .expect("the topic ticks");
    client.shutdown().await;
    seq
}

#[tokio::test]
async fn rewind_prints_history_then_live() {
    let server = start_server().await;
    let url = server.ws_url();
    let known = seq_reached(&url, "ticks.AAPL", 60).await;
    let out = run(&[
        "--url",
        &url,
        "--rewind",
        "50",
        "--count",
        "60",
        "ticks.AAPL",
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let seqs: Vec<(&str, u64)> = stdout
        .lines()
        .map(|line| {
            match tickcast_proto::decode_server(Encoding::Json, line.as_bytes()).expect(line) {
                ServerMessage::Snapshot(s) => ("snapshot", s.seq),
                ServerMessage::Tick(t) => ("tick", t.seq),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(seqs.len(), 60);
    // A snapshot standing for the first trade of the history, then ticks, one seq after
    // the other across the seam to live.
    assert_eq!(seqs[0].0, "snapshot");
    assert!(seqs[1..].iter().all(|(kind, _)| *kind == "tick"));
    assert!(seqs.windows(2).all(|w| w[1].1 == w[0].1 + 1), "{seqs:?}");
    // History: most of it was on the server before tickcast-sub started.
    assert!(seqs[0].1 + 25 <= known, "{} after {known}", seqs[0].1);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("\"gap\""),
        "no gap"
    );
    server.shutdown().await;
}

/// The book messages of `stdout`, checked as a client does: each `book_update` follows the
/// one before it and its checksum verifies. Returns how many `book`s there were.
fn check_books(stdout: &str, depth: u32) -> usize {
    let mut book: Option<tickcast_client::OrderBook> = None;
    let mut books = 0;
    for line in stdout.lines() {
        match tickcast_proto::decode_server(Encoding::Json, line.as_bytes()).expect(line) {
            ServerMessage::Book(b) => {
                assert_eq!((b.topic.as_str(), b.depth), ("book.AAPL", depth), "{line}");
                let fresh = tickcast_client::OrderBook::from_book(&b);
                assert_eq!(fresh.verify(b.checksum), Ok(()), "{line}");
                book = Some(fresh);
                books += 1;
            }
            ServerMessage::BookUpdate(u) => {
                let held = book.as_mut().expect("a book first");
                assert_eq!(held.apply(&u), Ok(()), "{line}");
            }
            other => panic!("{other:?}"),
        }
    }
    books
}

#[tokio::test]
async fn prints_books_and_their_updates_at_a_depth() {
    let server = start_server().await;
    let url = server.ws_url();
    let out = run(&[
        "--url",
        &url,
        "--depth",
        "5",
        "--verify-books",
        "--count",
        "40",
        "book.AAPL",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("book_resync") && !stderr.contains("\"gap\""),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 40);
    assert_eq!(check_books(&stdout, 5), 1);
    // The server's depth without --depth.
    let out = run(&["--url", &url, "--count", "3", "book.AAPL"]).await;
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(check_books(&stdout, 10), 1);
    // A depth the protocol does not have is refused before connecting.
    let out = run(&["--url", &url, "--depth", "7", "book.AAPL"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be one of"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_checksum_mismatch_is_reported_and_the_book_fetched_again() {
    let server = start_server().await;
    let proxy = corrupting_proxy(server.addr()).await;
    let url = format!("ws://{proxy}/ws");
    let out = run(&[
        "--url",
        &url,
        "--verify-books",
        "--count",
        "30",
        "book.AAPL",
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reports: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    assert_eq!(reports.len(), 1, "{stderr}");
    let report = &reports[0];
    assert_eq!(report["type"], "book_resync", "{report}");
    assert_eq!(report["topic"], "book.AAPL");
    assert_eq!(report["fault"], "checksum");
    assert_ne!(report["expected"], report["computed"]);
    // The corrupted update was not printed; a fresh book follows, and every update after
    // either book verifies.
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(check_books(&stdout, 10), 2, "{stdout}");
    server.shutdown().await;
}

#[tokio::test]
async fn bad_arguments_fail_fast() {
    let out = run(&["--url", "http://127.0.0.1:1/ws", "ticks.*"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ws://"));
    let out = run(&["--url", "ws://127.0.0.1:1/ws", "ticks..X"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid pattern"));
}

#[tokio::test]
async fn follows_a_wss_server_with_a_private_ca() {
    let (server, pki) = start_tls_server().await;
    let url = server.ws_url();
    assert!(url.starts_with("wss://"), "{url}");
    let ca = pki.ca.to_string_lossy().into_owned();
    let out = run(&["--url", &url, "--ca-cert", &ca, "--count", "5", "ticks.*"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);

    // Without the CA the certificate is refused for good: no reconnect loop.
    let out = run(&["--url", &url, "--count", "5", "ticks.*"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("certificate of 127.0.0.1 rejected") && stderr.contains("not reconnecting"),
        "{stderr}"
    );
    server.shutdown().await;
}
