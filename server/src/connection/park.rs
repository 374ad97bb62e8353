//! Parking: a quiet connection ends its task and waits with no task at all.
//!
//! A task's future holds the reader's and writer's state across every `.await` (about
//! 1.5 KB here), and an idle connection needs none of it. So once the writer finds the
//! connection quiet, the task hands its [`Conn`] to the connection's [`Den`] and ends.
//! The den is the waker left with the socket (for the client's next bytes) and with the
//! outbox (for the next push). A connection parks only between frames and with nothing
//! queued; anything that arrives while it is being parked wakes it at once.
//!
//! A woken den goes to the server's one servicer task ([`Woken`], [`serve_woken`]),
//! which does the cheap part in place, like an event loop: it writes what was queued
//! (a tick of a sparse topic, a heartbeat, a ping) if the socket takes it all at once,
//! takes the client's pongs, and parks the connection again. Only a connection with
//! more to do (any other bytes from its client, a write the socket did not take, a
//! close, a `max_rate` frame, a burst) gets a task again. So a wave of ticks to
//! thousands of parked subscribers allocates no task per subscriber.

use std::pin::Pin;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use tokio::io::AsyncWrite;

use super::writer::{Cursor, written};
use super::{Conn, Duplex, run};
use crate::App;
use crate::outbox::Batch;

/// A woken parked connection batch larger than this is busy: it gets a task.
const INLINE_FRAMES: usize = 8;

/// A task runs the connection (or none was ever parked).
const RUNNING: u8 = 0;
/// The task is leaving the connection here.
const PARKING: u8 = 1;
/// No task runs it: the next wake starts one.
const PARKED: u8 = 2;
/// Woken while running or parking: the task must not park on this attempt.
const NOTIFIED: u8 = 3;

/// Where a parked connection waits; also its waker.
pub(crate) struct Den<S> {
    state: AtomicU8,
    conn: Mutex<Option<Conn<S>>>,
}

impl<S> Den<S> {
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            state: AtomicU8::new(RUNNING),
            conn: Mutex::new(None),
        })
    }
}

/// A woken parked connection, whatever its stream types.
trait Service: Send + Sync {
    /// Does what is cheap in place and parks again, or starts a task.
    fn service(self: Arc<Self>, batch: &mut Batch);
}

/// Parked connections woken since the servicer last looked.
#[derive(Default)]
pub(crate) struct Woken {
    dens: Mutex<Vec<Arc<dyn Service>>>,
    ready: tokio::sync::Notify,
}

impl std::fmt::Debug for Woken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Woken").finish_non_exhaustive()
    }
}

impl Woken {
    fn push(&self, den: Arc<dyn Service>) {
        let mut dens = self.dens.lock().unwrap_or_else(|e| e.into_inner());
        dens.push(den);
        if dens.len() == 1 {
            self.ready.notify_one();
        }
    }

    fn take(&self, into: &mut Vec<Arc<dyn Service>>) {
        let mut dens = self.dens.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *dens, into);
    }
}

/// The servicer: handles woken parked connections until the server is shut down and
/// every connection is gone.
pub(crate) async fn serve_woken(app: Arc<App>) {
    let mut dens = Vec::new();
    let mut batch = Batch::default();
    let mut stopping = false;
    loop {
        tokio::select! {
            () = app.woken.ready.notified() => {}
            () = app.shutdown.cancelled(), if !stopping => stopping = true,
            // While shutting down, look now and then whether everyone is gone.
            () = tokio::time::sleep(std::time::Duration::from_millis(100)), if stopping => {}
        }
        app.woken.take(&mut dens);
        for (i, den) in dens.drain(..).enumerate() {
            den.service(&mut batch);
            if i % 64 == 63 {
                tokio::task::consume_budget().await;
            }
        }
        if stopping && app.broker.peer_count() == 0 {
            return;
        }
    }
}

impl<S: Duplex> Den<S> {
    fn lock(&self) -> MutexGuard<'_, Option<Conn<S>>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leaves `conn` here until its socket or outbox wakes it. Gives it back when it
    /// cannot park now (part of a frame is in, bytes or a push came meanwhile): the
    /// caller runs it on.
    pub(super) fn park(self: &Arc<Self>, mut conn: Conn<S>) -> Option<Conn<S>> {
        if !conn.settle() {
            return Some(conn);
        }
        // A wake from here on (a stale registration of an earlier park, or a new event)
        // turns PARKING into NOTIFIED and the park is abandoned: spurious at worst.
        self.state.store(PARKING, Release);
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        let arrived = conn
            .frames
            .poll_arrival(&mut conn.stream.halves().0, &mut cx);
        if arrived.is_ready() || !conn.peer.outbox.park(&waker) {
            self.state.store(RUNNING, Release);
            return Some(conn);
        }
        let parked = &conn.app.metrics.parked_connections;
        parked.fetch_add(1, Relaxed);
        *self.lock() = Some(conn);
        match self
            .state
            .compare_exchange(PARKING, PARKED, AcqRel, Acquire)
        {
            Ok(_) => None,
            Err(_) => {
                self.state.store(RUNNING, Release);
                let conn = self.lock().take();
                if let Some(conn) = &conn {
                    conn.app.metrics.parked_connections.fetch_sub(1, Relaxed);
                }
                conn
            }
        }
    }

