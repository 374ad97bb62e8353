//! The reader: client frames in, checked against the protocol (fragment reassembly,
//! close payloads, UTF-8) and the inbound rate limit, answered through the outbox.

use std::sync::Arc;

use fastwebsockets::OpCode;
use tickcast_proto::{ErrorCode, close};
use tokio::io::AsyncRead;

use super::ReadEnd;
use super::rate_limit::{RateVerdict, TokenBucket};
use super::requests::{handle_request, send_error};
use crate::App;
use crate::auth::Grant;
use crate::broker::Peer;
use crate::frame;
use crate::keepalive::mono_us;
use crate::wsread::{FrameReader, ReadError};

/// What the reader keeps between frames (and while the connection is parked).
pub(super) struct ReadState {
    bucket: TokenBucket,
    /// A fragmented message being reassembled: its opcode and bytes so far.
    /// Boxed: a fragmented message is rare, and a parked connection is kept small.
    partial: Option<Box<(OpCode, Vec<u8>)>>,
}

impl ReadState {
    pub(super) fn new(app: &App, grant: &Grant) -> Self {
        // Publishers are trusted to send at their feed's rate; everyone else is limited.
        let rate = if grant.publish {
            0
        } else {
            app.config.max_inbound_rate
        };
        Self {
            bucket: TokenBucket::new(rate),
            partial: None,
        }
    }

    /// No message is half reassembled.
    pub(super) fn is_idle(&self) -> bool {
        self.partial.is_none()
    }
}

/// Reads `frames` until the peer goes or the connection must close.
pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    io: &mut R,
    frames: &mut FrameReader,
    state: &mut ReadState,
    peer: &Arc<Peer>,
    app: &App,
    grant: &Grant,
) -> ReadEnd {
    let limit = app.config.max_message_bytes;
    let ReadState { bucket, partial } = state;
    let fail = |code: u16, reason: &str| {
        peer.outbox.close(code, reason);
        ReadEnd::Closing
    };
    loop {
        // Backpressure: while this client's answers are not being read, stop reading its
        // requests.
        peer.outbox.wait_for_room().await;
        // A continuation frame may bring only what the message has room left for: one that
        // would overflow it is refused from its header, before its payload is buffered.
        let room = partial
            .as_ref()
            .map_or(limit, |message| limit.saturating_sub(message.1.len()));
        let frame = match frames.next(io, room).await {
            Ok(frame) => frame,
            Err(ReadError::Protocol { code, reason }) => return fail(code, reason),
            Err(ReadError::Gone(_)) => return ReadEnd::Peer,
        };
        peer.liveness.heard();
        let closing = peer.outbox.is_closing();
        // Protocol errors close the connection whatever the rate.
        match frame.opcode {
            OpCode::Text | OpCode::Binary if partial.is_some() => {
                return fail(
                    close::PROTOCOL_ERROR,
                    "new message before the previous one finished",
                );
            }
            OpCode::Continuation if partial.is_none() => {
                return fail(
                    close::PROTOCOL_ERROR,
                    "continuation frame without a message",
                );
            }
            _ => {}
        }
        let counted = matches!(frame.opcode, OpCode::Ping)
            || (frame.fin && frame.opcode != OpCode::Close && frame.opcode != OpCode::Pong);
        if counted && !closing {
            match bucket.take(mono_us()) {
                RateVerdict::Allow => {}
                RateVerdict::Refuse => {
                    if frame.opcode != OpCode::Ping {
                        let message = format!(
                            "over {} messages per second; slow down",
                            app.config.max_inbound_rate
                        );
                        send_error(peer, app, None, ErrorCode::RateLimited, message);
                        // The refused message is dropped whole (a ping between its
                        // fragments is not a message: it leaves them alone).
                        *partial = None;
                    }
                    continue;
                }
                RateVerdict::Close => {
                    return fail(close::POLICY_VIOLATION, "inbound rate limit exceeded");
                }
            }
        }
        match frame.opcode {
            OpCode::Close => {
                return match check_close(frame.payload) {
                    Ok(code) => fail(code, ""),
                    Err((code, reason)) => fail(code, reason),
                };
            }
            OpCode::Ping if !closing => peer.outbox.push(frame::pong(frame.payload)),
            OpCode::Ping | OpCode::Pong => {}
            OpCode::Text | OpCode::Binary => {
                if frame.fin {
                    if !closing {
                        if let Some(end) = on_message(peer, app, grant, frame.opcode, frame.payload)
                        {
                            return end;
                        }
                    }
                } else {
                    *partial = Some(Box::new((frame.opcode, frame.payload.to_vec())));
                }
            }
            OpCode::Continuation => {
                // Both checked already: a message is being reassembled (above), and the
                // reader refused a frame past the message's room (`room`).
                let Some(mut message) = partial.take() else {
                    continue;
                };
                message.1.extend_from_slice(frame.payload);
                if !frame.fin {
                    *partial = Some(message);
                } else if !closing {
                    let (opcode, buf) = &*message;
                    if let Some(end) = on_message(peer, app, grant, *opcode, buf) {
                        return end;
                    }
                }
            }
        }
    }
}

/// Checks a close frame's payload; returns the code to echo or the protocol error.
fn check_close(payload: &[u8]) -> Result<u16, (u16, &'static str)> {
    match payload {
        [] => Ok(close::NORMAL),
        [_] => Err((close::PROTOCOL_ERROR, "close payload of 1 byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !allowed {
                Err((close::PROTOCOL_ERROR, "invalid close code"))
            } else if std::str::from_utf8(reason).is_err() {
                Err((close::INVALID_PAYLOAD, "invalid UTF-8 in close reason"))
            } else {
                Ok(code)
            }
        }
    }
}

/// Handles one complete message: a text message must be UTF-8 (else close 1007); an
/// echo server sends it back; otherwise it is a request. `Some` ends the connection.
fn on_message(
    peer: &Arc<Peer>,
    app: &App,
    grant: &Grant,
    opcode: OpCode,
    payload: &[u8],
) -> Option<ReadEnd> {
    let text = opcode == OpCode::Text;
    if text && std::str::from_utf8(payload).is_err() {
        peer.outbox
            .close(close::INVALID_PAYLOAD, "invalid UTF-8 in text message");
        return Some(ReadEnd::Closing);
    }
    if app.config.echo {
        peer.outbox.push(frame::raw(opcode, payload));
        return None;
    }
    handle_request(peer, app, grant, text, payload);
    None
}
