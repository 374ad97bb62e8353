//! Parking: a quiet connection ends its task and waits with no task at all.
//!
//! A task's future holds the reader's and writer's state across every `.await` (about
//! 1.5 KB here), and an idle connection needs none of it. So once the writer finds the
//! connection quiet, the task hands its [`Conn`] to the connection's [`Den`] and ends.
//! The den is the waker left with the socket (for the client's next bytes) and with the
//! outbox (for the next push): waking it starts a new task that runs the connection
//! again. A connection parks only between frames and with nothing queued; anything that
//! arrives while it is being parked wakes it at once, so nothing waits unseen.

use std::sync::atomic::{AtomicU8, Ordering::AcqRel, Ordering::Acquire, Ordering::Release};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Wake, Waker};

use tokio::io::{AsyncRead, AsyncWrite};

use super::{Conn, run};

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
}

impl<R, W> Default for Den<R, W> {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(RUNNING),
            conn: Mutex::new(None),
        }
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
        *self.lock() = Some(conn);
        match self
            .state
            .compare_exchange(PARKING, PARKED, AcqRel, Acquire)
        {
            Ok(_) => None,
            Err(_) => {
                self.state.store(RUNNING, Release);
                self.lock().take()
            }
        }
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
        if state != PARKED {
            return;
        }
        // This wake took it out of PARKED: it alone starts the task.
        let Some(conn) = self.lock().take() else {
            return;
        };
        let app = conn.app.clone();
        app.tracker.spawn_on(run(conn, self.clone()), &app.runtime);
    }
}
