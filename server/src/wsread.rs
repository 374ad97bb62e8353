//! The read half of a server-side WebSocket: RFC 6455 frames from a client, with no
//! buffer while the connection is idle.
//!
//! A socket is read into a scratch buffer on the stack of `poll`; only the bytes of an
//! unfinished frame are kept (on the heap), that allocation is released as soon as every
//! buffered frame has been handed out, and the room a large frame needed is given back
//! once it is gone. A subscribed client that sends nothing costs
//! no read buffer at all (fastwebsockets' read half keeps 8 KiB per connection).
//!
//! `next` is cancel-safe: bytes are moved into the reader's buffer in the same poll that
//! reads them, so dropping the future loses nothing.

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use fastwebsockets::OpCode;
use tickcast_proto::close;
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read from the socket per `read` call at most.
const SCRATCH: usize = 8 * 1024;
/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;

/// One frame, unmasked; `payload` borrows the reader until the next call to `next`.
#[derive(Debug)]
pub struct Frame<'a> {
    pub fin: bool,
    pub opcode: OpCode,
    pub payload: &'a [u8],
}

/// Why no frame came.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer broke the protocol; close with `code`.
    #[error("{reason} (close {code})")]
    Protocol { code: u16, reason: &'static str },
    /// The peer closed the connection (EOF) or the socket failed; there is no one to tell.
    #[error("connection ended")]
    Gone(#[from] io::Error),
}

fn protocol(code: u16, reason: &'static str) -> ReadError {
    ReadError::Protocol { code, reason }
}

/// Reads client frames from the socket each call is given (the reader keeps no socket:
/// a connection owns one stream and lends its read half per call).
pub struct FrameReader {
    /// Bytes read; empty with no allocation while idle.
    buf: Vec<u8>,
    /// Where the bytes not yet handed out begin in `buf`.
    start: usize,
    /// Largest payload accepted in one frame.
    max_payload: usize,
}

/// A parsed frame header: where the payload lies in the buffer.
struct Head {
    fin: bool,
    opcode: OpCode,
    mask: [u8; 4],
    start: usize,
    len: usize,
}

impl FrameReader {
    /// A reader whose first bytes are `early` (what the HTTP layer read past the upgrade
    /// request).
    pub fn new(max_payload: usize, early: &[u8]) -> Self {
        Self {
            buf: early.to_vec(),
            start: 0,
            max_payload,
        }
    }

    /// The next frame. Checks what a server must check of every client frame: reserved
    /// bits, known opcodes, masking, control frames unfragmented and at most 125 bytes,
    /// and the payload size limit (1009): `max_payload` for every data frame, and
    /// `continuation_room` (what the message being reassembled may still take) for a
    /// continuation frame, so an oversized one is refused from its header alone.
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        continuation_room: usize,
    ) -> Result<Frame<'_>, ReadError> {
        if self.start == self.buf.len() {
            self.release();
        }
        let head = loop {
            match self.parse(continuation_room)? {
                Some(head) => break head,
                None => poll_fn(|cx| self.poll_fill(io, cx)).await?,
            }
        };
        let end = head.start + head.len;
        let payload = &mut self.buf[head.start..end];
        fastwebsockets::unmask(payload, head.mask);
        self.start = end;
        Ok(Frame {
            fin: head.fin,
            opcode: head.opcode,
            payload,
        })
    }

    /// True, and no buffer kept, when every byte read has been handed out (no unfinished
    /// frame): the connection may be parked.
    pub fn settle(&mut self) -> bool {
        let idle = self.start == self.buf.len();
        if idle {
            self.release();
        }
        idle
    }

    /// Registers `cx` to be woken when the client sends something (how a parked
    /// connection waits); `Ready` when bytes, the end or an error came already: what came
    /// is kept for `next`, and an end or error shows again on the next read.
    pub fn poll_arrival<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        self.poll_fill(io, cx).map(|_| ())
    }

    /// Hands out the complete pong frames at the front of what was read, with no read
    /// (how the servicer takes a parked connection's answers to keepalive pings without
    /// waking it); how many. Anything else (another frame, part of one, a protocol
    /// error) stays for `next`.
    pub fn skip_pongs(&mut self) -> usize {
        let mut pongs = 0;
        while let Ok(Some(head)) = self.parse(0) {
            if head.opcode != OpCode::Pong {
                break;
            }
            self.start = head.start + head.len;
            pongs += 1;
        }
        pongs
    }

    /// Frees the buffer: everything in it has been handed out.
    fn release(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
    }

    /// A complete frame at `start`, `None` if more bytes are needed. Positions in the
    /// returned head are absolute indexes into `buf`.
    fn parse(&self, continuation_room: usize) -> Result<Option<Head>, ReadError> {
        let b = &self.buf[self.start..];
        let [b0, b1, ..] = b[..] else {
            return Ok(None);
        };
        if b0 & 0x70 != 0 {
            return Err(protocol(close::PROTOCOL_ERROR, "reserved bits set"));
        }
        let opcode = match b0 & 0x0f {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xa => OpCode::Pong,
            _ => return Err(protocol(close::PROTOCOL_ERROR, "unknown opcode")),
        };
        let fin = b0 & 0x80 != 0;
        let control = b0 & 0x08 != 0;
        if control && !fin {
            return Err(protocol(close::PROTOCOL_ERROR, "fragmented control frame"));
        }
        if b1 & 0x80 == 0 {
            return Err(protocol(
                close::PROTOCOL_ERROR,
                "client frames must be masked",
            ));
        }
        let (len, at) = match b1 & 0x7f {
            126 => match b.get(2..4) {
                Some(&[hi, lo]) => (u64::from(u16::from_be_bytes([hi, lo])), 4),
                _ => return Ok(None),
            },
            127 => match b.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                Some(bytes) => (u64::from_be_bytes(bytes), 10),
                None => return Ok(None),
            },
            n => (u64::from(n), 2),
        };
        if control && len > MAX_CONTROL as u64 {
            return Err(protocol(
                close::PROTOCOL_ERROR,
                "control frame over 125 bytes",
            ));
        }
        let (limit, too_big) = match opcode {
            OpCode::Continuation => (
                continuation_room.min(self.max_payload),
                "message exceeds max_message_bytes",
            ),
            _ => (self.max_payload, "frame exceeds max_message_bytes"),
        };
        // `at + 4 + len` must not overflow either, whatever the configured limit.
        let len = match usize::try_from(len) {
            Ok(len) if len <= limit && len < usize::MAX - 16 => len,
            _ => return Err(protocol(close::MESSAGE_TOO_BIG, too_big)),
        };
        let Some(&[m0, m1, m2, m3]) = b.get(at..at + 4) else {
            return Ok(None);
        };
        let start = at + 4;
        if b.len() < start + len {
            // Grown by what actually arrives, not by what the header claims.
            return Ok(None);
        }
        Ok(Some(Head {
            fin,
            opcode,
            mask: [m0, m1, m2, m3],
            start: self.start + start,
            len,
        }))
    }

    /// Reads once from the socket into a stack scratch buffer and appends what came
    /// (first dropping the bytes already handed out: one move per read, not per frame).
    fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ReadError>> {
        let mut scratch = [MaybeUninit::<u8>::uninit(); SCRATCH];
        let mut read = ReadBuf::uninit(&mut scratch);
        match Pin::new(io).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Ready(Ok(())) if read.filled().is_empty() => {
                Poll::Ready(Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()))
            }
            Poll::Ready(Ok(())) => {
                if self.start > 0 {
                    self.buf.drain(..self.start);
                    self.start = 0;
                    // A large frame is gone: keep no room for it behind the small ones.
                    if self.buf.capacity() > 4 * SCRATCH && self.buf.capacity() > 4 * self.buf.len()
                    {
                        self.buf.shrink_to(self.buf.len() + SCRATCH);
                    }
                }
                self.buf.extend_from_slice(read.filled());
                Poll::Ready(Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A masked client frame, the way a conforming client builds it.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        tickcast_testkit::client_frame(fin, opcode, payload, Some(mask))
    }

    /// Feeds `bytes` through a duplex pipe in chunks of `chunk` and collects the frames.
    async fn frames_of(
        bytes: Vec<u8>,
        chunk: usize,
        max: usize,
    ) -> (Vec<(bool, OpCode, Vec<u8>)>, ReadError) {
        let (mut tx, mut rx) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            for piece in bytes.chunks(chunk.max(1)) {
                if tx.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
        let mut reader = FrameReader::new(max, &[]);
        let mut got = Vec::new();
        let end = loop {
            match reader.next(&mut rx, max).await {
                Ok(f) => got.push((f.fin, f.opcode, f.payload.to_vec())),
                Err(e) => break e,
            }
        };
        writer.abort();
        (got, end)
    }

    #[tokio::test]
    async fn reads_frames_split_anywhere_and_frees_the_buffer_when_idle() {
        let big = vec![7u8; 70_000];
        let mut bytes = client_frame(false, 0x1, b"hel", [1, 2, 3, 4]);
        bytes.extend(client_frame(true, 0x9, b"ping", [9, 9, 9, 9]));
        bytes.extend(client_frame(true, 0x0, b"lo", [0xff, 0, 0x80, 1]));
        bytes.extend(client_frame(true, 0x2, &big, [5, 6, 7, 8]));
        bytes.extend(client_frame(true, 0x2, &[0; 300], [1, 1, 1, 1]));
        for chunk in [1, 3, 7, 64, 100_000] {
            let (got, end) = frames_of(bytes.clone(), chunk, 1 << 20).await;
            let want = vec![
                (false, OpCode::Text, b"hel".to_vec()),
                (true, OpCode::Ping, b"ping".to_vec()),
                (true, OpCode::Continuation, b"lo".to_vec()),
                (true, OpCode::Binary, big.clone()),
                (true, OpCode::Binary, vec![0; 300]),
            ];
            assert_eq!(got, want, "chunk {chunk}");
            assert!(matches!(end, ReadError::Gone(_)), "chunk {chunk}: {end}");
        }

        let (mut tx, mut rx) = tokio::io::duplex(1024);
        let mut reader = FrameReader::new(1024, &[]);
        tx.write_all(&client_frame(true, 0x2, &[1; 200], [1, 2, 3, 4]))
            .await
            .unwrap();
        assert_eq!(
            reader.next(&mut rx, 1024).await.unwrap().payload,
            &[1; 200][..]
        );
        tx.write_all(&client_frame(true, 0x9, b"", [1, 2, 3, 4]))
            .await
            .unwrap();
        assert_eq!(
            reader.next(&mut rx, 1024).await.unwrap().opcode,
            OpCode::Ping
        );
        // Waiting for the next frame, with nothing read, it holds no buffer.
        let pending =
            tokio::time::timeout(Duration::from_millis(20), reader.next(&mut rx, 1024)).await;
        assert!(pending.is_err());
        assert_eq!(reader.buf.capacity(), 0, "an idle reader holds no buffer");
    }

    #[tokio::test]
    async fn pongs_at_the_front_are_skipped_without_a_read_and_the_rest_stays() {
        let (mut tx, mut rx) = tokio::io::duplex(1024);
        let mut reader = FrameReader::new(1024, &[]);
        let mut bytes = client_frame(true, 0xa, b"p1", [1, 2, 3, 4]);
        bytes.extend(client_frame(true, 0xa, b"", [4, 3, 2, 1]));
        let text = client_frame(true, 0x1, b"hi", [9, 8, 7, 6]);
        bytes.extend(&text[..3]);
        tx.write_all(&bytes).await.unwrap();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(reader.poll_arrival(&mut rx, &mut cx).is_ready());
        assert_eq!(reader.skip_pongs(), 2);
        assert_eq!(reader.skip_pongs(), 0, "part of a text frame is not a pong");
        assert!(!reader.settle(), "the text frame's first bytes are kept");
        tx.write_all(&text[3..]).await.unwrap();
        let f = reader.next(&mut rx, 1024).await.unwrap();
        assert_eq!((f.opcode, f.payload), (OpCode::Text, &b"hi"[..]));
        assert!(reader.settle());
    }

    #[tokio::test]
    async fn refuses_what_a_server_must_refuse() {
        let masked = |b0: u8, payload: &[u8]| {
            let mut f = client_frame(true, 0, payload, [1, 2, 3, 4]);
            f[0] = b0;
            f
        };
        let mut unmasked = client_frame(true, 0x2, b"x", [0; 4]);
        unmasked[1] &= 0x7f;
        let cases = [
            (masked(0x82 | 0x40, b"x"), close::PROTOCOL_ERROR, "reserved"),
            (masked(0x83, b"x"), close::PROTOCOL_ERROR, "opcode"),
            (masked(0x0b | 0x80, b""), close::PROTOCOL_ERROR, "opcode"),
            (masked(0x09, b"x"), close::PROTOCOL_ERROR, "fragmented"),
            (masked(0x89, &[0; 126]), close::PROTOCOL_ERROR, "125"),
            (
                masked(0x82, &[0; 101]),
                close::MESSAGE_TOO_BIG,
                "max_message_bytes",
            ),
            (unmasked, close::PROTOCOL_ERROR, "masked"),
        ];
        for (bytes, want_code, want_reason) in cases {
            let (got, end) = frames_of(bytes, 5, 100).await;
            assert!(got.is_empty());
            match end {
                ReadError::Protocol { code, reason } => {
                    assert_eq!(code, want_code, "{reason}");
                    assert!(reason.contains(want_reason), "{reason}");
                }
                other => panic!("expected {want_reason}, got {other}"),
            }
        }
        // A 64-bit length beyond usize or the limit is refused before any payload arrives.
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        let (_, end) = frames_of(huge, 2, 100).await;
        assert!(matches!(
            end,
            ReadError::Protocol {
                code: close::MESSAGE_TOO_BIG,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_continuation_past_the_message_room_is_refused_from_its_header() {
        let (mut tx, mut rx) = tokio::io::duplex(1024);
        let mut reader = FrameReader::new(1000, &[]);
        // Only the header of a 900-byte continuation arrives; 100 bytes of room are left.
        let frame = client_frame(true, 0x0, &[0; 900], [1, 2, 3, 4]);
        tx.write_all(&frame[..8]).await.unwrap();
        let refused = tokio::time::timeout(Duration::from_secs(5), reader.next(&mut rx, 100)).await;
        match refused.expect("refused without waiting for the payload") {
            Err(ReadError::Protocol { code, reason }) => {
                assert_eq!(code, close::MESSAGE_TOO_BIG);
                assert!(reason.contains("message"), "{reason}");
            }
            other => panic!("expected 1009, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn room_left_by_a_large_frame_is_given_back() {
        let (mut tx, mut rx) = tokio::io::duplex(1 << 20);
        let mut reader = FrameReader::new(1 << 20, &[]);
        let mut bytes = client_frame(false, 0x2, &[7; 300_000], [1, 2, 3, 4]);
        let pong = client_frame(true, 0xa, b"p", [4, 3, 2, 1]);
        bytes.push(pong[0]); // and the first byte of the next frame
        tx.write_all(&bytes).await.unwrap();
        assert_eq!(
            reader.next(&mut rx, 1 << 20).await.unwrap().payload.len(),
            300_000
        );
        assert!(reader.buf.capacity() >= 300_000);
        tx.write_all(&pong[1..]).await.unwrap();
        assert_eq!(
            reader.next(&mut rx, 1 << 20).await.unwrap().opcode,
            OpCode::Pong
        );
        assert!(
            reader.buf.capacity() <= 2 * SCRATCH,
            "kept {} bytes of room",
            reader.buf.capacity()
        );
    }

    #[tokio::test]
    async fn lengths_near_the_top_of_usize_do_not_overflow() {
        for len in [u64::MAX, u64::MAX - 5, u64::MAX - 13, u64::MAX - 16] {
            let mut bytes = vec![0x82, 0x80 | 127];
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&[1, 2, 3, 4, 5]);
            let (_, end) = frames_of(bytes, 3, usize::MAX).await;
            assert!(
                matches!(
                    end,
                    ReadError::Protocol {
                        code: close::MESSAGE_TOO_BIG,
                        ..
                    }
                ),
                "{len}: {end}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Any sequence of valid frames, cut into reads of any sizes, comes out whole.
        #[test]
        fn any_frames_in_any_reads(
            frames in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(proptest::num::u8::ANY, 0..300), proptest::array::uniform4(proptest::num::u8::ANY)),
                1..12,
            ),
            chunk in 1usize..400,
        ) {
            let mut bytes = Vec::new();
            let mut want = Vec::new();
            for (kind, payload, mask) in &frames {
                let (code, opcode) = [(0x1, OpCode::Text), (0x2, OpCode::Binary), (0x9, OpCode::Ping)][usize::from(*kind)];
                let payload = if opcode == OpCode::Ping { &payload[..payload.len().min(125)] } else { &payload[..] };
                bytes.extend(client_frame(true, code, payload, *mask));
                want.push((true, opcode, payload.to_vec()));
            }
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (got, end) = runtime.block_on(frames_of(bytes, chunk, 1024));
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert!(matches!(end, ReadError::Gone(_)));
        }
    }
}
