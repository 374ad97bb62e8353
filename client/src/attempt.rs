//! What the subscriber and the publisher share around a connection: one attempt up to
//! `welcome`, when a silent server is presumed dead, the advice of a close code (and of a
//! `shutdown`), and the retry schedule.

use std::time::Duration;

use tickcast_proto::{
    ServerMessage, Welcome,
    close::{self, Reconnect},
};
use tokio::time::{Instant, timeout};

use crate::{
    backoff::Backoff,
    connection::{self, Connection, Inbound},
    endpoint::Endpoint,
    error::with_causes,
};

/// A second "reconnect now" within this time is treated as "back off".
const NOW_AGAIN_WITHIN: Duration = Duration::from_secs(1);
/// Used when a server announces `heartbeat_ms: 0`.
const FALLBACK_HEARTBEAT: Duration = Duration::from_secs(1);
/// A connection is dead after this many heartbeat intervals without a message.
const DEAD_AFTER_HEARTBEATS: u32 = 3;

/// What to do after a connection (attempt) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    Never,
    Now,
    Backoff,
    After(Duration),
}

/// Opens a connection and waits for `welcome`, all within `limit`. On failure: why, and
/// what to do next.
pub(crate) async fn welcomed(
    endpoint: &Endpoint,
    max_message_bytes: usize,
    limit: Duration,
) -> Result<(Connection, Welcome), (String, Next)> {
    let attempt = async {
        let mut conn = connection::open(endpoint, max_message_bytes)
            .await
            .map_err(|e| {
                let next = if e.retryable() {
                    Next::Backoff
                } else {
                    Next::Never
                };
                (with_causes(&e), next)
            })?;
        match conn.inbound.recv().await {
            Some(Inbound::Message(ServerMessage::Welcome(welcome))) => Ok((conn, welcome)),
            Some(Inbound::Message(other)) => {
                Err((format!("expected welcome, got {other:?}"), Next::Backoff))
            }
            Some(Inbound::Closed { code, reason }) => Err(closed(code, &reason)),
            Some(Inbound::Lost(reason)) => Err((reason, Next::Backoff)),
            None => Err(("connection lost before welcome".to_owned(), Next::Backoff)),
        }
    };
    match timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err((format!("no welcome within {limit:?}"), Next::Backoff)),
    }
}

/// How long a connection may stay silent before the server is presumed dead: three of
/// the heartbeat intervals `welcome` announced.
pub(crate) fn dead_after(welcome: &Welcome) -> Duration {
    let heartbeat = match welcome.heartbeat_ms {
        0 => FALLBACK_HEARTBEAT,
        ms => Duration::from_millis(ms),
    };
    heartbeat * DEAD_AFTER_HEARTBEATS
}

/// The advice for a connection that ended, given the delay a `shutdown` message asked
/// for (`reconnect_after_ms`), if one came: it replaces a plain "back off".
pub(crate) fn after_shutdown(next: Next, reconnect_after: Option<Duration>) -> Next {
    match (next, reconnect_after) {
        (Next::Backoff, Some(after)) => Next::After(after),
        (next, _) => next,
    }
}

/// The reason text and advice for a close frame.
pub(crate) fn closed(code: u16, reason: &str) -> (String, Next) {
    let text = if reason.is_empty() {
        format!("closed by server ({code})")
    } else {
        format!("closed by server ({code} {reason})")
    };
    let next = match close::advice(code) {
        Reconnect::Never => Next::Never,
        Reconnect::Now => Next::Now,
        Reconnect::Backoff => Next::Backoff,
    };
    (text, next)
}

/// Turns [`Next`] advice into delays: exponential backoff with jitter, and "reconnect
/// now" twice within a second treated as "back off" (it would be a loop).
#[derive(Debug)]
pub(crate) struct Retry {
    backoff: Backoff,
    last_now: Option<Instant>,
}

impl Retry {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            backoff: Backoff::new(min, max),
            last_now: None,
        }
    }

    /// The wait before the next attempt; `None`: do not reconnect.
    pub fn delay(&mut self, next: Next) -> Option<Duration> {
        let now_again = self
            .last_now
            .is_some_and(|t| t.elapsed() < NOW_AGAIN_WITHIN);
        if next == Next::Now {
            self.last_now = Some(Instant::now());
        }
        match next {
            Next::Never => None,
            Next::Now if now_again => Some(self.backoff.next_delay()),
            Next::Now => Some(Duration::ZERO),
            Next::Backoff => Some(self.backoff.next_delay()),
            Next::After(after) => Some(self.backoff.after(after)),
        }
    }

    /// The connection proved healthy: the next delay is short again.
    pub fn reset(&mut self) {
        self.backoff.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_advice() {
        assert_eq!(closed(1001, "bye").1, Next::Backoff);
        assert_eq!(closed(4001, "").1, Next::Never);
        assert_eq!(closed(1009, "").1, Next::Never);
        assert_eq!(closed(4200, "").1, Next::Now);
        assert_eq!(closed(4100, "idle").0, "closed by server (4100 idle)");
    }

    #[test]
    fn a_shutdown_delay_replaces_backoff_only() {
        let after = Some(Duration::from_secs(2));
        let two_s = Next::After(Duration::from_secs(2));
        assert_eq!(after_shutdown(Next::Backoff, after), two_s);
        assert_eq!(after_shutdown(Next::Never, after), Next::Never);
        assert_eq!(after_shutdown(Next::Now, after), Next::Now);
        assert_eq!(after_shutdown(Next::Backoff, None), Next::Backoff);
    }

    #[test]
    fn silence_limit_is_three_heartbeats() {
        let welcome = |heartbeat_ms| Welcome {
            heartbeat_ms,
            ..Welcome::default()
        };
        assert_eq!(dead_after(&welcome(50)), Duration::from_millis(150));
        assert_eq!(dead_after(&welcome(0)), Duration::from_secs(3));
    }

    #[test]
    fn reconnect_now_twice_in_a_row_backs_off() {
        let mut retry = Retry::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(retry.delay(Next::Now), Some(Duration::ZERO));
        assert!(retry.delay(Next::Now).is_some_and(|d| d > Duration::ZERO));
        assert_eq!(retry.delay(Next::Never), None);
    }
}
