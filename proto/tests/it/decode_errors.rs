//! How the decoder classifies broken input (the server answers with the error code it
//! gives), and what it tolerates: unknown keys, integers for floats, any MessagePack writer.

use rmpv::Value;
use tickcast_proto::{
    ClientMessage, DecodeError, Encoding, ErrorCode, List, Ping, Publish, RequestId, ServerMessage,
    Subscribe, Tick, decode_client, decode_server, encode,
};

/// Writes `value` with a generic MessagePack writer (not our serde types).
fn msgpack(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, value).expect("writes to a Vec");
    out
}

/// A MessagePack map with string keys.
fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}

/// The JSON text of a JSON literal, and the same map written by the generic MessagePack writer.
fn both(json: &str) -> [(Encoding, Vec<u8>); 2] {
    let value: serde_json::Value = serde_json::from_str(json).expect("test JSON parses");
    [
        (Encoding::Json, json.as_bytes().to_vec()),
        (Encoding::MsgPack, msgpack(&json_to_msgpack(&value))),
    ]
}

fn json_to_msgpack(value: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match value {
        J::Null => Value::Nil,
        J::Bool(b) => Value::from(*b),
        J::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (None, Some(i), _) => Value::from(i),
            (None, None, Some(f)) => Value::from(f),
            _ => unreachable!("a JSON number is u64, i64 or f64"),
        },
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::Array(items.iter().map(json_to_msgpack).collect()),
        J::Object(fields) => Value::Map(
            fields
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), json_to_msgpack(v)))
                .collect(),
        ),
    }
}

fn client_err(encoding: Encoding, bytes: &[u8]) -> DecodeError {
    match decode_client(encoding, bytes) {
        Ok(msg) => panic!("{encoding:?} {bytes:02x?} decoded as {msg:?}"),
        Err(e) => e,
    }
}

#[test]
fn garbage_is_not_a_message() {
    let msgpack_garbage: [&[u8]; 6] = [
        b"",
        &[0xc1],             // the one byte MessagePack never uses
        &[0x2a],             // the integer 42
        &[0xa4, b'p', b'i'], // a string cut short
        &[0x81, 0xa4],       // a map cut short
        &[0xc0],             // nil
    ];
    for bytes in msgpack_garbage {
        let err = client_err(Encoding::MsgPack, bytes);
        assert!(
            matches!(err, DecodeError::NotAMessage { .. }),
            "{bytes:02x?}: {err:?}"
        );
        assert_eq!(err.code(), ErrorCode::BadFrame);
        assert_eq!(err.id(), None);
    }
    for text in [
        "",
        "not json",
        "42",
        "\"ping\"",
        "null",
        "{\"type\":",
        "{'type':'ping'}",
    ] {
        let err = client_err(Encoding::Json, text.as_bytes());
        assert!(
            matches!(err, DecodeError::NotAMessage { .. }),
            "{text:?}: {err:?}"
        );
        assert_eq!(err.code(), ErrorCode::BadFrame);
    }
}

#[test]
fn the_wrong_encoding_is_not_a_message() {
    let ping = ClientMessage::Ping(Ping {
        id: Some(RequestId::Num(1)),
    });
    let as_json = encode(Encoding::Json, &ping).expect("encodes");
    let as_msgpack = encode(Encoding::MsgPack, &ping).expect("encodes");
    assert_eq!(
        client_err(Encoding::MsgPack, &as_json).code(),
        ErrorCode::BadFrame
    );
    assert_eq!(
        client_err(Encoding::Json, &as_msgpack).code(),
        ErrorCode::BadFrame
    );
}

#[test]
fn a_map_without_type_is_a_bad_request_with_its_id() {
    for (encoding, bytes) in both(r#"{"id": 7, "topics": ["ticks.*"]}"#) {
        let err = client_err(encoding, &bytes);
        assert_eq!(
            err,
            DecodeError::MissingType {
                id: Some(RequestId::Num(7))
            }
        );
        assert_eq!(err.code(), ErrorCode::BadRequest);
    }
    for (encoding, bytes) in both("{}") {
        assert_eq!(
            client_err(encoding, &bytes),
            DecodeError::MissingType { id: None }
        );
    }
}

