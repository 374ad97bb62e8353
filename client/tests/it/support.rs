//! Test servers: the real one (in-process, plain or TLS, with a publisher token), a
//! cuttable TCP proxy in front of it, and a scripted fake for behaviour a real server will
//! not produce on demand. Certificates come from `tickcast-testkit`.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use fastwebsockets::{Frame, OpCode, Payload, upgrade};
use http_body_util::Empty;
use hyper::{
    Request, Response,
    body::{Bytes, Incoming},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tickcast_client::{ClientConfig, ClientEvent, PublisherConfig};
use tickcast_proto::{Encoding, Publish, ServerMessage, Welcome};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    task::JoinSet,
    time::timeout,
};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The publisher token of [`server_config`].
pub const PUBLISH_TOKEN: &str = "pub-s3cret";

/// Fails the test if `body` does not finish within twice [`LIMIT`].
pub async fn bounded(body: impl std::future::Future<Output = ()>) {
    timeout(LIMIT * 2, body)
        .await
        .expect("the test finished in time");
}

pub async fn next(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    timeout(LIMIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the client is running")
}

/// A subscriber config with short backoff.
pub fn fast(url: String, patterns: &[&str]) -> ClientConfig {
    let mut config = ClientConfig::new(url).patterns(patterns.iter().copied());
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config
}

/// A loopback server with its simulator and a publisher token.
pub fn server_config() -> tickcast_server::Config {
    tickcast_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        publish_token: Some(PUBLISH_TOKEN.into()),
        // Topics start empty: the tests count from the first message.
        preroll: std::time::Duration::ZERO,
        ..tickcast_server::Config::default()
    }
}

/// A server with no simulator: every tick on it was published.
pub fn quiet_server() -> tickcast_server::Config {
    tickcast_server::Config {
        simulator: None,
        ..server_config()
    }
}

/// A publisher config with short backoff.
pub fn quick(url: String, token: &str) -> PublisherConfig {
    let mut config = PublisherConfig::new(url, token);
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config
}

/// Trade number `i` on `topic`: price 100 + i/100, size 100 + i.
pub fn trade(topic: &str, i: u64) -> Publish {
    let price = 100.0 + i as f64 / 100.0;
    Publish {
        id: None,
        topic: topic.into(),
        price,
        size: 100 + i,
        bid: Some(price - 0.01),
        ask: Some(price + 0.01),
        ts: None,
    }
}

/// A real tickcast server with its simulator, on a loopback port.
pub async fn start_server() -> tickcast_server::Handle {
    start(server_config()).await
}

pub async fn start(config: tickcast_server::Config) -> tickcast_server::Handle {
    tickcast_server::spawn(config).await.expect("server starts")
}

pub use tickcast_testkit::Pki;

/// [`server_config`] serving `wss://` with the certificate of `pki`.
pub fn tls_config(pki: &Pki) -> tickcast_server::Config {
    tickcast_server::Config {
        tls: Some(tickcast_server::TlsFiles {
            cert: pki.cert.clone(),
            key: pki.key.clone(),
        }),
        ..server_config()
    }
}

/// A loopback port with nothing listening.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A TCP proxy whose connections can be cut, to simulate a network failure while the
/// server (and its history) stays up.
pub struct Proxy {
    pub addr: SocketAddr,
    cut: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let (cut, _) = watch::channel(0u64);
        let cut_rx = cut.subscribe();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut cut = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    cut.borrow_and_update();
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { addr, cut }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Drops every open connection (new ones still get through).
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

/// What the fake server does on each connection, in order.
#[derive(Debug, Clone)]
pub enum Step {
    Send(ServerMessage),
    Close(u16, &'static str),
    /// Say nothing more (but keep the connection open).
    Silence,
}

/// What the fake server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub uri: String,
    pub authorization: Option<String>,
    pub protocol: Option<String>,
}

pub struct Fake {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _tasks: JoinSet<()>,
}

impl Fake {
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

pub fn welcome(heartbeat_ms: u64) -> ServerMessage {
    ServerMessage::Welcome(Welcome {
        protocol: 1,
        server: "fake/1".into(),
        epoch: 7,
        heartbeat_ms,
        max_message_bytes: 65536,
        max_subscriptions: 100,
        ts: 1,
    })
}

/// Serves WebSocket upgrades and plays `script` on every connection.
pub async fn fake_server(script: Vec<Step>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let addr = listener.local_addr().expect("fake addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = JoinSet::new();
    let seen2 = seen.clone();
    tasks.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                let service = service_fn(move |mut req: Request<Incoming>| {
                    let script = script.clone();
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    seen.lock().expect("lock").push(Seen {
                        uri: req.uri().to_string(),
                        authorization: header("authorization"),
                        protocol: header("sec-websocket-protocol"),
                    });
                    async move {
                        let (mut response, fut) = upgrade::upgrade(&mut req)?;
                        response.headers_mut().insert(
                            "sec-websocket-protocol",
                            hyper::header::HeaderValue::from_static("tickcast.v1.msgpack"),
                        );
                        tokio::spawn(async move {
                            let Ok(mut ws) = fut.await else { return };
                            for step in script {
                                match step {
                                    Step::Send(msg) => {
                                        let bytes = tickcast_proto::encode(Encoding::MsgPack, &msg)
                                            .expect("encode");
                                        if ws
                                            .write_frame(Frame::binary(Payload::Owned(bytes)))
                                            .await
                                            .is_err()
                                        {
                                            return;
                                        }
                                    }
                                    Step::Close(code, reason) => {
                                        let _ = ws
                                            .write_frame(Frame::close(code, reason.as_bytes()))
                                            .await;
                                        return;
                                    }
                                    Step::Silence => {
                                        // Keep reading (the client's subscribe) but never answer.
                                        while let Ok(frame) = ws.read_frame().await {
                                            if frame.opcode == OpCode::Close {
                                                return;
                                            }
                                        }
                                        return;
                                    }
                                }
                            }
                        });
                        Ok::<Response<Empty<Bytes>>, fastwebsockets::WebSocketError>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Fake {
        addr,
        seen,
        _tasks: tasks,
    }
}
