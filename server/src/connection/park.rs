//! Parking: a quiet connection ends its task and waits with no task at all.
//!
//! A task's future holds the reader's and writer's state across every `.await` (about
//! 1.5 KB here), and an idle connection needs none of it. So once the writer finds the
//! connection quiet, the task hands its [`Conn`] to the connection's [`Den`] and ends.
//! The den is the waker left with the socket (for the client's next bytes) and with the
//! outbox (for the next push): waking it starts a new task that runs the connection
//! again. A connection parks only between frames and with nothing queued; anything that
//! arrives while it is being parked wakes it at once, so nothing waits unseen.
//!
//! The keepalive sweeper writes a parked connection's heartbeat and ping itself
//! ([`Parked::send_parked`]), without waking it: what the socket does not take at once
//! goes to the front of the outbox and a task writes it.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Wake, Waker};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{Conn, run};
use crate::keepalive::Parked;

/// A task runs the connection (or none was ever parked).
const RUNNING: u8 = 0;
/// The task is leaving the connection here.
const PARKING: u8 = 1;
/// No task runs it: the next wake starts one.
const PARKED: u8 = 2;
/// Woken while running or parking: the task must not park on this attempt.
const NOTIFIED: u8 = 3;

/// Where a parked connection waits; also its waker.
pub(crate) struct Den<R, W> {
    state: AtomicU8,
    conn: Mutex<Option<Conn<R, W>>>,
    /// Itself, for [`Parked::send_parked`], which is called through a `&self`.
    me: Weak<Self>,
}

impl<R, W> Den<R, W> {
    pub(super) fn new() -> Arc<Self> {
        Arc::new_cyclic(|me| Self {
            state: AtomicU8::new(RUNNING),
            conn: Mutex::new(None),
            me: me.clone(),
        })
    }
}

impl<R, W> Den<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    fn lock(&self) -> MutexGuard<'_, Option<Conn<R, W>>> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leaves `conn` here until its socket or outbox wakes it. Gives it back when it
    /// cannot park now (part of a frame is in, bytes or a push came meanwhile): the
    /// caller runs it on.
    pub(super) fn park(self: &Arc<Self>, mut conn: Conn<R, W>) -> Option<Conn<R, W>> {
        if !conn.settle() {
            return Some(conn);
        }
        // A wake from here on (a stale registration of an earlier park, or a new event)
        // turns PARKING into NOTIFIED and the park is abandoned: spurious at worst.
        self.state.store(PARKING, Release);
        let waker = Waker::from(self.clone());
        let mut cx = Context::from_waker(&waker);
        if conn.frames.poll_arrival(&mut cx).is_ready() || !conn.peer.outbox.park(&waker) {
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

    /// Starts a task for the connection; the caller took it out of PARKED.
    fn unpark(self: &Arc<Self>) {
        let Some(conn) = self.lock().take() else {
            return;
        };
        let app = conn.app.clone();
        app.metrics.parked_connections.fetch_sub(1, Relaxed);
        app.tracker.spawn_on(run(conn, self.clone()), &app.runtime);
    }
}

impl<R, W> Wake for Den<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
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
            // This wake took it out of PARKED: it alone starts the task.
            self.unpark();
        }
    }
}

impl<R, W> Parked for Den<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    fn send_parked(&self, frames: &[Bytes]) -> bool {
        if self
            .state
            .compare_exchange(PARKED, RUNNING, AcqRel, Acquire)
            .is_err()
        {
            return false;
        }
        // Out of PARKED by this call: no task runs the connection and none can start (a
        // wake now only marks NOTIFIED), so its write half is this thread's until it
        // goes back.
        let rest = match self.lock().as_mut() {
            Some(conn) => {
                let rest = write_now(&mut conn.write, frames);
                if let Some(rest) = &rest {
                    conn.peer.outbox.push_front(rest.clone());
                }
                rest
            }
            None => None,
        };
        let Some(den) = self.me.upgrade() else {
            return true;
        };
        if rest.is_some()
            || self
                .state
                .compare_exchange(RUNNING, PARKED, AcqRel, Acquire)
                .is_err()
        {
            // What the socket did not take now, or a wake that came meanwhile: a task.
            self.state.store(RUNNING, Release);
            den.unpark();
        }
        true
    }
}

/// Writes `frames` without waiting; what the socket did not take (all of it on an
/// error: the task that writes it next meets the error itself).
fn write_now<W: AsyncWrite + Unpin>(w: &mut W, frames: &[Bytes]) -> Option<Bytes> {
    let mut cx = Context::from_waker(Waker::noop());
    let total: usize = frames.iter().map(Bytes::len).sum();
    let mut written = 0;
    while written < total {
        let mut skip = written;
        let slices: Vec<IoSlice<'_>> = frames
            .iter()
            .filter_map(|f| {
                if skip >= f.len() {
                    skip -= f.len();
                    None
                } else {
                    let slice = IoSlice::new(&f[skip..]);
                    skip = 0;
                    Some(slice)
                }
            })
            .collect();
        match Pin::new(&mut *w).poll_write_vectored(&mut cx, &slices) {
            Poll::Ready(Ok(n)) if n > 0 => written += n,
            _ => break,
        }
    }
    if written == total {
        return None;
    }
    let mut rest = BytesMut::with_capacity(total - written);
    let mut skip = written;
    for f in frames {
        if skip >= f.len() {
            skip -= f.len();
        } else {
            rest.extend_from_slice(&f[skip..]);
            skip = 0;
        }
    }
    Some(rest.freeze())
}