    /// Hands the connection to the servicer; the caller took it out of PARKED.
    fn enqueue(self: Arc<Self>) {
        let app = self.lock().as_ref().map(|conn| conn.app.clone());
        if let Some(app) = app {
            app.woken.push(self);
        }
    }

    /// Starts a task for the connection; the caller took it out of PARKED.
    fn unpark(self: &Arc<Self>) {
        let Some(conn) = self.lock().take() else {
            return;
        };
        let app = conn.app.clone();
        app.metrics.parked_connections.fetch_sub(1, Relaxed);
        app.metrics.unparked_total.fetch_add(1, Relaxed);
        app.tracker.spawn_on(run(conn, self.clone()), &app.runtime);
    }
}

impl<S: Duplex> Wake for Den<S> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Acquire);
        loop {
            let next = match state {
                PARKED => RUNNING,
                RUNNING | PARKING => NOTIFIED,
                _ => return,
            };
            match self.state.compare_exchange(state, next, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        if state == PARKED {
            // This wake took it out of PARKED: it alone hands it to the servicer.
            self.clone().enqueue();
        }
    }
}

impl<S: Duplex> Service for Den<S> {
    fn service(self: Arc<Self>, batch: &mut Batch) {
        // Out of PARKED by the wake that queued it: no task runs the connection and none
        // can start (a wake now only marks NOTIFIED), so it is this thread's.
        let parks = {
            let mut slot = self.lock();
            match slot.as_mut() {
                Some(conn) => write_in_place(conn, batch, &self),
                None => return,
            }
        };
        if !parks {
            self.state.store(RUNNING, Release);
            self.unpark();
        } else if self
            .state
            .compare_exchange(RUNNING, PARKED, AcqRel, Acquire)
            .is_err()
        {
            // Woken again meanwhile: look once more.
            self.state.store(RUNNING, Release);
            self.enqueue();
        }
    }
}

/// Writes what `conn` has queued, if the socket takes it all, takes the pongs its client
/// sent, and registers `den` again: true when the connection may stay parked.
fn write_in_place<S: Duplex>(conn: &mut Conn<S>, batch: &mut Batch, den: &Arc<Den<S>>) -> bool {
    let peer = conn.peer.clone();
    if !peer.outbox.take_plain(batch) {
        return false;
    }
    let frames = batch.frames.len();
    if frames > 0 {
        let bytes: usize = batch.frames.iter().map(Bytes::len).sum();
        let rest = write_now(&mut conn.stream.halves().1, &batch.frames);
        written(
            &conn.app,
            &peer,
            batch,
            bytes - rest.as_ref().map_or(0, Bytes::len),
        );
        batch.frames.clear();
        if let Some(rest) = rest {
            // The socket is full: the rest goes first, written by a task.
            peer.outbox.push_front(rest);
            return false;
        }
        if !flushed_now(&mut conn.stream.halves().1) {
            // TLS records the socket did not take: a task's writer flushes them.
            return false;
        }
    }
    if frames > INLINE_FRAMES {
        return false;
    }
    let waker = Waker::from(den.clone());
    let mut cx = Context::from_waker(&waker);
    while conn
        .frames
        .poll_arrival(&mut conn.stream.halves().0, &mut cx)
        .is_ready()
    {
        // Pongs (a quiet client answering keepalive pings) are taken here, like a
        // heartbeat is written here; anything else from the client wakes a task.
        let pongs = conn.frames.skip_pongs();
        if pongs > 0 {
            peer.liveness.heard();
        }
        if pongs == 0 || !conn.frames.settle() {
            return false;
        }
    }
    peer.outbox.park(&waker)
}

/// Flushes `w` without waiting (a TLS session's records); a plain socket is always flushed.
fn flushed_now<W: AsyncWrite + Unpin>(w: &mut W) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    matches!(Pin::new(w).poll_flush(&mut cx), Poll::Ready(Ok(())))
}

/// Writes `frames` without waiting; what the socket did not take (all of it on an
/// error: the task that writes it next meets the error itself).
fn write_now<W: AsyncWrite + Unpin>(w: &mut W, frames: &[Bytes]) -> Option<Bytes> {
    let mut cx = Context::from_waker(Waker::noop());
    if let [one] = frames {
        // The common case (a tick, a heartbeat): no slice list to allocate.
        let mut at = 0;
        while at < one.len() {
            match Pin::new(&mut *w).poll_write(&mut cx, &one[at..]) {
                Poll::Ready(Ok(n)) if n > 0 => at += n,
                _ => return Some(one.slice(at..)),
            }
        }
        return None;
    }
    let mut at = Cursor::default();
    let mut slices = Vec::new();
    while !at.is_done(frames) {
        at.slices(frames, &mut slices);
        match Pin::new(&mut *w).poll_write_vectored(&mut cx, &slices) {
            Poll::Ready(Ok(n)) if n > 0 => at.advance(frames, n),
            _ => return Some(at.rest(frames)),
        }
    }
    None
}
