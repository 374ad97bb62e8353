//! Every message survives encode + decode in both encodings, and no input panics a decoder.

use std::fmt::Debug;

use proptest::prelude::*;
use tickcast_proto::{
    ClientMessage, Encoding, Message, ServerMessage, decode, decode_client, decode_server, encode,
};

use crate::strategies::{self as s, client_message, server_message};

/// Encodes `msg` in both encodings and checks that decoding gives it back unchanged.
fn round_trip<T: Message + PartialEq + Debug>(msg: &T) -> Result<(), TestCaseError> {
    for encoding in Encoding::ALL {
        let bytes = encode(encoding, msg)
            .map_err(|e| TestCaseError::fail(format!("{encoding:?} encode: {e}")))?;
        let back = decode::<T>(encoding, &bytes)
            .map_err(|e| TestCaseError::fail(format!("{encoding:?} decode: {e}")))?;
        prop_assert_eq!(&back, msg, "{:?}", encoding);
    }
    Ok(())
}

macro_rules! round_trips {
    ($enum:ident: $($name:ident),* $(,)?) => {
        proptest! {
            $(
                #[test]
                fn $name(msg in s::$name()) {
                    round_trip(&$enum::from(msg))?;
                }
            )*
        }
    };
}

mod client {
    use super::*;
    round_trips!(ClientMessage: subscribe, unsubscribe, list, ping, publish);
}

mod server {
    use super::*;
    round_trips!(ServerMessage: welcome, ack, error, topics, pong, tick, snapshot, bar, status,
        lagged, heartbeat, shutdown);
}

/// Decodes `bytes` as both message kinds in both encodings; any result is fine, a panic is not.
fn decode_all(bytes: &[u8]) {
    for encoding in Encoding::ALL {
        for err in [
            decode_client(encoding, bytes).err(),
            decode_server(encoding, bytes).err(),
        ]
        .into_iter()
        .flatten()
        {
            // Classifying and printing the error must not panic either.
            let _ = (err.code(), err.id(), err.to_string());
        }
    }
}

/// A valid frame with some bytes overwritten and possibly cut short: close enough to a
/// message to get past the first checks of the decoder.
fn mutated(frame: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (
        frame,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(mut bytes, edits, cut)| {
            if !bytes.is_empty() {
                for (at, byte) in edits {
                    let i = at.index(bytes.len());
                    bytes[i] = byte;
                }
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

fn any_frame() -> impl Strategy<Value = Vec<u8>> {
    let encoding = prop_oneof![Just(Encoding::MsgPack), Just(Encoding::Json)];
    prop_oneof![
        (encoding.clone(), client_message()).prop_map(|(e, m)| encode(e, &m).expect("encodes")),
        (encoding, server_message()).prop_map(|(e, m)| encode(e, &m).expect("encodes")),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&bytes);
    }

    #[test]
    fn bytes_after_a_map_header_never_panic(
        header in prop_oneof![0x80u8..=0x8f, Just(0xde), Just(0xdf), Just(b'{')],
        rest in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = vec![header];
        bytes.extend(rest);
        decode_all(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(bytes in mutated(any_frame())) {
        decode_all(&bytes);
    }
}

proptest! {
    /// `Snapshot::trade` carries over every field a tick shares with the snapshot.
    #[test]
    fn a_snapshots_trade_is_its_same_named_fields(snap in s::snapshot()) {
        let json = |msg: ServerMessage| -> serde_json::Map<String, serde_json::Value> {
            let bytes = encode(Encoding::Json, &msg).expect("encode");
            serde_json::from_slice(&bytes).expect("a JSON map")
        };
        let tick = json(ServerMessage::Tick(snap.trade()));
        let whole = json(ServerMessage::Snapshot(snap));
        for (key, value) in &tick {
            if key != "type" {
                prop_assert_eq!(Some(value), whole.get(key), "{}", key);
            }
        }
        prop_assert_eq!(tick.len(), 10, "{:?}", tick.keys().collect::<Vec<_>>());
    }
}
