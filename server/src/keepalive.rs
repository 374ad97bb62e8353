//! Keepalive for every connection from one task: a `heartbeat` while a connection has
//! sent nothing, a ping while its client is silent, the idle timeout and token expiry.
//!
//! Like uWebSockets' timeout sweep, one timer per server instead of one per connection:
//! a connection keeps four atomics ([`Liveness`], in its [`Peer`]) that its reader and
//! writer stamp, and the sweeper walks the broker's connection table a few times per
//! heartbeat interval, pushing what is due into the connection's outbox (which wakes its
//! writer, or, for a parked connection, has the parked-connection servicer write it).
//! An idle connection owns no timer; one that wrote nothing for a sweep is hushed, so it
//! parks (`connection::park`) until its client or its data wakes it.
//! The `heartbeat` message is encoded once per sweep and shared by every connection that
//! needs one. A shutting-down server tells every connection from here too.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tickcast_proto::{Encoding, Heartbeat, ServerMessage, Shutdown, close};

use crate::App;
use crate::broker::Peer;
use crate::{frame, unix_ns};

/// Microseconds on this process's monotonic clock (since its first reading).
pub fn mono_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Milliseconds on the clock of [`mono_us`].
pub fn mono_ms() -> u64 {
    mono_us() / 1000
}

/// When a connection last wrote, last heard from its client and last pinged it, and when
/// its token expires. 16 bytes: the first three are the low 32 bits of [`mono_ms`]
/// readings, compared by wrapping difference (right for spans under 24 days; none of
/// these is ever older than a few heartbeat intervals), the expiry is in whole seconds
/// of the same clock, rounded up (`u32::MAX`: never).
#[derive(Debug)]
pub struct Liveness {
    sent_ms: AtomicU32,
    heard_ms: AtomicU32,
    pinged_ms: AtomicU32,
    expires_s: AtomicU32,
}

/// [`mono_ms`], wrapped to 32 bits.
fn now_ms32() -> u32 {
    mono_ms() as u32
}

/// Milliseconds from the wrapped reading `then` to `now`.
fn since(now: u32, then: &AtomicU32) -> u64 {
    u64::from(now.wrapping_sub(then.load(Relaxed)))
}

impl Default for Liveness {
    fn default() -> Self {
        let now = now_ms32();
        Self {
            sent_ms: AtomicU32::new(now),
            heard_ms: AtomicU32::new(now),
            pinged_ms: AtomicU32::new(now),
            expires_s: AtomicU32::new(u32::MAX),
        }
    }
}

impl Liveness {
    /// The writer wrote frames just now.
    pub fn sent(&self) {
        self.sent_ms.store(now_ms32(), Relaxed);
    }

    /// The reader got a frame from the client just now.
    pub fn heard(&self) {
        self.heard_ms.store(now_ms32(), Relaxed);
    }

    /// Closes the connection with 4001 from `exp_ns` (a signed token's `exp`, ns since
    /// the UNIX epoch) on.
    pub fn expire_at(&self, exp_ns: u64) {
        let left = Duration::from_nanos(exp_ns.saturating_sub(unix_ns()));
        let left_ms = u64::try_from(left.as_millis()).unwrap_or(u64::MAX);
        let at_s = mono_ms().saturating_add(left_ms).div_ceil(1000);
        self.expires_s
            .store(u32::try_from(at_s).unwrap_or(u32::MAX), Relaxed);
    }

    /// Whether the token expired by `now_ms` (a [`mono_ms`] reading).
    fn expired(&self, now_ms: u64) -> bool {
        let expires_s = self.expires_s.load(Relaxed);
        expires_s != u32::MAX && now_ms >= u64::from(expires_s) * 1000
    }
}

/// How often the sweeper looks at every connection: an eighth of the heartbeat interval
/// (so a heartbeat is at most that early), between 10 ms and 1 s.
fn sweep_period(heartbeat: Duration) -> Duration {
    (heartbeat / 8).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Sweeps `app`'s connections until the server shuts down, then sends each of them
/// `shutdown` and close 1001.
pub async fn sweep(app: Arc<App>) {
    let heartbeat = app.config.heartbeat;
    let heartbeat_ms = u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX);
    let period = sweep_period(heartbeat);
    let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let mut duty = Duty {
            now_ms: mono_ms(),
            heartbeat_ms,
            period_ms,
            send_heartbeats: !app.config.echo,
            frames: [None, None],
        };
        app.broker.each_peer(|peer| duty.check(peer));
    }
    app.broker.close_peers(|peer| announce_shutdown(peer));
}

