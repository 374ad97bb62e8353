//! The reader and writer tasks of one open WebSocket, around fastwebsockets' split halves,
//! and what they exchange with the rest of the crate ([`Inbound`], [`Outbound`]).
//!
//! `read_frame` is not cancel-safe, so exactly one task owns the read half and is never
//! raced in a `select!`; it forwards decoded messages over a channel. Auto-pongs and close
//! replies (the reader's "obligated sends") go to the writer task through its channel.

use fastwebsockets::{
    FragmentCollectorRead, Frame, OpCode, Payload, WebSocketRead, WebSocketWrite,
};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tickcast_proto::{Encoding, ServerMessage};
use tokio::{
    io::{ReadHalf, WriteHalf},
    sync::mpsc,
};

/// The upgraded stream the two halves share.
pub(crate) type Io = TokioIo<Upgraded>;

/// RFC 6455 "no status code present" (a close frame without a payload).
const NO_STATUS: u16 = 1005;

/// What the reader task hands the connection's owner (the supervisor or the publisher).
#[derive(Debug)]
pub(crate) enum Inbound {
    Message(ServerMessage),
    /// The server sent a close frame.
    Closed {
        code: u16,
        reason: String,
    },
    /// The connection broke (EOF, reset, protocol error).
    Lost(String),
}

/// A frame for the writer task, owned so it can cross tasks.
#[derive(Debug)]
pub(crate) struct Outbound {
    opcode: OpCode,
    payload: Vec<u8>,
}

impl Outbound {
    pub fn binary(payload: Vec<u8>) -> Self {
        Self {
            opcode: OpCode::Binary,
            payload,
        }
    }

    /// A close frame with `code` and `reason`; the writer stops after sending it.
    pub fn close(code: u16, reason: &str) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        Self {
            opcode: OpCode::Close,
            payload,
        }
    }
}

/// Writes each frame from `frames` and flushes; ends on a write error, after a close
/// frame, or when every sender is gone.
pub(crate) async fn write_loop(
    mut ws: WebSocketWrite<WriteHalf<Io>>,
    mut frames: mpsc::Receiver<Outbound>,
) {
    while let Some(out) = frames.recv().await {
        let is_close = out.opcode == OpCode::Close;
        let frame = Frame::new(true, out.opcode, None, Payload::Owned(out.payload));
        if ws.write_frame(frame).await.is_err() || ws.flush().await.is_err() || is_close {
            break;
        }
    }
}

/// Reads, reassembles and decodes messages into `inbound` until the connection closes or
/// breaks (reported as the last item) or nobody listens.
pub(crate) async fn read_loop(
    read: WebSocketRead<ReadHalf<Io>>,
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Sender<Outbound>,
) {
    let mut ws = FragmentCollectorRead::new(read);
    // Auto-pongs and close replies must reach the writer.
    let mut obligated = |frame: Frame<'_>| {
        let out = Outbound {
            opcode: frame.opcode,
            payload: frame.payload.to_vec(),
        };
        let outbound = outbound.clone();
        async move {
            outbound
                .send(out)
                .await
                .map_err(|_| std::io::Error::other("writer gone"))
        }
    };
    loop {
        let item = match ws.read_frame(&mut obligated).await {
            Err(e) => Inbound::Lost(e.to_string()),
            Ok(frame) => match frame.opcode {
                OpCode::Binary | OpCode::Text => {
                    let encoding = if frame.opcode == OpCode::Text {
                        Encoding::Json
                    } else {
                        Encoding::MsgPack
                    };
                    match tickcast_proto::decode_server(encoding, &frame.payload) {
                        Ok(msg) => Inbound::Message(msg),
                        Err(e) => {
                            // A newer server may send types this client does not know.
                            tracing::debug!("ignoring undecodable message: {e}");
                            continue;
                        }
                    }
                }
                OpCode::Close => {
                    let (code, reason) = close_payload(&frame.payload);
                    Inbound::Closed { code, reason }
                }
                _ => continue,
            },
        };
        let last = !matches!(item, Inbound::Message(_));
        if inbound.send(item).await.is_err() || last {
            return;
        }
    }
}

/// The code and reason of a close frame's payload (1005 when it has no code).
fn close_payload(payload: &[u8]) -> (u16, String) {
    match payload {
        [high, low, reason @ ..] => (
            u16::from_be_bytes([*high, *low]),
            String::from_utf8_lossy(reason).into_owned(),
        ),
        _ => (NO_STATUS, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_payloads_parse_with_and_without_a_code() {
        assert_eq!(close_payload(&[]), (NO_STATUS, String::new()));
        assert_eq!(close_payload(&[3]), (NO_STATUS, String::new()));
        assert_eq!(close_payload(&[0x0f, 0xa1]), (4001, String::new()));
        assert_eq!(close_payload(b"\x03\xe8bye"), (1000, "bye".to_owned()));
        let out = Outbound::close(4001, "bye");
        assert_eq!(close_payload(&out.payload), (4001, "bye".to_owned()));
    }
}
