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
        if !batch.frames.is_empty() {
            let bytes: usize = batch.frames.iter().map(Bytes::len).sum();
            {
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

/// Writes all `frames`, in as few vectored writes as the socket allows.
async fn write_frames<W: AsyncWrite + Unpin>(
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
    let mut index = 0;
    let mut offset = 0;
    let mut slices = Vec::with_capacity(frames.len().min(MAX_IOVECS));
    while index < frames.len() {
        slices.clear();
        slices.push(IoSlice::new(&frames[index][offset..]));
        slices.extend(
            frames[index + 1..]
                .iter()
                .take(MAX_IOVECS - 1)
                .map(|f| IoSlice::new(f)),
        );
        let mut written = w.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        progress.add(written);
        while index < frames.len() && written >= frames[index].len() - offset {
            written -= frames[index].len() - offset;
            index += 1;
            offset = 0;
        }
        offset += written;
    }
    Ok(())
}
