//! A raw RFC 6455 test client (so tests can also send what a polite client never would)
//! and helpers to start servers.

use std::net::SocketAddr;
use std::time::Duration;

use tickcast_proto::{ClientMessage, Encoding, ServerMessage, decode_server, encode};
use tickcast_server::{Config, Handle};
use tickcast_simulator::Universe;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(5);

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A config with a small, busy simulated market: `symbols` synthetic topics at `rate` ticks/s.
pub fn config(symbols: usize, rate: f64) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        simulator: Some(tickcast_simulator::Config {
            seed: 7,
            rate,
            universe: Universe::synthetic(symbols),
            // Evenly spaced, round-robin: every symbol gets rate / symbols ticks per second.
            arrivals: tickcast_simulator::Arrivals::Constant,
            ..tickcast_simulator::Config::default()
        }),
        heartbeat: Duration::from_millis(500),
        shutdown_grace: Duration::from_millis(500),
        // Topics start empty (the pre-roll has its own tests).
        preroll: Duration::ZERO,
        ..Config::default()
    }
}

pub async fn start(config: Config) -> Handle {
    tickcast_server::spawn(config).await.expect("server starts")
}

/// A frame as received.
#[derive(Debug)]
pub struct RawFrame {
    #[allow(dead_code)]
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl RawFrame {
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode == OP_CLOSE && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

pub struct Client {
    pub stream: TcpStream,
    pub encoding: Encoding,
    buf: Vec<u8>,
}

/// Sends a raw HTTP request and returns the response head and the stream.
pub async fn http_raw(addr: SocketAddr, request: &str) -> (String, TcpStream) {
    http_raw_on(TcpStream::connect(addr).await.unwrap(), request).await
}

/// Like [`http_raw`] on a stream the caller connected.
pub async fn http_raw_on(mut stream: TcpStream, request: &str) -> (String, TcpStream) {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = timeout(WAIT, stream.read(&mut byte))
            .await
            .expect("response in time")
            .unwrap();
        if n == 0 {
            break;
        }
        head.push(byte[0]);
    }
    (String::from_utf8_lossy(&head).into_owned(), stream)
}

pub fn upgrade_request(addr: SocketAddr, extra_headers: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
    )
}

