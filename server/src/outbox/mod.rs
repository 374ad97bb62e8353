//! One connection's outbound queue: shared frames in, one coalesced batch out per wakeup.
//!
//! Publishers push pre-framed `Bytes` (the same allocation every subscriber gets) and
//! wake the connection's writer only when the queue goes from empty to non-empty. The
//! writer takes everything queued at once and writes it with one vectored write. The
//! wake-up lives under the queue's own lock (a flag and the writer's waker), so a push
//! costs one uncontended lock and no second synchronisation. The
//! queue is bounded in bytes: past the bound, the slow-consumer policy decides (keep the
//! newest message per topic, or close with 1008), so a stalled client never grows server
//! memory and never delays anyone else.

mod lag;
mod merge;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use tickcast_proto::{BookUpdate, Encoding, close};

use crate::config::SlowConsumer;
use crate::frame;
use lag::{Lag, Merge};

/// What happened to a data frame handed to [`Outbox::push_data`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The client is lagging: the frame is held as the newest of its topic.
    Conflated {
        replaced: bool,
    },
    /// The queue overflowed under the `disconnect` policy; the connection is closing.
    Closing,
    /// The connection is already closing; the frame was dropped.
    Dropped,
}

/// Frames ready to write, taken in one go by the writer.
#[derive(Debug, Default)]
pub struct Batch {
    pub frames: Vec<Bytes>,
    /// When the oldest frame of the batch was queued.
    pub oldest: Option<Instant>,
    /// The close frame to send after `frames`; the writer stops after it.
    pub close: Option<Bytes>,
    /// The earliest `max_rate` deadline still waiting, read under the same lock.
    pub next_due: Option<Instant>,
    /// No live data was queued since the keepalive sweeper found the connection quiet
    /// (see [`Outbox::hush`]): the connection may be parked once this is written.
    pub quiet: bool,
}

#[derive(Debug)]
struct Delayed {
    topic: Arc<str>,
    frame: Bytes,
    due: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    queue: Vec<Bytes>,
    queued_bytes: usize,
    oldest: Option<Instant>,
    /// Boxed, like `close`: most connections never lag or close early, and a connection
    /// is kept small while it is idle.
    lag: Option<Box<Lag>>,
    /// `max_rate` frames waiting for their slot; boxed, like `lag`: only a `max_rate`
    /// subscriber's connection ever has one.
    #[allow(clippy::box_collection)] // 8 bytes per connection where a `Vec` is 24.
    delayed: Option<Box<Vec<Delayed>>>,
    close: Option<Box<Bytes>>,
    closing: bool,
    /// Something was pushed since the writer last looked (a permit, like `Notify`'s).
    signaled: bool,
    /// The writer waiting in [`Outbox::notified`], or the parked connection.
    waker: Option<Waker>,
    /// Set at first and by [`Outbox::hush`], cleared by live data.
    quiet: bool,
}

impl Inner {
    /// The `max_rate` frames waiting.
    fn delayed(&self) -> &[Delayed] {
        self.delayed.as_deref().map_or(&[], Vec::as_slice)
    }