#[test]
fn a_type_that_is_not_a_string_is_a_bad_request() {
    for (encoding, bytes) in both(r#"{"type": 5, "id": "r1"}"#) {
        let err = client_err(encoding, &bytes);
        assert_eq!(err.code(), ErrorCode::BadRequest, "{encoding:?}: {err:?}");
        assert_eq!(err.id(), Some(&RequestId::Text("r1".into())));
    }
}

#[test]
fn an_unknown_type_is_unknown_type_with_its_id() {
    for (encoding, bytes) in both(r#"{"type": "fly", "id": 9, "to": "moon"}"#) {
        let err = client_err(encoding, &bytes);
        assert_eq!(
            err,
            DecodeError::UnknownType {
                kind: "fly".into(),
                id: Some(RequestId::Num(9))
            }
        );
        assert_eq!(err.code(), ErrorCode::UnknownType);
    }
    for (encoding, bytes) in both(r#"{"type": "ping ", "id": "a"}"#) {
        assert_eq!(client_err(encoding, &bytes).code(), ErrorCode::UnknownType);
    }
}

#[test]
fn a_server_message_sent_by_a_client_is_an_unknown_type() {
    for (encoding, bytes) in both(r#"{"type": "heartbeat", "ts": 1}"#) {
        let err = client_err(encoding, &bytes);
        assert_eq!(err.code(), ErrorCode::UnknownType, "{err:?}");
    }
    // ...and the other way round.
    for (encoding, bytes) in both(r#"{"type": "ping", "id": 1}"#) {
        let err = decode_server(encoding, &bytes).expect_err("ping is not a server message");
        assert_eq!(err.code(), ErrorCode::UnknownType, "{err:?}");
    }
}