impl Client {
    /// Connects and completes the handshake (msgpack unless `subprotocol` says otherwise).
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::connect_with(addr, None).await
    }

    pub async fn connect_with(addr: SocketAddr, subprotocol: Option<&str>) -> Self {
        Self::connect_on(TcpStream::connect(addr).await.unwrap(), addr, subprotocol).await
    }

    /// Completes the handshake on a stream the caller connected (e.g. with socket options).
    pub async fn connect_on(
        stream: TcpStream,
        addr: SocketAddr,
        subprotocol: Option<&str>,
    ) -> Self {
        let extra = subprotocol
            .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
            .unwrap_or_default();
        let (head, stream) = http_raw_on(stream, &upgrade_request(addr, &extra)).await;
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        assert!(
            head.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "{head}"
        );
        let encoding = if head.contains("tickcast.v1.json") {
            Encoding::Json
        } else {
            Encoding::MsgPack
        };
        Self {
            stream,
            encoding,
            buf: Vec::new(),
        }
    }

    /// Wraps a stream on which the handshake already succeeded (msgpack).
    pub fn from_stream(stream: TcpStream) -> Self {
        Self {
            stream,
            encoding: Encoding::MsgPack,
            buf: Vec::new(),
        }
    }

    /// Connects and reads the `welcome`.
    pub async fn connect_welcomed(addr: SocketAddr) -> (Self, tickcast_proto::Welcome) {
        let mut c = Self::connect(addr).await;
        match c.recv().await {
            ServerMessage::Welcome(w) => (c, w),
            other => panic!("first frame must be welcome, got {other:?}"),
        }
    }

    /// Writes one frame, masked like a conforming client unless `masked` is false.
    pub async fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        let mask = masked.then_some([0x37, 0xfa, 0x21, 0x3d]);
        let frame = tickcast_testkit::client_frame(fin, opcode, payload, mask);
        self.stream.write_all(&frame).await.unwrap();
    }

    pub async fn send_bytes(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).await.unwrap();
    }

    pub async fn send(&mut self, msg: impl Into<ClientMessage>) {
        let payload = encode(self.encoding, &msg.into()).unwrap();
        let opcode = if self.encoding.is_text() {
            OP_TEXT
        } else {
            OP_BINARY
        };
        self.send_frame(true, opcode, &payload, true).await;
    }

    async fn fill(&mut self, want: usize) -> Option<()> {
        while self.buf.len() < want {
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Some(())
    }

    /// The next frame, or `None` when the connection ended.
    pub async fn recv_frame(&mut self) -> Option<RawFrame> {
        timeout(WAIT, async {
            self.fill(2).await?;
            let fin = self.buf[0] & 0x80 != 0;
            let opcode = self.buf[0] & 0x0f;
            assert_eq!(self.buf[1] & 0x80, 0, "server frames must not be masked");
            let (len, head) = match self.buf[1] & 0x7f {
                126 => {
                    self.fill(4).await?;
                    (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                }
                127 => {
                    self.fill(10).await?;
                    (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    )
                }
                n => (n as usize, 2),
            };
            self.fill(head + len).await?;
            let payload = self.buf[head..head + len].to_vec();
            self.buf.drain(..head + len);
            Some(RawFrame {
                fin,
                opcode,
                payload,
            })
        })
        .await
        .expect("a frame (or the end) within the time limit")
    }

    /// The next application message, skipping pings and heartbeats.
    pub async fn recv(&mut self) -> ServerMessage {
        loop {
            let frame = self.recv_frame().await.expect("connection open");
            match frame.opcode {
                OP_PING => {
                    self.send_frame(true, OP_PONG, &frame.payload.clone(), true)
                        .await
                }
                OP_BINARY | OP_TEXT => {
                    match decode_server(self.encoding, &frame.payload).unwrap() {
                        ServerMessage::Heartbeat(_) => {}
                        msg => return msg,
                    }
                }
                OP_CLOSE => panic!("unexpected close {:?}", frame.close_code()),
                other => panic!("unexpected opcode {other}"),
            }
        }
    }

    /// Reads until a close frame arrives and returns its code (`None`: socket ended without one).
    pub async fn recv_close(&mut self) -> Option<u16> {
        loop {
            let frame = self.recv_frame().await?;
            if frame.opcode == OP_CLOSE {
                return frame.close_code().or(Some(1005));
            }
        }
    }

    /// Receives messages until `pred` accepts one.
    pub async fn recv_until(
        &mut self,
        mut pred: impl FnMut(&ServerMessage) -> bool,
    ) -> ServerMessage {
        timeout(WAIT, async {
            loop {
                let msg = self.recv().await;
                if pred(&msg) {
                    return msg;
                }
            }
        })
        .await
        .expect("the expected message within the time limit")
    }
}

/// Connects with extra upgrade headers and reads the welcome.
pub async fn connect_with_headers(
    addr: SocketAddr,
    headers: &str,
) -> (Client, tickcast_proto::Welcome) {
    let (head, stream) = http_raw(addr, &upgrade_request(addr, headers)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    let mut c = Client::from_stream(stream);
    match c.recv().await {
        ServerMessage::Welcome(w) => (c, w),
        other => panic!("first frame must be welcome, got {other:?}"),
    }
}

/// An HS256 token signed with `secret`.
pub fn jwt(secret: &str, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Subscribes with `topics` and returns the ack's subscription list.
pub async fn subscribe(c: &mut Client, topics: &[&str]) -> Vec<String> {
    c.send(tickcast_proto::Subscribe {
        id: Some(tickcast_proto::RequestId::Num(1)),
        topics: topics.iter().map(|t| t.to_string()).collect(),
        snapshot: true,
        ..Default::default()
    })
    .await;
    match c.recv().await {
        ServerMessage::Ack(ack) => ack.subscriptions,
        other => panic!("expected ack, got {other:?}"),
    }
}

/// The topic and seq of a tick or bar.
pub fn topic_seq(msg: &ServerMessage) -> Option<(&str, u64)> {
    match msg {
        ServerMessage::Tick(t) => Some((&t.topic, t.seq)),
        ServerMessage::Bar(b) => Some((&b.topic, b.seq)),
        ServerMessage::Snapshot(s) => Some((&s.topic, s.seq)),
        _ => None,
    }
}

// --- Helpers for the hostile-client suite (hostile.rs) --------------------------------------

/// Connects with small kernel buffers (SO_RCVBUF/SO_SNDBUF of about `bytes`), so that a
/// peer that stops reading or writing is felt after kilobytes rather than megabytes.
pub async fn connect_small_buffers(addr: SocketAddr, bytes: u32) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(bytes).unwrap();
    socket.set_send_buffer_size(bytes).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Drops `stream` with SO_LINGER 0, so the peer gets a TCP reset instead of a FIN.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// The value of one un-labelled series of `GET /metrics`.
pub async fn metric(addr: SocketAddr, name: &str) -> u64 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut body = String::new();
    timeout(WAIT, stream.read_to_string(&mut body))
        .await
        .expect("/metrics in time")
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in:\n{body}"))
}

/// Polls `/metrics` until `name` reads `want` (panics after [`WAIT`]).
pub async fn wait_for_metric(addr: SocketAddr, name: &str, want: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = metric(addr, name).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} is {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A well-behaved client subscribed to `ticks.*` that reads in its own task the whole time
/// and panics there if a tick arrives out of order (seq must go up by exactly 1 per topic)
/// or it is told it lagged. Counts the ticks it got.
pub struct Bystander {
    seen: tokio::sync::watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Bystander {
    pub async fn start(addr: SocketAddr) -> Self {
        let (mut c, _) = Client::connect_welcomed(addr).await;
        subscribe(&mut c, &["ticks.*"]).await;
        let (tx, seen) = tokio::sync::watch::channel(0u64);
        let task = tokio::spawn(async move {
            let mut last = std::collections::HashMap::<String, u64>::new();
            loop {
                match c.recv().await {
                    ServerMessage::Tick(t) => {
                        if let Some(prev) = last.insert(t.topic.clone(), t.seq) {
                            assert_eq!(t.seq, prev + 1, "bystander: {} out of order", t.topic);
                        }
                        tx.send_modify(|n| *n += 1);
                    }
                    ServerMessage::Snapshot(s) => {
                        last.insert(s.topic.clone(), s.seq);
                    }
                    ServerMessage::Lagged(l) => panic!("bystander lagged: {l:?}"),
                    _ => {}
                }
            }
        });
        Self { seen, task }
    }

    /// Waits until `n` more ticks arrived in order; fails the test if the bystander failed.
    pub async fn expect_ticks(&mut self, n: u64) {
        let want = *self.seen.borrow() + n;
        let arrived = timeout(WAIT, self.seen.wait_for(|&seen| seen >= want))
            .await
            .is_ok_and(|r| r.is_ok());
        if !arrived {
            self.fail().await;
        }
    }

    /// Checks it still receives ticks in order, then stops it.
    pub async fn finish(mut self) {
        self.expect_ticks(10).await;
        self.task.abort();
    }

    async fn fail(&mut self) -> ! {
        if self.task.is_finished() {
            if let Err(e) = (&mut self.task).await {
                if e.is_panic() {
                    std::panic::resume_unwind(e.into_panic());
                }
            }
        }
        panic!("the bystander received no ticks for {WAIT:?}");
    }
}

// --- Helpers for the cluster suite (cluster.rs) ---------------------------------------------

pub use tickcast_testkit::{NatsCluster, NatsServer, nats_server_bin};

/// `GET path` (connection closed after it): the status code and the body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = http_get_with(addr, path, "").await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `GET path` with extra request headers (each ending in CRLF): status, head, raw body.
pub async fn http_get_with(addr: SocketAddr, path: &str, headers: &str) -> (u16, String, Vec<u8>) {
    let (head, mut stream) = http_raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"),
    )
    .await;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let mut body = Vec::new();
    timeout(WAIT, stream.read_to_end(&mut body))
        .await
        .expect("the body in time")
        .unwrap();
    (status, head, body)
}

/// Publishes trade `i` of `fx.EURUSD` (price 1.08 + i/10,000) and reads its ack.
pub async fn publish_fx(publisher: &mut Client, i: u64) {
    publisher
        .send(tickcast_proto::Publish {
            id: Some(tickcast_proto::RequestId::Num(i)),
            topic: "fx.EURUSD".into(),
            price: 1.08 + i as f64 / 10_000.0,
            size: 1,
            ..Default::default()
        })
        .await;
    match publisher.recv().await {
        ServerMessage::Ack(a) => assert_eq!(a.op, tickcast_proto::Op::Publish),
        other => panic!("expected the publish ack, got {other:?}"),
    }
}

/// A TLS connector trusting only the private CA in the PEM file `ca`.
pub fn tls_connector(ca: &std::path::Path) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}
