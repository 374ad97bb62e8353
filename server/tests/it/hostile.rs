//! Hostile clients: RFC 6455 violations beyond bad_input.rs, floods, resets, slowloris and
//! header floods. Each gets the RFC's close code (or a clear HTTP status), the server lets
//! go of the connection, and a bystander keeps receiving its ticks in seq order.
//! `memory.rs`: floods from clients that never read, with the server's memory measured.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tickcast_proto::{Encoding, ServerMessage, close, decode_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::support::*;

mod memory;

/// Opens a connection, reads the welcome, sends `abuse`, and returns the close code the
/// server answered with. Also checks that the server then ends the TCP connection.
async fn close_code_for(addr: SocketAddr, abuse: impl AsyncFnOnce(&mut Client)) -> u16 {
    let (mut c, _) = Client::connect_welcomed(addr).await;
    abuse(&mut c).await;
    let code = c.recv_close().await.expect("a close frame");
    assert!(
        c.recv_frame().await.is_none(),
        "the server must end the connection after its close frame"
    );
    code
}

/// `close_code_for` with a single close frame carrying `payload`.
async fn close_answer(addr: SocketAddr, payload: &[u8]) -> u16 {
    close_code_for(addr, async |c| {
        c.send_frame(true, OP_CLOSE, payload, true).await
    })
    .await
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

#[tokio::test]
async fn fragmentation_and_close_violations_get_the_rfc_close_codes() {
    let mut cfg = config(1, 300.0);
    cfg.max_message_bytes = 1024;
    let server = start(cfg).await;
    let addr = server.addr();
    let bystander = Bystander::start(addr).await;

    // Invalid UTF-8 that only shows once the fragments are put together: 1007.
    let code = close_code_for(addr, async |c| {
        c.send_frame(false, OP_TEXT, "κόσμε".as_bytes(), true).await;
        c.send_frame(false, OP_CONT, &[0xf4, 0x90], true).await; // > U+10FFFF
        c.send_frame(true, OP_CONT, &[0x80, 0x80], true).await;
    })
    .await;
    assert_eq!(
        code,
        close::INVALID_PAYLOAD,
        "invalid UTF-8 across fragments"
    );

    // A text message cut off in the middle of a character by its last fragment.
    let code = close_code_for(addr, async |c| {
        c.send_frame(false, OP_TEXT, b"ok", true).await;
        c.send_frame(true, OP_CONT, &[0xce], true).await;
    })
    .await;
    assert_eq!(code, close::INVALID_PAYLOAD, "truncated UTF-8 sequence");

    // Control frames must not be fragmented, also not in the middle of a data message.
    for (what, opcode) in [("close", OP_CLOSE), ("pong", OP_PONG), ("ping", OP_PING)] {
        let code = close_code_for(addr, async |c| {
            c.send_frame(false, OP_BINARY, &[0x80], true).await;
            c.send_frame(false, opcode, b"", true).await;
        })
        .await;
        assert_eq!(code, close::PROTOCOL_ERROR, "fragmented {what}");
    }

    // A new data message (text) while a binary one is unfinished.
    let code = close_code_for(addr, async |c| {
        c.send_frame(false, OP_BINARY, &[0x81], true).await;
        c.send_frame(true, OP_TEXT, b"{}", true).await;
    })
    .await;
    assert_eq!(code, close::PROTOCOL_ERROR, "text interleaved into binary");

    // Also a non-final one, and binary into text.
    let code = close_code_for(addr, async |c| {
        c.send_frame(false, OP_TEXT, b"{", true).await;
        c.send_frame(false, OP_BINARY, &[0x81], true).await;
    })
    .await;
    assert_eq!(code, close::PROTOCOL_ERROR, "binary interleaved into text");

    // A continuation after the message already ended.
    let code = close_code_for(addr, async |c| {
        c.send_frame(false, OP_BINARY, &[0x80], true).await;
        c.send_frame(true, OP_CONT, b"", true).await;
        c.send_frame(true, OP_CONT, b"", true).await;
    })
    .await;
    assert_eq!(code, close::PROTOCOL_ERROR, "continuation after fin");

    // Tiny fragments adding up to more than max_message_bytes: 1009, not unbounded growth.
    let code = close_code_for(addr, async |c| {
        c.send_frame(false, OP_BINARY, &[0x80], true).await;
        let mut burst = Vec::new();
        for _ in 0..2000 {
            burst.extend_from_slice(&[0x00, 0x81, 1, 2, 3, 4, 0x55]); // 1-byte continuation
        }
        c.send_bytes(&burst).await;
    })
    .await;
    assert_eq!(code, close::MESSAGE_TOO_BIG, "fragment flood");

    // Close frames: 1-byte payload, codes that must never be sent, and over 125 bytes.
    assert_eq!(
        close_answer(addr, &[0x03]).await,
        close::PROTOCOL_ERROR,
        "1-byte close"
    );
    for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let code = close_answer(addr, &close_payload(bad, b"")).await;
        assert_eq!(code, close::PROTOCOL_ERROR, "close code {bad}");
    }
    let long = close_payload(1000, &[b'a'; 124]);
    assert_eq!(long.len(), 126);
    assert_eq!(
        close_answer(addr, &long).await,
        close::PROTOCOL_ERROR,
        "close > 125 B"
    );
    // A pong over 125 bytes too.
    let code = close_code_for(addr, async |c| {
        c.send_frame(true, OP_PONG, &[0u8; 126], true).await
    })
    .await;
    assert_eq!(code, close::PROTOCOL_ERROR, "pong > 125 B");

    // Valid close codes at the edges of their ranges are echoed.
    for good in [1000, 1001, 1003, 1007, 1011, 3000, 4999] {
        let code = close_answer(addr, &close_payload(good, "ciao ✓".as_bytes())).await;
        assert_eq!(code, good, "close code {good} is echoed");
    }
    // An empty close is answered with 1000.
    assert_eq!(close_answer(addr, b"").await, close::NORMAL);

    bystander.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn legal_fragmentation_is_reassembled() {
    let server = start(config(1, 300.0)).await;
    let addr = server.addr();
    let bystander = Bystander::start(addr).await;
    let mut c = Client::connect_with(addr, Some("tickcast.v1.json")).await;
    assert!(matches!(c.recv().await, ServerMessage::Welcome(_)));

    // A ping request split inside a two-byte character, with control frames between the
    // fragments: the pings are answered at once, the message after its last fragment.
    let msg = r#"{"type":"ping","id":"κ"}"#.as_bytes();
    let cut = msg.iter().position(|&b| b == 0xce).unwrap() + 1;
    c.send_frame(false, OP_TEXT, &msg[..cut], true).await;
    c.send_frame(true, OP_PING, b"between", true).await;
    c.send_frame(false, OP_CONT, b"", true).await;
    c.send_frame(true, OP_PONG, b"unsolicited", true).await;
    c.send_frame(true, OP_CONT, &msg[cut..], true).await;
    let pong = loop {
        let f = c.recv_frame().await.expect("open");
        if f.opcode == OP_PONG {
            break f;
        }
    };
    assert_eq!(pong.payload, b"between");
    match c.recv().await {
        ServerMessage::Pong(p) => {
            assert_eq!(p.id, Some(tickcast_proto::RequestId::Text("κ".into())))
        }
        other => panic!("expected the pong of the reassembled ping, got {other:?}"),
    }
    bystander.finish().await;
    server.shutdown().await;
}

/// Writes `n` masked pings of 125 bytes, then a ping "end", in large writes.
async fn write_ping_flood(
    stream: &mut (impl AsyncWriteExt + Unpin),
    n: usize,
) -> std::io::Result<()> {
    let one = {
        let mut f = vec![0x89, 0x80 | 125, 0, 0, 0, 0];
        f.extend_from_slice(&[b'p'; 125]);
        f
    };
    let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * 512).collect();
    for _ in 0..n / 512 {
        stream.write_all(&chunk).await?;
    }
    stream
        .write_all(&[0x89, 0x83, 0, 0, 0, 0, b'e', b'n', b'd'])
        .await
}

