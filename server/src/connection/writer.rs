//! The writer: the only code that touches a connection's write half. It takes the
//! outbox's batch, writes it with as few vectored writes as the socket allows, gives a
//! write up only when the peer takes no byte for a whole stall window, and sleeps until
//! the outbox wakes it (or, for a `max_rate` subscriber, its next frame is due). It has
//! no timer of its own otherwise: keepalive is the server's sweeper (`crate::keepalive`).

use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{Sleep, sleep_until, timeout};

use super::CLOSE_GRACE;
use crate::App;
use crate::broker::Peer;
use crate::outbox::Batch;

/// Most slices handed to one vectored write (below every platform's IOV_MAX).
const MAX_IOVECS: usize = 512;

/// Why the writer stopped without an error.
pub(super) enum WriteEnd {
    /// It wrote the close frame.
    Closed,
    /// Everything is written and the connection is quiet (no live data since the
    /// keepalive sweeper found it idle): it may be parked.
    Quiet,
}

/// Flushes `peer`'s outbox to `w` until the outbox closes, a write fails, or the
/// connection is quiet.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    w: &mut W,
    peer: &Peer,
    app: &App,
) -> std::io::Result<WriteEnd> {
    // A write that makes no progress for this long means the peer is gone.
    let stall = app.config.heartbeat * 3 + Duration::from_secs(5);
    let progress = Progress::default();
    let mut batch = Batch::default();
    // Only a `max_rate` subscriber's connection ever has one; made once, then reset.
    let mut due: Option<Pin<Box<Sleep>>> = None;
    loop {
        peer.outbox.take(&mut batch);
        {
            // Also with nothing queued: a connection the servicer woke may have TLS
            // records left in its session to flush.
            let write = write_frames(w, &batch.frames, &progress);
            tokio::pin!(write);
            // Most writes complete at once; only one that has to wait gets a timer.
            let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
            match first {
                Poll::Ready(result) => result?,
                Poll::Pending => {
                    Box::pin(finish_unless_stalled(write, &progress, stall)).await?;
                }
            }
        }
        if !batch.frames.is_empty() {
            let bytes: usize = batch.frames.iter().map(Bytes::len).sum();
            written(app, peer, &batch, bytes);
            batch.frames.clear();
        }
        if let Some(close_frame) = batch.close.take() {
            let _ = Box::pin(timeout(CLOSE_GRACE, async {
                w.write_all(&close_frame).await?;
                w.shutdown().await
            }))
            .await;
            return Ok(WriteEnd::Closed);
        }
        if batch.quiet && batch.next_due.is_none() {
            return Ok(WriteEnd::Quiet);
        }
        match (batch.next_due, due.as_mut()) {
            (Some(at), Some(timer)) if timer.deadline() != at.into() => {
                timer.as_mut().reset(at.into());
            }
            (Some(at), None) => due = Some(Box::pin(sleep_until(at.into()))),
            _ => {}
        }
        let waiting_for_due = batch.next_due.is_some();
        tokio::select! {
            biased;
            _ = peer.outbox.notified() => {}
            _ = std::future::poll_fn(|cx| match due.as_mut() {
                Some(timer) => timer.as_mut().poll(cx),
                None => Poll::Pending,
            }), if waiting_for_due => {}
        }
    }
}

/// `batch` (`bytes` in all) is written: counted, timed, and stamped on the connection.
pub(super) fn written(app: &App, peer: &Peer, batch: &Batch, bytes: usize) {
    if let Some(oldest) = batch.oldest {
        app.metrics
            .observe_latency(Instant::now().saturating_duration_since(oldest));
    }
    app.metrics
        .frames_delivered
        .fetch_add(batch.frames.len() as u64, Relaxed);
    app.metrics.bytes_delivered.fetch_add(bytes as u64, Relaxed);
    peer.liveness.sent();
}

/// Bytes written to the socket so far: a pending write is given up only when the peer
/// takes nothing at all for the stall timeout. (A counter, not a clock read per write.)
#[derive(Default)]
struct Progress(AtomicU64);

impl Progress {
    fn add(&self, n: usize) {
        self.0
            .store(self.0.load(Relaxed).wrapping_add(n as u64), Relaxed);
    }

