//! What the subscriber and the publisher share around a connection: one attempt up to
//! `welcome`, the advice of a close code, and the retry schedule.

use std::time::Duration;

use tickcast_proto::{
    ServerMessage, Welcome,
    close::{self, Reconnect},
};
use tokio::time::{Instant, timeout};

use crate::{
    backoff::Backoff,
    connection::{self, Connection, Endpoint, Inbound},
};

/// A second "reconnect now" within this time is treated as "back off".
const NOW_AGAIN_WITHIN: Duration = Duration::from_secs(1);

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
                (e.to_string(), next)
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
    fn reconnect_now_twice_in_a_row_backs_off() {
        let mut retry = Retry::new(Duration::from_millis(100), Duration::from_secs(1));
        assert_eq!(retry.delay(Next::Now), Some(Duration::ZERO));
        assert!(retry.delay(Next::Now).is_some_and(|d| d > Duration::ZERO));
        assert_eq!(retry.delay(Next::Never), None);
    }
}
