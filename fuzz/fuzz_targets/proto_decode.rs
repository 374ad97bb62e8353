//! The proto decoder on arbitrary bytes, both encodings, both directions.
//!
//! Decoding must never panic, and whatever decodes must survive a round trip:
//! `decode(encode(m)) == m` (messages holding NaN are skipped: NaN != NaN), so the server
//! never forwards something it cannot read back. For MessagePack server messages the
//! allocation-free `peek_msgpack` must agree with the decoder on `type`, `seq` and `ts`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickcast_proto::{
    ClientMessage, Encoding, ServerMessage, decode_client, decode_server, encode, peek_msgpack,
};

fn round_trip_client(encoding: Encoding, msg: &ClientMessage) {
    #[allow(clippy::eq_op)]
    if msg != msg {
        return;
    }
    if let Ok(bytes) = encode(encoding, msg) {
        let again = decode_client(encoding, &bytes).unwrap_or_else(|e| {
            panic!("{encoding:?}: cannot decode what we encoded: {e}\n{msg:?}")
        });
        assert_eq!(&again, msg, "{encoding:?} round trip");
    }
}

fn round_trip_server(encoding: Encoding, msg: &ServerMessage) {
    #[allow(clippy::eq_op)]
    if msg != msg {
        return;
    }
    if let Ok(bytes) = encode(encoding, msg) {
        let again = decode_server(encoding, &bytes).unwrap_or_else(|e| {
            panic!("{encoding:?}: cannot decode what we encoded: {e}\n{msg:?}")
        });
        assert_eq!(&again, msg, "{encoding:?} round trip");
    }
}

/// The `seq` and `ts` a decoded server message carries, as `peek_msgpack` should see them.
fn seq_ts(msg: &ServerMessage) -> (Option<u64>, Option<u64>) {
    match msg {
        ServerMessage::Tick(t) => (Some(t.seq), Some(t.ts)),
        ServerMessage::Snapshot(s) => (Some(s.seq), Some(s.ts)),
        ServerMessage::Bar(b) => (Some(b.seq), Some(b.ts)),
        _ => (None, None),
    }
}

fuzz_target!(|data: &[u8]| {
    for encoding in [Encoding::MsgPack, Encoding::Json] {
        if let Ok(msg) = decode_client(encoding, data) {
            round_trip_client(encoding, &msg);
        } else if let Err(e) = decode_client(encoding, data) {
            // Classifying the error must not panic either.
            let _ = (e.code(), e.id(), e.to_string());
        }
        if let Ok(msg) = decode_server(encoding, data) {
            round_trip_server(encoding, &msg);
            if encoding == Encoding::MsgPack {
                let (seq, ts) = seq_ts(&msg);
                if seq.is_some() {
                    let peeked = peek_msgpack(data).expect("peek reads what decode reads");
                    assert_eq!(
                        (peeked.seq, peeked.ts),
                        (seq, ts),
                        "peek vs decode: {msg:?}"
                    );
                }
            }
        }
    }
    let _ = peek_msgpack(data);
});