/// One sweep: its clock reading and the heartbeat frames it encoded so far.
struct Duty {
    now_ms: u64,
    heartbeat_ms: u64,
    period_ms: u64,
    send_heartbeats: bool,
    /// The `heartbeat` frame per encoding (MessagePack, JSON), encoded at first use.
    frames: [Option<Bytes>; 2],
}

impl Duty {
    fn check(&mut self, peer: &Peer) {
        let live = &peer.liveness;
        let outbox = &peer.outbox;
        if live.expired(self.now_ms) {
            outbox.close(close::UNAUTHORIZED, "token expired");
            return;
        }
        let now = self.now_ms as u32;
        let silence_ms = since(now, &live.heard_ms);
        if silence_ms >= self.heartbeat_ms.saturating_mul(3) {
            outbox.close(
                close::IDLE_TIMEOUT,
                "idle timeout: peer stopped answering pings",
            );
            return;
        }
        // Due within the next sweep: sent now, so the client never waits longer than
        // `heartbeat` for a frame.
        let quiet_ms = since(now, &live.sent_ms);
        let heartbeat = self.send_heartbeats && quiet_ms + self.period_ms >= self.heartbeat_ms;
        // A ping rides with a heartbeat once the client was silent for an interval (so
        // a quiet client answers one about every other interval), or goes alone after two
        // silent intervals: either leaves the pong a whole interval before the idle close.
        let ping = silence_ms >= self.heartbeat_ms
            && since(now, &live.pinged_ms) >= self.heartbeat_ms
            && (heartbeat || silence_ms >= self.heartbeat_ms.saturating_mul(2));
        if ping {
            live.pinged_ms.store(now, Relaxed);
            outbox.push(frame::ping());
        }
        let heartbeat = heartbeat
            .then(|| self.heartbeat(outbox.encoding()))
            .flatten();
        if let Some(f) = heartbeat {
            // Stamped now, so the next sweeps do not queue another before it is written.
            live.sent();
            outbox.push(f);
        } else if !ping && quiet_ms >= self.period_ms {
            // Nothing written for a whole sweep: between sparse data (a tick every few
            // seconds), a connection parks too, not only when it is wholly idle.
            outbox.hush();
        }
    }

    fn heartbeat(&mut self, encoding: Encoding) -> Option<Bytes> {
        let slot = &mut self.frames[usize::from(encoding == Encoding::Json)];
        if slot.is_none() {
            let msg = ServerMessage::Heartbeat(Heartbeat { ts: unix_ns() });
            match frame::encode(encoding, &msg) {
                Ok(f) => *slot = Some(f),
                Err(e) => tracing::error!(error = %e, "cannot encode a heartbeat"),
            }
        }
        slot.clone()
    }
}

/// Tells the client the server is going away: `shutdown`, then close 1001.
pub fn announce_shutdown(peer: &Peer) {
    let msg = ServerMessage::Shutdown(Shutdown {
        reason: "server shutting down".into(),
        reconnect_after_ms: 1000,
    });
    match frame::encode(peer.outbox.encoding(), &msg) {
        Ok(f) => peer
            .outbox
            .close_after(f, close::GOING_AWAY, "server shutting down"),
        Err(_) => peer.outbox.close(close::GOING_AWAY, "server shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Liveness, mono_ms, since, sweep_period};
    use crate::unix_ns;
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    #[test]
    fn clock_readings_compare_across_the_32_bit_wrap() {
        assert_eq!(since(10, &AtomicU32::new(u32::MAX - 5)), 16);
        assert_eq!(since(1_000, &AtomicU32::new(400)), 600);
    }

    #[test]
    fn a_token_expires_not_before_its_exp_and_within_a_second_after() {
        let live = Liveness::default();
        let now = mono_ms();
        live.expire_at(unix_ns() + 1_500_000_000);
        assert!(!live.expired(now + 1_400));
        assert!(live.expired(now + 2_600));
        assert!(!Liveness::default().expired(u64::from(u32::MAX) * 1000));
    }

    #[test]
    fn the_sweep_runs_eight_times_per_heartbeat_within_bounds() {
        assert_eq!(
            sweep_period(Duration::from_secs(1)),
            Duration::from_millis(125)
        );
        assert_eq!(
            sweep_period(Duration::from_millis(40)),
            Duration::from_millis(10)
        );
        assert_eq!(
            sweep_period(Duration::from_secs(30)),
            Duration::from_secs(1)
        );
    }
}
