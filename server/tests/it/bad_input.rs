//! Malformed and hostile input: clear error frames or the right close code, and the
//! server keeps serving everyone else.

use tickcast_proto::{ErrorCode, Ping, Publish, RequestId, ServerMessage, Subscribe, close};

use crate::support::*;

async fn expect_error(c: &mut Client, code: ErrorCode) -> tickcast_proto::Error {
    match c.recv().await {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, code, "{e:?}");
            assert!(!e.message.is_empty());
            e
        }
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

async fn still_alive(c: &mut Client) {
    c.send(Ping {
        id: Some(RequestId::Num(77)),
    })
    .await;
    let pong = c.recv_until(|m| matches!(m, ServerMessage::Pong(_))).await;
    assert!(matches!(pong, ServerMessage::Pong(p) if p.id == Some(RequestId::Num(77))));
}

#[tokio::test]
async fn bad_messages_get_error_frames_and_the_connection_survives() {
    let server = start(config(2, 200.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;

    c.send_frame(true, OP_TEXT, br#"{"type":"ping"}"#, true)
        .await;
    expect_error(&mut c, ErrorCode::BadFrame).await;

    c.send_frame(true, OP_BINARY, &[0xc1, 0xff, 0x00], true)
        .await;
    expect_error(&mut c, ErrorCode::BadFrame).await;

    // A msgpack array is not a message (maps only).
    c.send_frame(
        true,
        OP_BINARY,
        &[0x92, 0xa4, b'p', b'i', b'n', b'g', 0x01],
        true,
    )
    .await;
    expect_error(&mut c, ErrorCode::BadFrame).await;

    // {"id": 3} without type
    c.send_frame(true, OP_BINARY, &[0x81, 0xa2, b'i', b'd', 0x03], true)
        .await;
    let e = expect_error(&mut c, ErrorCode::BadRequest).await;
    assert_eq!(e.id, Some(RequestId::Num(3)));

    // {"type": "frobnicate", "id": 4}
    let mut unknown = vec![0x82, 0xa4, b't', b'y', b'p', b'e', 0xaa];
    unknown.extend_from_slice(b"frobnicate");
    unknown.extend_from_slice(&[0xa2, b'i', b'd', 0x04]);
    c.send_frame(true, OP_BINARY, &unknown, true).await;
    let e = expect_error(&mut c, ErrorCode::UnknownType).await;
    assert_eq!(e.id, Some(RequestId::Num(4)));

    c.send(Subscribe {
        id: Some(RequestId::Num(5)),
        topics: vec!["ticks.*".into(), "bad topic".into()],
        ..Default::default()
    })
    .await;
    let e = expect_error(&mut c, ErrorCode::BadTopic).await;
    assert_eq!(e.id, Some(RequestId::Num(5)));

    c.send(Subscribe {
        id: Some(RequestId::Num(6)),
        topics: vec![],
        ..Default::default()
    })
    .await;
    expect_error(&mut c, ErrorCode::BadRequest).await;

    c.send(Subscribe {
        topics: vec!["ticks.*".into()],
        max_rate: Some(0),
        ..Default::default()
    })
    .await;
    expect_error(&mut c, ErrorCode::BadRequest).await;

    c.send(Publish {
        id: Some(RequestId::Num(8)),
        topic: "ticks.X".into(),
        price: 1.0,
        size: 1,
        ..Default::default()
    })
    .await;
    let e = expect_error(&mut c, ErrorCode::Forbidden).await;
    assert_eq!(e.id, Some(RequestId::Num(8)));

    still_alive(&mut c).await;
    // The rejected subscribe changed nothing: a fresh subscribe lists only itself.
    assert_eq!(
        subscribe(&mut c, &["ticks.SYN0000"]).await,
        vec!["ticks.SYN0000"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn too_many_subscriptions_is_refused_whole() {
    let mut cfg = config(1, 50.0);
    cfg.max_subscriptions = 3;
    let server = start(cfg).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    assert_eq!(welcome.max_subscriptions, 3);
    subscribe(&mut c, &["a.b", "c.d"]).await;
    c.send(Subscribe {
        topics: vec!["e.f".into(), "g.h".into()],
        ..Default::default()
    })
    .await;
    expect_error(&mut c, ErrorCode::TooManySubscriptions).await;
    assert_eq!(subscribe(&mut c, &["e.f"]).await, vec!["a.b", "c.d", "e.f"]);
    server.shutdown().await;
}

/// Opens a connection, sends `abuse`, and returns the close code the server sent.
async fn close_code_for(
    addr: std::net::SocketAddr,
    abuse: impl AsyncFnOnce(&mut Client),
) -> Option<u16> {
    let (mut c, _) = Client::connect_welcomed(addr).await;
    abuse(&mut c).await;
    c.recv_close().await
}

#[tokio::test]
async fn protocol_violations_get_the_rfc_close_codes_and_others_keep_receiving() {
    let mut cfg = config(1, 300.0);
    cfg.max_message_bytes = 1024;
    let server = start(cfg).await;
    let addr = server.addr();
    let (mut bystander, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut bystander, &["ticks.*"]).await;

    let too_big = close_code_for(addr, async |c| {
        c.send_frame(true, OP_BINARY, &[0u8; 2000], true).await
    })
    .await;
    assert_eq!(too_big, Some(close::MESSAGE_TOO_BIG));

    let fragmented_too_big = close_code_for(addr, async |c| {
        c.send_frame(false, OP_BINARY, &[0x80; 500], true).await;
        c.send_frame(false, OP_CONT, &[0x80; 500], true).await;
        c.send_frame(true, OP_CONT, &[0x80; 500], true).await;
    })
    .await;
    assert_eq!(fragmented_too_big, Some(close::MESSAGE_TOO_BIG));

    let huge_declared = close_code_for(addr, async |c| {
        let mut head = vec![0x82, 0xff];
        head.extend_from_slice(&(1u64 << 62).to_be_bytes());
        head.extend_from_slice(&[1, 2, 3, 4]);
        c.send_bytes(&head).await;
    })
    .await;
    assert_eq!(huge_declared, Some(close::MESSAGE_TOO_BIG));

    let unmasked = close_code_for(addr, async |c| {
        c.send_frame(true, OP_BINARY, &[0x80], false).await
    })
    .await;
    assert_eq!(unmasked, Some(close::PROTOCOL_ERROR));

    let reserved_bits = close_code_for(addr, async |c| {
        c.send_bytes(&[0xc2, 0x80, 0, 0, 0, 0]).await
    })
    .await;
    assert_eq!(reserved_bits, Some(close::PROTOCOL_ERROR));

    let bad_opcode = close_code_for(addr, async |c| c.send_frame(true, 0x3, b"", true).await).await;
    assert_eq!(bad_opcode, Some(close::PROTOCOL_ERROR));

    let fragmented_ping = close_code_for(addr, async |c| {
        c.send_frame(false, OP_PING, b"x", true).await
    })
    .await;
    assert_eq!(fragmented_ping, Some(close::PROTOCOL_ERROR));

    let big_ping = close_code_for(addr, async |c| {
        c.send_frame(true, OP_PING, &[0u8; 126], true).await
    })
    .await;
    assert_eq!(big_ping, Some(close::PROTOCOL_ERROR));

    let stray_continuation = close_code_for(addr, async |c| {
        c.send_frame(true, OP_CONT, b"x", true).await
    })
    .await;
    assert_eq!(stray_continuation, Some(close::PROTOCOL_ERROR));

    let bad_utf8 = close_code_for(addr, async |c| {
        c.send_frame(true, OP_TEXT, &[0xff, 0xfe], true).await
    })
    .await;
    assert_eq!(bad_utf8, Some(close::INVALID_PAYLOAD));

    let bad_close_code = close_code_for(addr, async |c| {
        c.send_frame(true, OP_CLOSE, &999u16.to_be_bytes(), true)
            .await
    })
    .await;
    assert_eq!(bad_close_code, Some(close::PROTOCOL_ERROR));

    let bad_close_reason = close_code_for(addr, async |c| {
        c.send_frame(true, OP_CLOSE, &[0x03, 0xe8, 0xff], true)
            .await
    })
    .await;
    assert_eq!(bad_close_reason, Some(close::INVALID_PAYLOAD));

    let polite = close_code_for(addr, async |c| {
        c.send_frame(true, OP_CLOSE, &[0x03, 0xe8, b'o', b'k'], true)
            .await
    })
    .await;
    assert_eq!(polite, Some(1000), "a close is echoed with its code");

    // A ping is answered with the same payload.
    let (mut c, _) = Client::connect_welcomed(addr).await;
    c.send_frame(true, OP_PING, b"hello", true).await;
    let pong = loop {
        let f = c.recv_frame().await.unwrap();
        if f.opcode == OP_PONG {
            break f;
        }
    };
    assert_eq!(pong.payload, b"hello");

    // Through all of it the bystander kept getting its ticks in order.
    let mut last = None;
    for _ in 0..20 {
        if let ServerMessage::Tick(t) = bystander.recv().await {
            if let Some(prev) = last {
                assert_eq!(t.seq, prev + 1);
            }
            last = Some(t.seq);
        }
    }
    assert!(last.is_some());
    server.shutdown().await;
}