#[test]
fn bad_fields_are_a_bad_request_with_the_id_echoed() {
    let cases = [
        (r#"{"type": "subscribe", "id": 1}"#, Some(RequestId::Num(1))),
        (
            r#"{"type": "subscribe", "id": "s", "topics": "ticks.*"}"#,
            Some(RequestId::Text("s".into())),
        ),
        (
            r#"{"type": "subscribe", "id": 2, "topics": [1]}"#,
            Some(RequestId::Num(2)),
        ),
        (
            r#"{"type": "subscribe", "id": 3, "topics": [], "since": {"ticks.A": [1]}}"#,
            Some(RequestId::Num(3)),
        ),
        (
            r#"{"type": "subscribe", "id": 4, "topics": [], "max_rate": -1}"#,
            Some(RequestId::Num(4)),
        ),
        (
            r#"{"type": "subscribe", "id": 5, "topics": [], "snapshot": "yes"}"#,
            Some(RequestId::Num(5)),
        ),
        (
            r#"{"type": "publish", "id": 6, "topic": "ticks.A", "price": "1.5", "size": 1}"#,
            Some(RequestId::Num(6)),
        ),
        (
            r#"{"type": "publish", "id": 7, "topic": "ticks.A", "price": 1.5, "size": -1}"#,
            Some(RequestId::Num(7)),
        ),
        (
            r#"{"type": "publish", "topic": "ticks.A", "price": 1.5, "size": 1.5}"#,
            None,
        ),
        (
            r#"{"type": "list", "id": 8, "pattern": 5}"#,
            Some(RequestId::Num(8)),
        ),
        // An id that is neither an integer nor a string cannot be echoed.
        (r#"{"type": "ping", "id": [1]}"#, None),
        (r#"{"type": "ping", "id": -1}"#, None),
    ];
    for (json, id) in cases {
        for (encoding, bytes) in both(json) {
            let err = client_err(encoding, &bytes);
            assert!(
                matches!(err, DecodeError::Invalid { .. }),
                "{encoding:?} {json}: {err:?}"
            );
            assert_eq!(err.code(), ErrorCode::BadRequest, "{json}");
            assert_eq!(err.id(), id.as_ref(), "{encoding:?} {json}");
        }
    }
}

#[test]
fn unknown_keys_are_ignored() {
    let subscribe = r#"{"type": "subscribe", "id": 1, "topics": ["ticks.*"], "future": {"a": [1, 2.5, null]}, "x": null}"#;
    for (encoding, bytes) in both(subscribe) {
        assert_eq!(
            decode_client(encoding, &bytes),
            Ok(ClientMessage::Subscribe(Subscribe {
                id: Some(RequestId::Num(1)),
                topics: vec!["ticks.*".into()],
                snapshot: true,
                since: None,
                max_rate: None,
                rewind: None,
                depth: None,
            })),
            "{encoding:?}"
        );
    }
    let tick = r#"{"type": "tick", "topic": "ticks.A", "seq": 2, "ts": 3, "symbol": "A", "price": 1.5,
        "size": 4, "bid": 1.25, "ask": 1.75, "volume": 5, "venue": "XNAS", "flags": [1]}"#;
    for (encoding, bytes) in both(tick) {
        assert_eq!(
            decode_server(encoding, &bytes),
            Ok(ServerMessage::Tick(Tick {
                topic: "ticks.A".into(),
                seq: 2,
                ts: 3,
                symbol: "A".into(),
                price: 1.5,
                size: 4,
                bid: 1.25,
                ask: 1.75,
                volume: 5,
            })),
            "{encoding:?}"
        );
    }
}

#[test]
fn unknown_enum_values_from_a_newer_server_are_kept_as_unknown() {
    let json = r#"{"type": "error", "code": "on_fire", "message": "m"}"#;
    for (encoding, bytes) in both(json) {
        let ServerMessage::Error(err) = decode_server(encoding, &bytes).expect("decodes") else {
            panic!("not an error");
        };
        assert_eq!(err.code, ErrorCode::Unknown);
    }
    let json = r#"{"type": "status", "topic": "ticks.A", "state": "auction", "ts": 1}"#;
    for (encoding, bytes) in both(json) {
        let ServerMessage::Status(status) = decode_server(encoding, &bytes).expect("decodes")
        else {
            panic!("not a status");
        };
        assert_eq!(status.state, tickcast_proto::MarketState::Unknown);
    }
}

#[test]
fn an_integer_is_accepted_where_a_float_is_expected() {
    let json = r#"{"type": "publish", "topic": "ticks.A", "price": 100, "size": 5, "bid": 99}"#;
    for (encoding, bytes) in both(json) {
        assert_eq!(
            decode_client(encoding, &bytes),
            Ok(ClientMessage::Publish(Publish {
                id: None,
                topic: "ticks.A".into(),
                price: 100.0,
                size: 5,
                bid: Some(99.0),
                ask: None,
                ts: None,
            })),
            "{encoding:?}"
        );
    }
}

#[test]
fn a_map_from_a_generic_msgpack_writer_decodes() {
    // Keys in another order than ours, `type` last, the smallest integer encodings,
    // a float32, a negative-fixint-free id: what another language's library may write.
    let subscribe = map(&[
        (
            "topics",
            Value::Array(vec!["ticks.*".into(), "bars.1m.>".into()]),
        ),
        ("max_rate", Value::from(4u8)),
        (
            "since",
            map(&[(
                "ticks.AAPL",
                Value::Array(vec![
                    Value::from(1_764_072_000_000_000_000u64),
                    Value::from(17u8),
                ]),
            )]),
        ),
        ("snapshot", Value::from(false)),
        ("id", Value::from("sub-1")),
        ("type", Value::from("subscribe")),
    ]);
    assert_eq!(
        decode_client(Encoding::MsgPack, &msgpack(&subscribe)),
        Ok(ClientMessage::Subscribe(Subscribe {
            id: Some(RequestId::Text("sub-1".into())),
            topics: vec!["ticks.*".into(), "bars.1m.>".into()],
            snapshot: false,
            since: Some([("ticks.AAPL".to_owned(), (1_764_072_000_000_000_000, 17))].into()),
            max_rate: Some(4),
            rewind: None,
            depth: None,
        }))
    );

    let publish = map(&[
        ("type", Value::from("publish")),
        ("topic", Value::from("ticks.AAPL")),
        ("price", Value::F32(187.5)),
        ("size", Value::from(300u16)),
        ("ask", Value::F64(187.51)),
    ]);
    assert_eq!(
        decode_client(Encoding::MsgPack, &msgpack(&publish)),
        Ok(ClientMessage::Publish(Publish {
            id: None,
            topic: "ticks.AAPL".into(),
            price: 187.5,
            size: 300,
            bid: None,
            ask: Some(187.51),
            ts: None,
        }))
    );

    let list = map(&[("type", Value::from("list"))]);
    assert_eq!(
        decode_client(Encoding::MsgPack, &msgpack(&list)),
        Ok(ClientMessage::List(List::default()))
    );
}

#[test]
fn our_msgpack_is_a_map_with_string_keys_and_type_first() {
    for msg in crate::doc_examples::every_server_variant() {
        let bytes = encode(Encoding::MsgPack, &msg).expect("encodes");
        let value = rmpv::decode::read_value(&mut &bytes[..]).expect("generic reader reads it");
        let Value::Map(entries) = value else {
            panic!("{msg:?} is not a map: {value}");
        };
        assert!(
            entries.iter().all(|(k, _)| k.is_str()),
            "{msg:?} has a non-string key"
        );
        assert_eq!(entries[0].0.as_str(), Some("type"), "{msg:?}");
    }
    for msg in crate::doc_examples::every_client_variant() {
        let bytes = encode(Encoding::MsgPack, &msg).expect("encodes");
        let value = rmpv::decode::read_value(&mut &bytes[..]).expect("generic reader reads it");
        assert!(value.is_map(), "{msg:?}");
        assert_eq!(value.as_map().and_then(|m| m[0].0.as_str()), Some("type"));
    }
}

#[test]
fn a_positional_array_is_not_a_message() {
    // Messages are maps with named fields; an array that lists the fields in order (what
    // some MessagePack libraries write for structs) is refused, not guessed at.
    for json in [
        r#"["ping", 5]"#,
        r#"["subscribe", 1, ["ticks.*"]]"#,
        "[]",
        r#"[{"type": "ping"}]"#,
    ] {
        for (encoding, bytes) in both(json) {
            let err = client_err(encoding, &bytes);
            assert!(
                matches!(err, DecodeError::NotAMessage { .. }),
                "{encoding:?} {json}: {err:?}"
            );
        }
    }
}

#[test]
fn a_null_type_counts_as_no_type() {
    for (encoding, bytes) in both(r#"{"type": null, "id": 1}"#) {
        assert_eq!(
            client_err(encoding, &bytes),
            DecodeError::MissingType {
                id: Some(RequestId::Num(1))
            }
        );
    }
}

/// PROTOCOL.md §3: `type` is a MessagePack `str`, never `bin`; a frame carries one message.
#[test]
fn type_as_bin_is_bad_request_and_trailing_maps_are_bad_frame() {
    let bin_type = msgpack(&map(&[
        ("type", Value::Binary(b"ping".to_vec())),
        ("id", Value::from(7)),
    ]));
    let err = client_err(Encoding::MsgPack, &bin_type);
    assert_eq!(err.code(), ErrorCode::BadRequest, "{err}");
    assert_eq!(err.id(), Some(&RequestId::Num(7)));

    let ping = msgpack(&map(&[("type", Value::from("ping"))]));
    let mut two = ping.clone();
    two.extend_from_slice(&ping);
    assert_eq!(
        client_err(Encoding::MsgPack, &two).code(),
        ErrorCode::BadFrame
    );
    let mut one_and_junk = ping.clone();
    one_and_junk.push(0xc0);
    assert_eq!(
        client_err(Encoding::MsgPack, &one_and_junk).code(),
        ErrorCode::BadFrame
    );
    let json_two = br#"{"type":"ping"}{"type":"ping"}"#;
    assert_eq!(
        client_err(Encoding::Json, json_two).code(),
        ErrorCode::BadFrame
    );
    // One map alone still decodes, in both encodings.
    assert!(decode_client(Encoding::MsgPack, &ping).is_ok());
    assert!(decode_client(Encoding::Json, br#" {"type":"ping"} "#).is_ok());
}