    fn bytes(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Drives a write that could not finish at once; `TimedOut` once a whole `stall` passed
/// with no byte moved (a slow reader that keeps taking bytes is never cut off).
async fn finish_unless_stalled<F>(
    mut write: Pin<&mut F>,
    progress: &Progress,
    stall: Duration,
) -> std::io::Result<()>
where
    F: Future<Output = std::io::Result<()>>,
{
    let mut seen = progress.bytes();
    loop {
        match timeout(stall, write.as_mut()).await {
            Ok(result) => return result,
            Err(_) if progress.bytes() == seen => {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            Err(_) => seen = progress.bytes(),
        }
    }
}

/// Writes all `frames`, in as few vectored writes as the socket allows, then flushes: a
/// TLS session may take the bytes and keep records the socket did not (a plain socket's
/// flush does nothing).
async fn write_frames<W: AsyncWrite + Unpin>(
    w: &mut W,
    frames: &[Bytes],
    progress: &Progress,
) -> std::io::Result<()> {
    write_all_frames(w, frames, progress).await?;
    w.flush().await
}

async fn write_all_frames<W: AsyncWrite + Unpin>(
    w: &mut W,
    frames: &[Bytes],
    progress: &Progress,
) -> std::io::Result<()> {
    if let [one] = frames {
        let mut rest = &one[..];
        while !rest.is_empty() {
            let n = w.write(rest).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            progress.add(n);
            rest = &rest[n..];
        }
        return Ok(());
    }
    let mut at = Cursor::default();
    let mut slices = Vec::with_capacity(frames.len().min(MAX_IOVECS));
    while !at.is_done(frames) {
        at.slices(frames, &mut slices);
        let written = w.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        progress.add(written);
        at.advance(frames, written);
    }
    Ok(())
}

/// How far a write of a batch's frames has got: the next frame, and how much of it is
/// written. (The writer's vectored writes and the servicer's writes in place share it.)
#[derive(Debug, Default)]
pub(super) struct Cursor {
    index: usize,
    offset: usize,
}

impl Cursor {
    pub(super) fn is_done(&self, frames: &[Bytes]) -> bool {
        self.index >= frames.len()
    }

    /// The slices still to write, at most [`MAX_IOVECS`], into `out` (cleared first).
    pub(super) fn slices<'a>(&self, frames: &'a [Bytes], out: &mut Vec<IoSlice<'a>>) {
        out.clear();
        if let Some(first) = frames.get(self.index) {
            out.push(IoSlice::new(&first[self.offset..]));
            out.extend(
                frames[self.index + 1..]
                    .iter()
                    .take(MAX_IOVECS - 1)
                    .map(|f| IoSlice::new(f)),
            );
        }
    }

    /// `written` more bytes went out.
    pub(super) fn advance(&mut self, frames: &[Bytes], mut written: usize) {
        while self.index < frames.len() && written >= frames[self.index].len() - self.offset {
            written -= frames[self.index].len() - self.offset;
            self.index += 1;
            self.offset = 0;
        }
        self.offset += written;
    }

    /// A copy of what is still to write, in one piece.
    pub(super) fn rest(&self, frames: &[Bytes]) -> Bytes {
        let mut rest = bytes::BytesMut::new();
        if let Some(first) = frames.get(self.index) {
            rest.extend_from_slice(&first[self.offset..]);
            for f in &frames[self.index + 1..] {
                rest.extend_from_slice(f);
            }
        }
        rest.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_walks_partial_writes_across_frames() {
        let frames = [
            Bytes::from_static(b"abc"),
            Bytes::from_static(b"de"),
            Bytes::from_static(b"fghi"),
        ];
        let mut at = Cursor::default();
        let mut slices = Vec::new();
        at.advance(&frames, 4); // "abc" and "d"
        at.slices(&frames, &mut slices);
        let pending: Vec<&[u8]> = slices.iter().map(|s| &s[..]).collect();
        assert_eq!(pending, [&b"e"[..], &b"fghi"[..]]);
        assert_eq!(&at.rest(&frames)[..], b"efghi");
        at.advance(&frames, 5);
        assert!(at.is_done(&frames));
        assert!(at.rest(&frames).is_empty());
    }
}