    /// Wakes the writer (or leaves it a permit).
    fn signal(&mut self) {
        self.signaled = true;
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// How many queue bounds of replayed messages one connection may hold (see
/// [`Outbox::replay_room`]): 2 MiB at the default 256 KiB bound.
pub const REPLAY_ROOM_FACTOR: usize = 8;

/// The outbound side of one connection.
#[derive(Debug)]
pub struct Outbox {
    /// A std mutex: held only to push or swap a `Vec`, never across an `.await`.
    inner: Mutex<Inner>,
    /// Signalled after every `take`: the reader waits on it while the queue is over its
    /// bound (a client that does not read its answers is not read either).
    drained: tokio::sync::Notify,
    /// The queue bound (32 bits: a parked connection is kept small).
    limit_bytes: u32,
    policy: SlowConsumer,
    encoding: Encoding,
}

impl Outbox {
    pub fn new(encoding: Encoding, limit_bytes: usize, policy: SlowConsumer) -> Self {
        Self {
            // Quiet from the start: a connection parks once its greeting and answers are
            // written, until live data flows to it.
            inner: Mutex::new(Inner {
                quiet: true,
                ..Inner::default()
            }),
            drained: tokio::sync::Notify::new(),
            limit_bytes: u32::try_from(limit_bytes).unwrap_or(u32::MAX),
            policy,
            encoding,
        }
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The queue bound in bytes.
    fn limit(&self) -> usize {
        self.limit_bytes as usize
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the queue half-updated in a way
        // that matters more than losing the connection, so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `frame`; `now` is read only when the queue was empty (the batch's age).
    fn enqueue(inner: &mut Inner, frame: Bytes, now: impl FnOnce() -> Instant) {
        let was_empty = inner.queue.is_empty();
        inner.queued_bytes += frame.len();
        if inner.queue.capacity() == 0 {
            // A parked connection's first frame (a tick wakes thousands at once): room
            // for one, not the four a `Vec` starts with; a busy one keeps its room.
            inner.queue.reserve_exact(1);
        }
        inner.queue.push(frame);
        if was_empty {
            inner.oldest = Some(now());
            inner.signal();
        }
    }

    /// Queues a frame that must not be conflated (acks, errors, snapshots, pongs).
    pub fn push(&self, frame: Bytes) {
        let mut inner = self.lock();
        if !inner.closing {
            Self::enqueue(&mut inner, frame, Instant::now);
        }
    }

    /// Queues `bytes` ahead of everything queued: the rest of a write that was begun
    /// outside the writer (a parked connection's keepalive), which must go out first.
    pub fn push_front(&self, bytes: Bytes) {
        let mut inner = self.lock();
        inner.queued_bytes += bytes.len();
        inner.queue.insert(0, bytes);
        inner.oldest.get_or_insert_with(Instant::now);
        inner.signal();
    }

    /// Nothing was written to the connection for a while: marks it quiet and wakes its
    /// writer, which parks it once everything queued is written. (No wake when it is
    /// quiet already: a parked connection stays parked.)
    pub fn hush(&self) {
        let mut inner = self.lock();
        if !inner.quiet && !inner.closing {
            inner.quiet = true;
            inner.signal();
        }
    }

    /// The connection could not be parked (it holds part of a client frame): it stays
    /// awake until the sweeper hushes it again.
    pub fn stir(&self) {
        self.lock().quiet = false;
    }

    /// Leaves `waker` to be woken by the next push, unless something was pushed since the
    /// last `take` (then false: the connection must not park).
    pub fn park(&self, waker: &Waker) -> bool {
        let mut inner = self.lock();
        if inner.signaled {
            return false;
        }
        inner.waker = Some(waker.clone());
        // A busy connection keeps its queue's room from batch to batch; a parked one
        // keeps none.
        inner.queue = Vec::new();
        true
    }

    /// Queues a live update of `topic` published at `now`, applying the slow-consumer
    /// policy.
    pub fn push_data(&self, topic: &Arc<str>, frame: Bytes, now: Instant) -> Pushed {
        let mut inner = self.lock();
        if inner.closing {
            return Pushed::Dropped;
        }
        inner.quiet = false;
        if let Some(lag) = inner.lag.as_mut() {
            let replaced = lag.hold(topic, frame);
            return Pushed::Conflated { replaced };
        }
        if inner.queued_bytes + frame.len() <= self.limit() {
            Self::enqueue(&mut inner, frame, || now);
            return Pushed::Queued;
        }
        match self.policy {
            SlowConsumer::Conflate => {
                let mut lag = Box::<Lag>::default();
                lag.hold(topic, frame);
                inner.lag = Some(lag);
                Pushed::Conflated { replaced: false }
            }
            SlowConsumer::Disconnect => self.overflow_close(&mut inner),
        }
    }

    /// Queues an update of a book topic, whose state the client rebuilds from updates:
    /// `frame` (the encoded `update`) when it fits. Otherwise, since dropping an update would
    /// corrupt that state, the connection lags as with [`Outbox::push_data`] and holds the
    /// topic's updates merged per level (nothing lost); where the merge would pass the queue
    /// bound, the whole state (`resync()`, a fresh `book`) in their place (a loss, named by
    /// `lagged`).
    pub fn push_state(
        &self,
        topic: &Arc<str>,
        (frame, update): (Bytes, &BookUpdate),
        resync: impl FnOnce() -> Option<Bytes>,
        now: Instant,
    ) -> Pushed {
        let mut inner = self.lock();
        if inner.closing {
            return Pushed::Dropped;
        }
        inner.quiet = false;
        if inner.lag.is_none() && inner.queued_bytes + frame.len() <= self.limit() {
            Self::enqueue(&mut inner, frame, || now);
            return Pushed::Queued;
        }
        match self.policy {
            SlowConsumer::Conflate => {
                let lag = inner.lag.get_or_insert_with(Box::default);
                if lag.merge(topic, update, self.limit()) == Merge::Merged {
                    return Pushed::Conflated { replaced: false };
                }
                if let Some(state) = resync() {
                    lag.hold_state(topic, state);
                }
                Pushed::Conflated { replaced: true }
            }
            SlowConsumer::Disconnect => self.overflow_close(&mut inner),
        }
    }

    /// The `disconnect` policy's answer to a full queue: drop what is queued, close 1008.
    fn overflow_close(&self, inner: &mut Inner) -> Pushed {
        inner.queue.clear();
        inner.queued_bytes = 0;
        self.start_close(
            inner,
            close::POLICY_VIOLATION,
            "slow consumer: outbound queue full",
        );
        Pushed::Closing
    }

    /// Drops what is held back of `topic` (a `max_rate` frame waiting for its slot, the
    /// newest frame of a conflated topic): the peer no longer subscribes to it.
    pub fn forget(&self, topic: &Arc<str>) {
        let mut inner = self.lock();
        if let Some(delayed) = inner.delayed.as_mut() {
            delayed.retain(|d| d.topic != *topic);
        }
        if let Some(lag) = inner.lag.as_mut() {
            lag.forget(topic);
        }
    }

    /// Holds `frame` until `due` (a `max_rate` slot), replacing any frame of `topic`
    /// already waiting. Returns true when it replaced one.
    pub fn push_delayed(&self, topic: &Arc<str>, frame: Bytes, due: Instant) -> bool {
        let mut inner = self.lock();
        if inner.closing {
            return false;
        }
        inner.quiet = false;
        let delayed = inner.delayed.get_or_insert_with(Box::default);
        if let Some(d) = delayed.iter_mut().find(|d| d.topic == *topic) {
            d.frame = frame;
            return true;
        }
        let earliest = delayed.iter().map(|d| d.due).min();
        delayed.push(Delayed {
            topic: topic.clone(),
            frame,
            due,
        });
        if earliest.is_none_or(|e| due < e) {
            // The writer may be sleeping until a later deadline.
            inner.signal();
        }
        false
    }

    fn start_close(&self, inner: &mut Inner, code: u16, reason: &str) {
        if inner.close.is_none() {
            inner.close = Some(Box::new(frame::close(code, reason)));
            inner.closing = true;
            inner.delayed = None;
            inner.lag = None;
            inner.signal();
        }
    }

    /// Asks the writer to send everything queued, then a close frame, then stop.
    /// Later pushes are dropped. Only the first close counts.
    pub fn close(&self, code: u16, reason: &str) {
        let mut inner = self.lock();
        self.start_close(&mut inner, code, reason);
    }

    /// Like [`Outbox::close`], but first queues `frame` (e.g. the `shutdown` message).
    pub fn close_after(&self, frame: Bytes, code: u16, reason: &str) {
        let mut inner = self.lock();
        if !inner.closing {
            Self::enqueue(&mut inner, frame, Instant::now);
            self.start_close(&mut inner, code, reason);
        }
    }

    pub fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// Waits until something was pushed since the last wake-up. Cancel-safe: a dropped
    /// wait leaves the permit for the next one.
    pub fn notified(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| self.poll_notified(cx))
    }

    fn poll_notified(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if std::mem::take(&mut inner.signaled) {
            return Poll::Ready(());
        }
        match &mut inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Takes everything ready to write into `batch` (whose `frames` buffer is reused).
    /// When the client was lagging, the batch ends with `lagged` and the newest message
    /// of each conflated topic.
    pub fn take(&self, batch: &mut Batch) {
        self.take_locked(batch);
        self.drained.notify_one();
    }

    /// Like [`Outbox::take`], but only plain frames: false, taking nothing, when a close,
    /// a `max_rate` frame or a conflated lag is waiting (the connection's task handles
    /// those).
    pub fn take_plain(&self, batch: &mut Batch) -> bool {
        {
            let mut inner = self.lock();
            if inner.close.is_some() || !inner.delayed().is_empty() || inner.lag.is_some() {
                return false;
            }
            Self::take_queue(&mut inner, batch);
            batch.close = None;
            batch.next_due = None;
        }
        self.drained.notify_one();
        true
    }

    /// Bytes that may still be queued before the bound is reached.
    pub fn room(&self) -> usize {
        self.limit().saturating_sub(self.lock().queued_bytes)
    }

    /// What a `since` replay may still add: [`REPLAY_ROOM_FACTOR`] times the queue bound,
    /// less what is queued. A replay is written once and the client asked for it, so it may
    /// pass the bound that conflates live messages (which then conflate until it drains).
    pub fn replay_room(&self) -> usize {
        (self.limit().saturating_mul(REPLAY_ROOM_FACTOR)).saturating_sub(self.lock().queued_bytes)
    }

    /// Waits while more than the queue bound is waiting to be written (or until closing).
    pub async fn wait_for_room(&self) {
        loop {
            {
                let inner = self.lock();
                if inner.closing || inner.queued_bytes <= self.limit() {
                    return;
                }
            }
            self.drained.notified().await;
        }
    }

    /// Moves the queue into `batch` (whose old frames are dropped).
    fn take_queue(inner: &mut Inner, batch: &mut Batch) {
        batch.frames.clear();
        std::mem::swap(&mut batch.frames, &mut inner.queue);
        inner.queued_bytes = 0;
        // This takes everything pushed so far: a wake-up left for it would only make the
        // writer come back to an empty queue.
        inner.signaled = false;
        batch.oldest = inner.oldest.take();
        batch.quiet = inner.quiet;
    }

    fn take_locked(&self, batch: &mut Batch) {
        let mut inner = self.lock();
        Self::take_queue(&mut inner, batch);
        if inner.delayed().is_empty() && inner.lag.is_none() {
            batch.close = inner.close.take().map(|c| *c);
            batch.next_due = None;
            return;
        }
        let now = Instant::now();
        if inner.delayed().iter().any(|d| d.due <= now) {
            let (due, waiting): (Vec<_>, Vec<_>) = inner
                .delayed
                .take()
                .map_or_else(Vec::new, |d| *d)
                .into_iter()
                .partition(|d| d.due <= now);
            inner.delayed = (!waiting.is_empty()).then(|| Box::new(waiting));
            batch.frames.extend(due.into_iter().map(|d| d.frame));
            batch.oldest.get_or_insert(now);
        }
        if let Some(lag) = inner.lag.take() {
            lag.drain_into(self.encoding, &mut batch.frames);
            batch.oldest.get_or_insert(now);
        }
        batch.close = inner.close.take().map(|c| *c);
        batch.next_due = inner.delayed().iter().map(|d| d.due).min();
    }
}

#[cfg(test)]
mod tests;
