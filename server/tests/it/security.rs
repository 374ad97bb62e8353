//! Access control and limits: publish role, tokens (static and signed), origins, TLS,
//! per-IP connections and the inbound rate limit.

use std::time::Duration;

use tickcast_proto::{ErrorCode, Op, Ping, Publish, RequestId, ServerMessage, Subscribe, close};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

fn quiet_config() -> tickcast_server::Config {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg
}

fn with_token(addr: std::net::SocketAddr, header: &str) -> String {
    upgrade_request(addr, header)
}

fn now_s() -> u64 {
    tickcast_server::unix_ns() / 1_000_000_000
}

async fn connect_with_header(addr: std::net::SocketAddr, header: &str) -> Client {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (head, stream) = http_raw_on(stream, &with_token(addr, header)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut c = Client::from_stream(stream);
    assert!(matches!(c.recv().await, ServerMessage::Welcome(_)));
    c
}

#[tokio::test]
async fn publishers_need_the_token_and_published_ticks_are_validated_and_stamped() {
    let mut cfg = quiet_config();
    cfg.publish_token = Some("s3cret".into());
    let server = start(cfg).await;
    let addr = server.addr();
    let (mut reader, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut reader, &["ticks.ACME"]).await;

    // Without the token: forbidden.
    let (mut anon, _) = Client::connect_welcomed(addr).await;
    anon.send(Publish {
        id: Some(RequestId::Num(1)),
        topic: "ticks.ACME".into(),
        price: 10.0,
        size: 5,
        ..Default::default()
    })
    .await;
    assert!(matches!(anon.recv().await, ServerMessage::Error(e) if e.code == ErrorCode::Forbidden));

    // A wrong token is refused at the upgrade.
    let (head, _) = http_raw(addr, &with_token(addr, "Authorization: Bearer nope\r\n")).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    let mut publisher = connect_with_header(addr, "Authorization: Bearer s3cret\r\n").await;
    let invalid = [
        Publish {
            topic: "ticks.AC ME".into(),
            price: 1.0,
            size: 1,
            ..Default::default()
        },
        Publish {
            topic: "ticks.*".into(),
            price: 1.0,
            size: 1,
            ..Default::default()
        },
        Publish {
            topic: "ticks.ACME".into(),
            price: f64::NAN,
            size: 1,
            ..Default::default()
        },
        Publish {
            topic: "ticks.ACME".into(),
            price: -1.0,
            size: 1,
            ..Default::default()
        },
        Publish {
            topic: "ticks.ACME".into(),
            price: 10.0,
            size: 1,
            bid: Some(10.2),
            ask: Some(10.1),
            ..Default::default()
        },
        Publish {
            topic: "ticks.ACME".into(),
            price: 10.0,
            size: 0,
            ..Default::default()
        },
    ];
    for (i, p) in invalid.into_iter().enumerate() {
        publisher
            .send(Publish {
                id: Some(RequestId::Num(i as u64)),
                ..p
            })
            .await;
        match publisher.recv().await {
            ServerMessage::Error(e) => {
                assert!(
                    matches!(e.code, ErrorCode::BadTopic | ErrorCode::BadRequest),
                    "{e:?}"
                );
                assert_eq!(e.id, Some(RequestId::Num(i as u64)));
            }
            other => panic!("case {i}: expected an error, got {other:?}"),
        }
    }
    // bars.* are the server's own topics.
    publisher
        .send(Publish {
            id: Some(RequestId::Num(50)),
            topic: "bars.1s.ACME".into(),
            price: 1.0,
            size: 1,
            ..Default::default()
        })
        .await;
    assert!(
        matches!(publisher.recv().await, ServerMessage::Error(e) if e.code == ErrorCode::BadTopic)
    );
    for (n, price) in [(1u64, 10.0), (2, 10.5)] {
        publisher
            .send(Publish {
                id: Some(RequestId::Num(100 + n)),
                topic: "ticks.ACME".into(),
                price,
                size: 100,
                bid: Some(price - 0.01),
                ask: Some(price + 0.01),
                ts: None,
            })
            .await;
        match publisher.recv().await {
            ServerMessage::Ack(a) => assert_eq!(
                (a.op, a.topics),
                (Op::Publish, vec!["ticks.ACME".to_owned()])
            ),
            other => panic!("expected a publish ack, got {other:?}"),
        }
    }
    // The subscriber sees them with server-assigned seq, ts and running volume.
    match reader.recv().await {
        ServerMessage::Snapshot(s) => assert_eq!(
            (s.seq, s.price, s.volume, s.symbol.as_str()),
            (1, 10.0, 100, "ACME")
        ),
        other => panic!("expected the first trade as a snapshot, got {other:?}"),
    }
    match reader.recv().await {
        ServerMessage::Tick(t) => {
            assert_eq!((t.seq, t.price, t.volume), (2, 10.5, 200));
            assert!(t.ts > 0);
        }
        other => panic!("expected a tick, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn subscribe_token_is_checked_at_the_upgrade() {
    let mut cfg = quiet_config();
    cfg.subscribe_token = Some("let me in".into());
    let server = start(cfg).await;
    let addr = server.addr();
    let (head, _) = http_raw(addr, &upgrade_request(addr, "")).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    let by_query = upgrade_request(addr, "").replace("GET /ws ", "GET /ws?token=let%20me%20in ");
    let (head, _held) = http_raw(addr, &by_query).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    connect_with_header(addr, "Authorization: Bearer let me in\r\n").await;
    server.shutdown().await;
}

#[tokio::test]
async fn signed_tokens_limit_topics_and_expire() {
    // A live market, so there are bars topics the token must not see.
    let mut cfg = config(2, 200.0);
    cfg.jwt_secret = Some("hmac-key".into());
    cfg.heartbeat = Duration::from_millis(1000);
    let server = start(cfg).await;
    let addr = server.addr();

    let expired = jwt("hmac-key", serde_json::json!({"exp": now_s() - 5}));
    let (head, _) = http_raw(
        addr,
        &upgrade_request(addr, &format!("Authorization: Bearer {expired}\r\n")),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    let scoped = jwt(
        "hmac-key",
        serde_json::json!({"exp": now_s() + 3, "topics": ["ticks.*"]}),
    );
    let mut c = connect_with_header(addr, &format!("Authorization: Bearer {scoped}\r\n")).await;
    assert_eq!(subscribe(&mut c, &["ticks.AAPL"]).await, vec!["ticks.AAPL"]);
    c.send(Subscribe {
        id: Some(RequestId::Num(2)),
        topics: vec!["bars.1m.*".into()],
        ..Default::default()
    })
    .await;
    match c.recv().await {
        ServerMessage::Error(e) => assert_eq!(
            (e.code, e.id),
            (ErrorCode::Forbidden, Some(RequestId::Num(2)))
        ),
        other => panic!("expected forbidden, got {other:?}"),
    }
    // `list` shows only what the token may subscribe to (bars exist after a second).
    tokio::time::sleep(Duration::from_millis(1300)).await;
    c.send(tickcast_proto::List {
        id: Some(RequestId::Num(3)),
        pattern: None,
    })
    .await;
    match c.recv().await {
        ServerMessage::Topics(t) => {
            assert!(!t.topics.is_empty());
            assert!(t.topics.iter().all(|t| t.starts_with("ticks.")), "{t:?}");
        }
        other => panic!("expected topics, got {other:?}"),
    }
    // The token expires while connected: close 4001, a code that says "do not just retry".
    loop {
        let f = c.recv_frame().await.expect("open until expiry");
        if f.opcode == OP_PING {
            c.send_frame(true, OP_PONG, &f.payload, true).await;
        }
        if f.opcode == OP_CLOSE {
            assert_eq!(f.close_code(), Some(close::UNAUTHORIZED));
            break;
        }
    }
    server.shutdown().await;
}

/// PROTOCOL.md §2: a signed token's `exp` closes the connection with 4001 at that moment,
/// not at the next heartbeat (here 10 s away), and no sooner.
#[tokio::test]
async fn a_connection_is_closed_when_its_token_expires_not_a_heartbeat_later() {
    let mut cfg = quiet_config();
    cfg.jwt_secret = Some("hmac-key".into());
    cfg.heartbeat = Duration::from_secs(10);
    let server = start(cfg).await;
    let addr = server.addr();
    let exp_s = now_s() + 2;
    let token = jwt("hmac-key", serde_json::json!({"exp": exp_s}));
    let mut c = connect_with_header(addr, &format!("Authorization: Bearer {token}\r\n")).await;
    let frame = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let f = c.recv_frame().await.expect("open until expiry");
            if f.opcode == OP_CLOSE {
                return f;
            }
        }
    })
    .await
    .expect("closed within 5 s, long before the 10 s heartbeat");
    let closed_at_ns = tickcast_server::unix_ns();
    assert_eq!(frame.close_code(), Some(close::UNAUTHORIZED));
    assert!(
        closed_at_ns >= exp_s * 1_000_000_000,
        "closed {} ms before exp",
        (exp_s * 1_000_000_000 - closed_at_ns) / 1_000_000
    );
    server.shutdown().await;
}

/// PROTOCOL.md §2: only `Bearer`; another scheme is refused, not taken for "no token".
#[tokio::test]
async fn authorization_schemes_other_than_bearer_get_401() {
    let server = start(quiet_config()).await;
    let addr = server.addr();
    for header in [
        "Authorization: Basic dXNlcjpwYXNz\r\n",
        "Authorization: Bearer\r\n",
    ] {
        let (head, _) = http_raw(addr, &upgrade_request(addr, header)).await;
        assert!(head.starts_with("HTTP/1.1 401"), "{header}: {head}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn cross_site_pages_are_refused_but_the_own_origin_works() {
    let mut cfg = quiet_config();
    cfg.allowed_origins = vec!["https://dashboard.example".into()];
    let server = start(cfg).await;
    let addr = server.addr();
    let (head, _) = http_raw(
        addr,
        &upgrade_request(addr, "Origin: https://evil.example\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    let (head, _a) = http_raw(
        addr,
        &upgrade_request(addr, &format!("Origin: http://{addr}\r\n")),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "same origin: {head}");
    let (head, _b) = http_raw(
        addr,
        &upgrade_request(addr, "Origin: https://dashboard.example\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "allowed origin: {head}");
    server.shutdown().await;
}

#[tokio::test]
async fn per_ip_connection_limit_answers_503() {
    let mut cfg = quiet_config();
    cfg.max_connections_per_ip = 2;
    let server = start(cfg).await;
    let addr = server.addr();
    let a = Client::connect(addr).await;
    let _b = Client::connect(addr).await;
    let (head, _) = http_raw(addr, &upgrade_request(addr, "")).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    drop(a);
    // The slot frees when the connection ends.
    let mut ok = false;
    for _ in 0..50 {
        let (head, _c) = http_raw(addr, &upgrade_request(addr, "")).await;
        if head.starts_with("HTTP/1.1 101") {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "a freed slot can be used again");
    server.shutdown().await;
}

#[tokio::test]
async fn inbound_floods_get_rate_limited_then_closed_1008() {
    let mut cfg = quiet_config();
    cfg.max_inbound_rate = 10;
    let server = start(cfg).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    for i in 0..200 {
        c.send(Ping {
            id: Some(RequestId::Num(i)),
        })
        .await;
    }
    let (mut pongs, mut limited) = (0, 0);
    let code = loop {
        let f = c.recv_frame().await.expect("a close before the end");
        match f.opcode {
            OP_BINARY => match tickcast_proto::decode_server(c.encoding, &f.payload).unwrap() {
                ServerMessage::Pong(_) => pongs += 1,
                ServerMessage::Error(e) if e.code == ErrorCode::RateLimited => limited += 1,
                _ => {}
            },
            OP_CLOSE => break f.close_code(),
            _ => {}
        }
    };
    assert_eq!(code, Some(close::POLICY_VIOLATION));
    assert_eq!(pongs, 20, "the burst (2x rate) is served");
    assert!(limited >= 1);
    server.shutdown().await;
}

#[tokio::test]
async fn tls_serves_wss_with_a_generated_certificate() {
    let pki = tickcast_testkit::Pki::new(&["localhost", "127.0.0.1"]);
    let (cert, key) = (pki.cert.clone(), pki.key.clone());

    let mut cfg = config(1, 100.0);
    cfg.tls = Some(tickcast_server::TlsFiles { cert, key });
    let server = start(cfg).await;
    assert!(server.ws_url().starts_with("wss://"));

    let connector = tls_connector(&pki.ca);
    let tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the generated CA");
    tls.write_all(upgrade_request(server.addr(), "").as_bytes())
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(WAIT, tls.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    // The welcome frame follows the handshake, over TLS.
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut frame = got[end..].to_vec();
    // Server frame header: 2 bytes, or 4 with a 16-bit extended length (welcome is ~150 bytes).
    let (head, len) = loop {
        if frame.len() >= 4 {
            match frame[1] {
                126 => break (4, u16::from_be_bytes([frame[2], frame[3]]) as usize),
                n if n < 126 => break (2, n as usize),
                n => panic!("unexpected length code {n}"),
            }
        }
        let n = tokio::time::timeout(WAIT, tls.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        frame.extend_from_slice(&buf[..n]);
    };
    while frame.len() < head + len {
        let n = tokio::time::timeout(WAIT, tls.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        frame.extend_from_slice(&buf[..n]);
    }
    let msg =
        tickcast_proto::decode_server(tickcast_proto::Encoding::MsgPack, &frame[head..head + len])
            .unwrap();
    assert!(matches!(msg, ServerMessage::Welcome(_)));
    server.shutdown().await;
    drop(pki);
}
