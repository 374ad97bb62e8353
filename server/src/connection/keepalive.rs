//! The writer's one timer and its duties: heartbeats while nothing else is sent, pings
//! while the client is silent, the idle timeout, token expiry, and waking for the
//! earliest `max_rate` frame.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tickcast_proto::{Heartbeat, ServerMessage, close};
use tokio::time::{Sleep, sleep_until};

use crate::App;
use crate::auth::Grant;
use crate::broker::Peer;
use crate::{frame, unix_ns};

/// When the client was last heard from: the reader marks it, the keepalive reads it.
/// (Milliseconds since the connection started in an atomic, not a clock behind a lock.)
pub(super) struct LastHeard {
    started: Instant,
    at_ms: AtomicU64,
}

impl LastHeard {
    pub(super) fn new() -> Self {
        Self {
            started: Instant::now(),
            at_ms: AtomicU64::new(0),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The client sent a frame just now.
    pub(super) fn mark(&self) {
        self.at_ms.store(self.elapsed_ms(), Relaxed);
    }

    /// How long the client has been silent.
    fn silence(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms().saturating_sub(self.at_ms.load(Relaxed)))
    }
}

/// The timer and what it has to check when it fires.
pub(super) struct Keepalive<'a> {
    peer: &'a Peer,
    app: &'a App,
    heard: &'a LastHeard,
    heartbeat: Duration,
    last_sent: Instant,
    last_check: Instant,
    last_ping: Instant,
    /// When the signed token expires (its `exp` on this process's monotonic clock): the
    /// timer fires then, so the close is on time rather than at the next heartbeat.
    expires_at: Option<Instant>,
    /// When the keepalive duties are next due.
    check_at: Instant,
    /// What `timer` is set to: the earlier of `check_at` and the next `max_rate` frame.
    timer_at: Instant,
    /// Created once: a timer made in every turn of the writer's loop would register (and
    /// deregister) with the timer wheel on every write.
    timer: Pin<Box<Sleep>>,
}

impl<'a> Keepalive<'a> {
    pub(super) fn new(
        peer: &'a Peer,
        app: &'a App,
        grant: &'a Grant,
        heard: &'a LastHeard,
    ) -> Self {
        let heartbeat = app.config.heartbeat;
        let now = Instant::now();
        let expires_at = grant
            .expires_at_ns
            .map(|exp_ns| now + Duration::from_nanos(exp_ns.saturating_sub(unix_ns())));
        Self {
            peer,
            app,
            heard,
            heartbeat,
            expires_at,
            last_sent: now,
            last_check: now,
            last_ping: now,
            check_at: now + heartbeat,
            timer_at: now + heartbeat,
            timer: Box::pin(sleep_until((now + heartbeat).into())),
        }
    }

    /// Frames were written at `at`: the heartbeat waits a whole interval from there.
    pub(super) fn sent(&mut self, at: Instant) {
        self.last_sent = at;
    }

    /// Sets the timer for the earlier of the keepalive check and `next_due` (the first
    /// `max_rate` frame waiting in the outbox).
    pub(super) fn arm(&mut self, next_due: Option<Instant>) {
        self.check_at = (self.last_sent + self.heartbeat).min(self.last_check + self.heartbeat);
        if let Some(expires_at) = self.expires_at {
            self.check_at = self.check_at.min(expires_at);
        }
        let next = next_due.map_or(self.check_at, |due| due.min(self.check_at));
        if next != self.timer_at || self.timer.is_elapsed() {
            self.timer_at = next;
            self.timer.as_mut().reset(next.into());
        }
    }

    /// The timer, to await in the writer's `select!`.
    pub(super) fn timer(&mut self) -> Pin<&mut Sleep> {
        self.timer.as_mut()
    }

    /// The timer fired: does the duties that are due. (When only a `max_rate` frame is
    /// due, there is nothing to do here: the writer's next turn takes it.)
    pub(super) fn on_timer(&mut self) {
        let now = Instant::now();
        if now < self.check_at {
            return;
        }
        self.last_check = now;
        let outbox = &self.peer.outbox;
        if self.expires_at.is_some_and(|at| now >= at) {
            outbox.close(close::UNAUTHORIZED, "token expired");
            return;
        }
        let silence = self.heard.silence();
        if silence >= self.heartbeat * 3 {
            outbox.close(
                close::IDLE_TIMEOUT,
                "idle timeout: peer stopped answering pings",
            );
            return;
        }
        if silence >= self.heartbeat && now.duration_since(self.last_ping) >= self.heartbeat {
            self.last_ping = now;
            outbox.push(frame::ping());
        }
        if now.duration_since(self.last_sent) >= self.heartbeat && !self.app.config.echo {
            self.peer
                .push_message(&ServerMessage::Heartbeat(Heartbeat { ts: unix_ns() }));
        }
    }
}