/// Reads frames until the pong "end" or a close; counts the pongs before it.
async fn count_pongs_until_end(c: &mut Client) -> (usize, Result<(), Option<u16>>) {
    let mut pongs = 0;
    loop {
        let Some(f) = c.recv_frame().await else {
            return (pongs, Err(None));
        };
        match f.opcode {
            OP_PONG if f.payload == b"end" => return (pongs, Ok(())),
            OP_PONG => pongs += 1,
            OP_CLOSE => return (pongs, Err(f.close_code())),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_ping_flood_is_rate_limited_and_closed_with_1008() {
    // The default inbound rate limit (100/s, bursts of 200): pings count like messages.
    let server = start(config(1, 300.0)).await;
    let addr = server.addr();
    let bystander = Bystander::start(addr).await;
    let (mut c, _) = Client::connect_welcomed(addr).await;
    write_ping_flood(&mut c.stream, 4096).await.unwrap();
    let (pongs, end) = count_pongs_until_end(&mut c).await;
    assert_eq!(end, Err(Some(close::POLICY_VIOLATION)));
    assert!(
        (200..=260).contains(&pongs),
        "{pongs} pongs for a burst of 200"
    );
    bystander.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_refused_ping_between_fragments_leaves_the_message_alone() {
    let server = start(config(1, 300.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    // {"type": "ping", "id": 9} in two fragments, with 250 pings between them: 200 are
    // answered, the rest refused (fewer than the 100 within a second that close the connection).
    let msg = [
        0x82, 0xa4, b't', b'y', b'p', b'e', 0xa4, b'p', b'i', b'n', b'g', 0xa2, b'i', b'd', 9,
    ];
    c.send_frame(false, OP_BINARY, &msg[..4], true).await;
    for _ in 0..250 {
        c.send_frame(true, OP_PING, b"p", true).await;
    }
    // The bucket refills at 100/s; then the last fragment is let in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.send_frame(true, OP_CONT, &msg[4..], true).await;
    // The 200 answered pings come back first (WebSocket pongs); then the message's answer.
    let answer = loop {
        let f = c.recv_frame().await.expect("connection open");
        match f.opcode {
            OP_BINARY => match decode_server(Encoding::MsgPack, &f.payload).unwrap() {
                ServerMessage::Heartbeat(_) => {}
                msg => break msg,
            },
            OP_CLOSE => panic!("closed with {:?}", f.close_code()),
            _ => {}
        }
    };
    assert!(
        matches!(&answer, ServerMessage::Pong(p) if p.id == Some(tickcast_proto::RequestId::Num(9))),
        "{answer:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn resets_mid_frame_and_mid_handshake_release_their_connections() {
    let server = start(config(1, 300.0)).await;
    let addr = server.addr();
    let mut bystander = Bystander::start(addr).await;
    wait_for_metric(addr, "tickcast_connections", 1).await;

    for i in 0..20u8 {
        let (mut c, _) = Client::connect_welcomed(addr).await;
        // A frame header announcing 1000 bytes, and only some of them.
        let mut partial = vec![0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4];
        partial.extend_from_slice(&[i; 100]);
        c.send_bytes(&partial).await;
        if i % 2 == 0 {
            // Also a reset with the server's answer still unread.
            c.send_frame(true, OP_PING, b"x", true).await;
        }
        reset(c.stream);
    }
    for _ in 0..5 {
        // Half an upgrade request, then a reset.
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: webso")
            .await
            .unwrap();
        reset(s);
    }
    wait_for_metric(addr, "tickcast_connections", 1).await;
    bystander.expect_ticks(20).await;

    // A reset straight after the upgrade, before reading anything.
    let c = Client::connect(addr).await;
    reset(c.stream);
    wait_for_metric(addr, "tickcast_connections", 1).await;
    bystander.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_frame_trickled_byte_by_byte_hits_the_idle_timeout() {
    // heartbeat 500 ms: a peer that completes no frame for 3 heartbeats is closed with 4100.
    let server = start(config(1, 300.0)).await;
    let addr = server.addr();
    let bystander = Bystander::start(addr).await;
    let mut c = Client::connect(addr).await;
    c.send_bytes(&[0x82, 0x80 | 100, 1, 2, 3, 4]).await;
    let started = Instant::now();
    let (mut read, mut write) = c.stream.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..99 {
            if write.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut bytes = Vec::new();
    timeout(WAIT, read.read_to_end(&mut bytes))
        .await
        .expect("closed before the trickle ends")
        .ok();
    trickle.abort();
    let elapsed = started.elapsed();
    // The last frame the server sent is the close.
    let close_at = bytes
        .windows(2)
        .rposition(|w| w[0] == 0x88 && (2..=125).contains(&w[1]))
        .expect("a close frame");
    assert_eq!(
        close_at + 2 + usize::from(bytes[close_at + 1]),
        bytes.len(),
        "close is last"
    );
    let code = u16::from_be_bytes([bytes[close_at + 2], bytes[close_at + 3]]);
    assert_eq!(code, close::IDLE_TIMEOUT, "after {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(1000), "{elapsed:?}");
    bystander.finish().await;
    server.shutdown().await;
}

/// Reads what the server sends on `stream` until it closes, or `limit` passes.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Result<String, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    match end {
        Ok(()) => Ok(text),
        Err(_) => Err(text),
    }
}

#[tokio::test]
async fn slowloris_connections_are_closed_after_the_handshake_timeout() {
    let mut cfg = config(1, 300.0);
    cfg.handshake_timeout = Duration::from_millis(600);
    let server = start(cfg).await;
    let addr = server.addr();
    let bystander = Bystander::start(addr).await;

    // Connects and says nothing.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Half a request.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(upgrade_request(addr, "").split_at(40).0.as_bytes())
        .await
        .unwrap();
    // A request trickled a byte every 100 ms: never finishes in time.
    let mut trickled = TcpStream::connect(addr).await.unwrap();
    let request = upgrade_request(
        addr,
        "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
    );
    let started = Instant::now();
    let (mut trickle_read, mut trickle_write) = trickled.split();
    let trickle = async {
        for b in request.bytes() {
            if trickle_write.write_all(&[b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let trickle_closed = async {
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        loop {
            match trickle_read.read(&mut buf).await {
                Ok(0) | Err(_) => return (started.elapsed(), got),
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let (elapsed, reply) = tokio::select! {
        closed = trickle_closed => closed,
        () = trickle => panic!("the whole request was trickled in without a close"),
    };
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "trickled request answered with: {reply}"
    );
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_secs(3),
        "trickle closed after {elapsed:?}"
    );

    for (what, stream) in [("silent", &mut silent), ("half request", &mut half)] {
        let reply = read_until_closed(stream, WAIT)
            .await
            .unwrap_or_else(|r| panic!("{what}: still open after {WAIT:?} ({r:?})"));
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
            "{what}: {reply}"
        );
    }
    // PROTOCOL.md §16: handshakes that timed out count as refused connections.
    let rejected = metric(addr, "tickcast_rejected_connections_total").await;
    assert!(rejected >= 3, "3 timed-out handshakes, {rejected} counted");

    // An idle keep-alive connection after a complete request is closed as well.
    let (head, mut idle) = http_raw(
        addr,
        &format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    let reply = read_until_closed(&mut idle, WAIT).await;
    assert!(
        reply.is_ok(),
        "idle keep-alive connection still open after {WAIT:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));

    // The server still upgrades a normal client at once.
    let (mut c, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut c, &["ticks.*"]).await;
    bystander.finish().await;
    server.shutdown().await;
}

/// Sends `request` (ignoring write errors: the server may close mid-way) and returns the
/// status line of the answer, or "" when the server closed without one. Never hangs.
async fn status_for(addr: SocketAddr, request: Vec<u8>) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.split();
    let send = async {
        for chunk in request.chunks(16 * 1024) {
            if write.write_all(chunk).await.is_err() {
                break;
            }
        }
        std::future::pending::<()>().await
    };
    let answer = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        got
    };
    let got = timeout(WAIT, async {
        tokio::select! {
            got = answer => got,
            () = send => unreachable!(),
        }
    })
    .await
    .expect("an answer or a close, not a hang");
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn header_floods_get_431_and_garbage_400_never_a_hang() {
    let server = start(config(1, 300.0)).await;
    let addr = server.addr();
    let bystander = Bystander::start(addr).await;
    // hyper answers 431; when the request is still coming in, the server closes with
    // unread bytes, which resets the connection and may cost the client the answer.
    let too_large = |status: &str| status.is_empty() || status.starts_with("HTTP/1.1 431 ");

    // Too many headers (the server allows 64): the whole request is read, so the 431 arrives.
    let mut many = upgrade_request(addr, "").trim_end().to_owned();
    for i in 0..200 {
        many.push_str(&format!("\r\nX-H{i}: v"));
    }
    many.push_str("\r\n\r\n");
    let status = status_for(addr, many.into_bytes()).await;
    assert!(
        status.starts_with("HTTP/1.1 431 "),
        "200 headers: {status:?}"
    );

    // One huge header (the server buffers 16 KiB of head).
    let huge = upgrade_request(addr, &format!("X-Big: {}\r\n", "a".repeat(64 * 1024)));
    let status = status_for(addr, huge.into_bytes()).await;
    assert!(too_large(&status), "64 KiB header: {status:?}");

    // A header that never ends: 4 MiB without a line break.
    let mut endless = b"GET /ws HTTP/1.1\r\nX-Endless: ".to_vec();
    endless.resize(4 << 20, b'a');
    let status = status_for(addr, endless).await;
    assert!(too_large(&status), "endless header: {status:?}");

    // A huge request line.
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(64 * 1024));
    let status = status_for(addr, long_uri.into_bytes()).await;
    assert!(too_large(&status), "64 KiB URI: {status:?}");

    // Garbage instead of HTTP (a TLS client hello on the plain port).
    let status = status_for(
        addr,
        vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc],
    )
    .await;
    assert!(
        status.starts_with("HTTP/1.1 400 "),
        "binary garbage: {status:?}"
    );

    // Many headers but under the limit still upgrade, and the server is fine.
    let mut fine = String::new();
    for i in 0..40 {
        fine.push_str(&format!("X-H{i}: v\r\n"));
    }
    let (head, _s) = http_raw(addr, &upgrade_request(addr, &fine)).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    bystander.finish().await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_server_answers_every_abuser_with_frames_a_client_can_parse() {
    // Whatever the abuse, what comes back is well-formed: unmasked frames, a close last.
    let server = start(config(1, 300.0)).await;
    let addr = server.addr();
    let (mut c, _) = Client::connect_welcomed(addr).await;
    c.send_frame(true, OP_TEXT, b"not on a msgpack connection", true)
        .await;
    c.send_frame(true, OP_BINARY, &[0xc1], true).await;
    c.send_frame(true, 0xB, b"", true).await; // reserved control opcode
    let mut frames = Vec::new();
    while let Some(f) = c.recv_frame().await {
        frames.push(f);
    }
    let last = frames.last().expect("frames");
    assert_eq!(last.close_code(), Some(close::PROTOCOL_ERROR));
    let errors = frames
        .iter()
        .filter(|f| f.opcode == OP_BINARY)
        .filter_map(|f| decode_server(Encoding::MsgPack, &f.payload).ok())
        .filter(|m| matches!(m, ServerMessage::Error(_)))
        .count();
    assert_eq!(errors, 2, "{frames:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn protocol_errors_close_with_1002_even_over_the_rate() {
    for violation in ["new message mid-fragment", "continuation without a message"] {
        let server = start(config(1, 300.0)).await;
        let (mut c, _) = Client::connect_welcomed(server.addr()).await;
        // Spend the burst (200) and more, so that the next message is over the rate.
        for _ in 0..220 {
            c.send_frame(true, OP_PING, b"p", true).await;
        }
        if violation == "new message mid-fragment" {
            c.send_frame(false, OP_BINARY, &[0x81], true).await;
            c.send_frame(true, OP_BINARY, &[0x80], true).await;
        } else {
            c.send_frame(true, OP_CONT, &[0x80], true).await;
        }
        let (_, end) = count_pongs_until_end(&mut c).await;
        assert_eq!(end, Err(Some(close::PROTOCOL_ERROR)), "{violation}");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn an_oversized_continuation_is_refused_from_its_header() {
    let mut cfg = config(1, 1.0);
    cfg.max_message_bytes = 1000;
    let server = start(cfg).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send_frame(false, OP_BINARY, &[0; 900], true).await;
    // The header of a 200-byte continuation (no payload follows): 1,100 > 1,000.
    c.send_bytes(&[0x80, 0x80 | 126, 0, 200, 1, 2, 3, 4]).await;
    assert_eq!(c.recv_close().await, Some(close::MESSAGE_TOO_BIG));
    server.shutdown().await;
}
