//! The parts of RFC 6455 a subscriber needs: the upgrade request, server frames parsed
//! in place from a read buffer, and masked client frames.

use std::fmt::Write as _;

pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xa;

/// Largest frame the bench accepts from a server.
pub const MAX_FRAME: usize = 16 << 20;

/// Largest HTTP response head before the upgrade counts as failed.
pub const MAX_HEAD: usize = 16 << 10;

/// The GET that asks `host` to upgrade `path` to a WebSocket.
pub fn upgrade_request(host: &str, path: &str, subprotocol: Option<&str>) -> Vec<u8> {
    let mut req = String::with_capacity(256);
    // The key is fixed: the bench does not check Sec-WebSocket-Accept, only the 101.
    let _ = write!(
        req,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    );
    if let Some(p) = subprotocol {
        let _ = write!(req, "Sec-WebSocket-Protocol: {p}\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

/// Why a server's bytes are not a usable WebSocket stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    #[error("HTTP response head over {MAX_HEAD} bytes")]
    HeadTooLong,
    #[error("malformed HTTP status line")]
    BadStatusLine,
    #[error("upgrade refused: HTTP {0}")]
    Refused(u16),
    #[error("server frame is masked")]
    MaskedFrame,
    #[error("server frame of {0} bytes is over the limit")]
    FrameTooLarge(u64),
}

/// The length of the response head when `buf` holds all of it, after checking it is a 101.
pub fn response_head(buf: &[u8]) -> Result<Option<usize>, WsError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(WsError::HeadTooLong)
        } else {
            Ok(None)
        };
    };
    let line = buf[..end].split(|&b| b == b'\r').next().unwrap_or_default();
    let status = line
        .split(|&b| b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or(WsError::BadStatusLine)?;
    if status != 101 {
        return Err(WsError::Refused(status));
    }
    Ok(Some(end + 4))
}

/// One frame borrowed from the read buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub fin: bool,
    pub opcode: u8,
    pub payload: &'a [u8],
}

/// Parses the frame at the start of `buf`: `Ok(None)` when it is not complete yet,
/// otherwise the frame and the bytes it spans.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, WsError> {
    let [b0, b1, rest @ ..] = buf else {
        return Ok(None);
    };
    if b1 & 0x80 != 0 {
        return Err(WsError::MaskedFrame);
    }
    let (len, head) = match b1 & 0x7f {
        126 => match rest {
            [a, b, ..] => (u64::from(u16::from_be_bytes([*a, *b])), 4),
            _ => return Ok(None),
        },
        127 => match rest.get(..8) {
            Some(b) => (b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_FRAME as u64 {
        return Err(WsError::FrameTooLarge(len));
    }
    let end = head + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((
        Frame {
            fin: b0 & 0x80 != 0,
            opcode: b0 & 0x0f,
            payload: &buf[head..end],
        },
        end,
    )))
}

/// Appends a masked client frame (FIN set) to `out`.
pub fn client_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
}

/// Appends an unmasked server frame (FIN set) to `out` (for the blaster).
pub fn server_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_small_and_extended_frames_and_waits_for_more() {
        let mut buf = Vec::new();
        server_frame(&mut buf, OP_BINARY, b"hello");
        server_frame(&mut buf, 0x1, &[b'x'; 300]);
        server_frame(&mut buf, OP_BINARY, &vec![b'y'; 70_000]);
        let (f, n) = parse_frame(&buf).unwrap().unwrap();
        assert_eq!(
            (f.fin, f.opcode, f.payload),
            (true, OP_BINARY, &b"hello"[..])
        );
        let (f, m) = parse_frame(&buf[n..]).unwrap().unwrap();
        assert_eq!((f.opcode, f.payload.len()), (0x1, 300));
        let (f, k) = parse_frame(&buf[n + m..]).unwrap().unwrap();
        assert_eq!(f.payload.len(), 70_000);
        assert_eq!(n + m + k, buf.len());
        for cut in 0..buf.len().min(400) {
            if cut < n {
                assert_eq!(parse_frame(&buf[..cut]), Ok(None), "cut at {cut}");
            }
        }
        assert_eq!(parse_frame(&buf[n + m..buf.len() - 1]), Ok(None));
    }

    #[test]
    fn refuses_masked_and_huge_frames() {
        assert_eq!(
            parse_frame(&[0x82, 0x81, 0, 0, 0, 0, 0]),
            Err(WsError::MaskedFrame)
        );
        let huge = [0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(parse_frame(&huge), Err(WsError::FrameTooLarge(1 << 32)));
    }

    #[test]
    fn client_frames_are_masked() {
        let mut out = Vec::new();
        client_frame(&mut out, OP_PONG, b"ab", [1, 2, 3, 4]);
        assert_eq!(out, [0x8a, 0x82, 1, 2, 3, 4, b'a' ^ 1, b'b' ^ 2]);
    }

    #[test]
    fn response_head_needs_a_101() {
        assert_eq!(response_head(b"HTTP/1.1 101 Switching"), Ok(None));
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x82\x00";
        assert_eq!(response_head(ok), Ok(Some(ok.len() - 2)));
        assert_eq!(
            response_head(b"HTTP/1.1 503 Busy\r\n\r\n"),
            Err(WsError::Refused(503))
        );
        assert_eq!(
            response_head(b"nonsense\r\n\r\n"),
            Err(WsError::BadStatusLine)
        );
    }
}
