//! Server-to-client WebSocket frames, built once as `Bytes` and shared by every receiver.

use bytes::Bytes;
use fastwebsockets::{Frame, OpCode, Payload};
use serde::Serialize;
use tickcast_proto::{EncodeError, Encoding, encode_into};

/// Largest header of an unmasked frame: 2 bytes + 8-byte extended length.
const MAX_HEAD: usize = 10;

fn finish(mut buf: Vec<u8>, opcode: OpCode) -> Bytes {
    let mut head = [0u8; MAX_HEAD + 4];
    let n = Frame::new(true, opcode, None, Payload::Borrowed(&buf[MAX_HEAD..])).fmt_head(&mut head);
    let start = MAX_HEAD - n;
    buf[start..MAX_HEAD].copy_from_slice(&head[..n]);
    Bytes::from(buf).slice(start..)
}

/// Encodes `msg` and frames it in one buffer (binary frame for msgpack, text for JSON).
pub fn encode<T: Serialize + ?Sized>(encoding: Encoding, msg: &T) -> Result<Bytes, EncodeError> {
    let mut buf = Vec::with_capacity(192);
    buf.resize(MAX_HEAD, 0);
    encode_into(encoding, msg, &mut buf)?;
    let opcode = if encoding.is_text() {
        OpCode::Text
    } else {
        OpCode::Binary
    };
    Ok(finish(buf, opcode))
}

/// The payload of a frame built here: the bytes after its (unmasked) header, shared, not
/// copied.
pub fn payload(frame: &Bytes) -> Bytes {
    let head = match frame.get(1).map(|len| len & 0x7f) {
        Some(126) => 4,
        Some(127) => 10,
        _ => 2,
    };
    frame.slice(head.min(frame.len())..)
}

/// A single unfragmented frame carrying `payload` as is (e.g. an echo).
pub fn raw(opcode: OpCode, payload: &[u8]) -> Bytes {
    control(opcode, payload)
}

fn control(opcode: OpCode, payload: &[u8]) -> Bytes {
    let mut buf = Vec::with_capacity(MAX_HEAD + payload.len());
    buf.resize(MAX_HEAD, 0);
    buf.extend_from_slice(payload);
    finish(buf, opcode)
}

/// A close frame with `code` and a reason cut to fit the 125-byte control limit.
pub fn close(code: u16, reason: &str) -> Bytes {
    let mut cut = reason.len().min(123);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = Vec::with_capacity(2 + cut);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    control(OpCode::Close, &payload)
}

/// A pong echoing `payload`.
pub fn pong(payload: &[u8]) -> Bytes {
    control(OpCode::Pong, payload)
}

/// A ping the peer must answer.
pub fn ping() -> Bytes {
    control(OpCode::Ping, b"tc")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_what_follows_the_header() {
        for len in [3, 200, 70_000] {
            let msg = "z".repeat(len);
            let frame = encode(Encoding::MsgPack, &msg).unwrap();
            assert_eq!(
                payload(&frame),
                tickcast_proto::encode(Encoding::MsgPack, &msg).unwrap()
            );
        }
    }

    #[test]
    fn frames_small_and_extended_lengths() {
        let small = close(1000, "bye");
        assert_eq!(&small[..], &[0x88, 5, 0x03, 0xe8, b'b', b'y', b'e']);
        let big = encode(Encoding::Json, &"x".repeat(200)).unwrap();
        assert_eq!(big[0], 0x81);
        assert_eq!(big[1], 126);
        assert_eq!(u16::from_be_bytes([big[2], big[3]]) as usize, big.len() - 4);
        let huge = encode(Encoding::MsgPack, &"y".repeat(70_000)).unwrap();
        assert_eq!(huge[0], 0x82);
        assert_eq!(huge[1], 127);
    }

    #[test]
    fn close_reason_is_cut_on_a_char_boundary() {
        let f = close(1008, &"é".repeat(100));
        assert!(f.len() - 2 <= 125);
        assert!(std::str::from_utf8(&f[4..]).is_ok());
    }
}
