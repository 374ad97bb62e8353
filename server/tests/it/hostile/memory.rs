//! Floods from clients that never read, against a server in a child process whose memory
//! is measured: what a client asks for without reading must not grow the server's memory
//! beyond its outbox bound.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tickcast_proto::{ServerMessage, close};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

use crate::support::*;

/// The server as a child process (so its memory can be measured alone), killed on drop.
struct ServerProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl ServerProcess {
    fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tickcast-server"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tickcast-server starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ws://")
            .and_then(|rest| rest.strip_suffix("/ws"))
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }

    /// Resident memory in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a flood from a client that never reads did to a server process.
struct Flood {
    /// Growth of the server's resident memory while the flood went in, KiB.
    grew_kib: u64,
    /// Whether the server took the whole flood (else it stopped reading: backpressure).
    written: bool,
    read: tokio::net::tcp::OwnedReadHalf,
    /// Holds the write half, so the connection stays open.
    writer: tokio::task::JoinHandle<()>,
}

/// Opens a connection with small buffers that never reads, writes `frames` to it (in a
/// task: it may block), and watches the server's resident memory for 5 s or until the
/// whole flood is written. The server's write timeout (3 heartbeats + 5 s) must be longer.
async fn flood_without_reading(server: &ServerProcess, frames: Vec<u8>) -> Flood {
    let addr = server.addr;
    let stream = connect_small_buffers(addr, 4096).await;
    let mut c = Client::connect_on(stream, addr, None).await;
    assert!(matches!(c.recv().await, ServerMessage::Welcome(_)));
    let before = server.rss_kib();
    let (read, mut write) = c.stream.into_split();
    let (done_tx, mut done) = tokio::sync::oneshot::channel();
    let writer = tokio::spawn(async move {
        for chunk in frames.chunks(64 * 1024) {
            write
                .write_all(chunk)
                .await
                .expect("the server closed during the flood");
        }
        let _ = done_tx.send(());
        std::future::pending::<()>().await;
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut peak = before;
    let written = loop {
        peak = peak.max(server.rss_kib());
        if done.try_recv().is_ok() {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Let the server work through what it has read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    peak = peak.max(server.rss_kib());
    Flood {
        grew_kib: peak.saturating_sub(before),
        written,
        read,
        writer,
    }
}

/// The flood tests run one at a time: each keeps a server process busy for seconds.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The server process for the flood tests: one busy topic, no inbound rate limit, and
/// small socket send buffers so that unread answers stay in the server's own queues.
fn unlimited_server() -> ServerProcess {
    ServerProcess::start(&[
        "--symbols",
        "1",
        "--rate",
        "200",
        "--arrivals",
        "constant",
        "--max-inbound-rate",
        "0",
        "--heartbeat-ms",
        "10000",
        "--socket-send-buffer",
        "4096",
    ])
}

/// Masked copies of `frame`, `n` times.
fn repeated(frame: &[u8], n: usize) -> Vec<u8> {
    frame
        .iter()
        .copied()
        .cycle()
        .take(frame.len() * n)
        .collect()
}

/// Reads server frames from a bare read half.
#[derive(Default)]
struct FrameReader {
    buf: Vec<u8>,
}

impl FrameReader {
    async fn fill(&mut self, read: &mut (impl AsyncReadExt + Unpin), want: usize) -> Option<()> {
        let mut chunk = [0u8; 64 * 1024];
        while self.buf.len() < want {
            match read.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
        Some(())
    }

    /// The next frame's opcode and payload; `None` at the end of the stream.
    async fn next(&mut self, read: &mut (impl AsyncReadExt + Unpin)) -> Option<(u8, Vec<u8>)> {
        self.fill(read, 2).await?;
        let (len, head) = match self.buf[1] & 0x7f {
            126 => {
                self.fill(read, 4).await?;
                (
                    usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                    4,
                )
            }
            127 => {
                self.fill(read, 10).await?;
                let len = u64::from_be_bytes(self.buf[2..10].try_into().unwrap());
                (usize::try_from(len).unwrap(), 10)
            }
            n => (usize::from(n), 2),
        };
        self.fill(read, head + len).await?;
        let opcode = self.buf[0] & 0x0f;
        let payload = self.buf[head..head + len].to_vec();
        self.buf.drain(..head + len);
        Some((opcode, payload))
    }
}

/// A client that floods pings and never reads must not make the server queue pongs
/// without bound: it may answer only the latest ping (RFC 6455 5.5.3), stop reading, or
/// close with 1008, but not hold 8 MiB of pongs. (The rate limit is off here: with it,
/// see `a_ping_flood_is_rate_limited_and_closed_with_1008`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_from_a_client_that_never_reads_does_not_grow_server_memory() {
    let _heavy = HEAVY.lock().await;
    let server = unlimited_server();
    let bystander = Bystander::start(server.addr).await;
    let mut ping = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
    ping.extend_from_slice(&[b'p'; 125]);
    let mut frames = repeated(&ping, 64 * 1024); // 8.2 MiB of pings
    frames.extend_from_slice(&[0x89, 0x83, 0, 0, 0, 0, b'e', b'n', b'd']);
    let Flood {
        grew_kib,
        written,
        mut read,
        writer,
    } = flood_without_reading(&server, frames).await;
    assert!(
        grew_kib < 6 * 1024,
        "server memory grew by {grew_kib} KiB under a ping flood nobody reads \
         (the server took the whole flood: {written}): pongs pile up in the outbox"
    );

    // Now read: the last ping gets its pong, or the server gave up on this client (1008).
    let drain = async {
        let mut frames = FrameReader::default();
        loop {
            let (opcode, payload) = frames.next(&mut read).await.expect("a pong or a close");
            match opcode {
                OP_PONG if payload == b"end" => return,
                OP_CLOSE => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    assert_eq!(code, close::POLICY_VIOLATION);
                    return;
                }
                _ => {}
            }
        }
    };
    timeout(Duration::from_secs(20), drain)
        .await
        .expect("the pong of the last ping");
    writer.abort();
    bystander.finish().await;
}

/// The same for answers to messages: each undecodable frame gets an `error` frame, ten
/// times its size. A client that never reads must not make them pile up either (the
/// outbox bound applies, or the slow-consumer close 1008).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_frames_from_a_client_that_never_reads_does_not_grow_server_memory() {
    let _heavy = HEAVY.lock().await;
    let server = unlimited_server();
    let bystander = Bystander::start(server.addr).await;
    // A masked binary frame with the msgpack byte 0xc1 ("never used"): a bad_frame error.
    let frames = repeated(&[0x82, 0x81, 0, 0, 0, 0, 0xc1], 64 * 1024); // 448 KiB
    let flood = flood_without_reading(&server, frames).await;
    assert!(
        flood.grew_kib < 6 * 1024,
        "server memory grew by {} KiB under a flood of bad frames nobody reads \
         (the server took the whole flood: {}): error frames pile up in the outbox",
        flood.grew_kib,
        flood.written
    );
    flood.writer.abort();
    bystander.finish().await;
}

/// Replays are answers too: a client that never reads, subscribing with `since` and
/// unsubscribing again, makes the server queue a replay of the history rings once per
/// subscribe (re-encoded for a JSON connection). Within the default inbound rate limit
/// (bursts of 200 messages) that must not grow server memory by more than the outbox
/// bound allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_requested_by_a_client_that_never_reads_do_not_grow_server_memory() {
    const TOPICS: usize = 4;
    const TICKS: usize = 5000;
    let _heavy = HEAVY.lock().await;
    // Rings of 5,000 ticks, filled by a publisher, then left alone: memory stays flat.
    let server = ServerProcess::start(&[
        "--no-simulator",
        "--publish-token",
        "hostile-test-publisher",
        "--history",
        "5000",
        "--heartbeat-ms",
        "10000",
        "--socket-send-buffer",
        "4096",
    ]);
    let addr = server.addr;
    let auth = "Authorization: Bearer hostile-test-publisher\r\n";
    let (head, stream) = http_raw(addr, &upgrade_request(addr, auth)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut publisher = Client::from_stream(stream);
    assert!(matches!(publisher.recv().await, ServerMessage::Welcome(_)));
    for i in 0..TOPICS * TICKS {
        publisher
            .send(tickcast_proto::Publish {
                topic: format!("ticks.T{}", i % TOPICS),
                price: 100.0 + (i % 100) as f64 / 100.0,
                size: 1 + i as u64 % 500,
                ..Default::default()
            })
            .await;
    }
    for _ in 0..TOPICS * TICKS {
        let ack = publisher.recv().await;
        assert!(matches!(ack, ServerMessage::Ack(_)), "{ack:?}");
    }

    let stream = connect_small_buffers(addr, 4096).await;
    let mut c = Client::connect_on(stream, addr, Some("tickcast.v1.json")).await;
    assert!(matches!(c.recv().await, ServerMessage::Welcome(_)));
    let topics = vec!["ticks.*".to_owned()];
    c.send(tickcast_proto::Subscribe {
        topics: topics.clone(),
        ..Default::default()
    })
    .await;
    // Each subscribe asks for all 5,000 ticks of each topic again: about 4 MB of JSON.
    let mut since = std::collections::BTreeMap::new();
    while since.len() < TOPICS {
        if let ServerMessage::Snapshot(s) = c
            .recv_until(|m| matches!(m, ServerMessage::Snapshot(_)))
            .await
        {
            assert_eq!(s.seq, TICKS as u64);
            since.insert(s.topic.clone(), (s.epoch, 0));
        }
    }
    c.send(tickcast_proto::Unsubscribe {
        id: Some(tickcast_proto::RequestId::Num(1)),
        topics: topics.clone(),
    })
    .await;
    c.recv_until(
        |m| matches!(m, ServerMessage::Ack(a) if a.id == Some(tickcast_proto::RequestId::Num(1))),
    )
    .await;
    let before = server.rss_kib();

    for _ in 0..20 {
        c.send(tickcast_proto::Subscribe {
            topics: topics.clone(),
            since: Some(since.clone()),
            ..Default::default()
        })
        .await;
        c.send(tickcast_proto::Unsubscribe {
            id: None,
            topics: topics.clone(),
        })
        .await;
    }
    // A debug build takes a while to encode that much JSON.
    let mut peak = before;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(server.rss_kib());
    }
    let grew_kib = peak.saturating_sub(before);
    assert!(
        grew_kib < 8 * 1024,
        "server memory grew by {grew_kib} KiB for 20 replays nobody reads: \
         replays pile up in the outbox"
    );
}
