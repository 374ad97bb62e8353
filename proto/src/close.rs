//! WebSocket close codes used by tickcast, and what a client should do after each.

/// Normal closure (client or server finished).
pub const NORMAL: u16 = 1000;
/// Server shutting down (after a `shutdown` frame); reconnect after its delay.
pub const GOING_AWAY: u16 = 1001;
/// RFC 6455 protocol violation (e.g. unmasked client frame, bad opcode).
pub const PROTOCOL_ERROR: u16 = 1002;
/// A frame kind this endpoint does not accept.
pub const UNSUPPORTED_DATA: u16 = 1003;
/// Text frame or close reason that is not valid UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// Policy violation: slow consumer under `disconnect`, rate limit exceeded repeatedly.
pub const POLICY_VIOLATION: u16 = 1008;
/// Message larger than `max_message_bytes`.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;
/// Server overloaded (e.g. at its connection limit); reconnect with backoff.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// 4000-4099: do not reconnect without a change (e.g. new credentials).
pub const UNAUTHORIZED: u16 = 4001;
/// 4100-4199: reconnect with backoff.
pub const IDLE_TIMEOUT: u16 = 4100;
/// 4200-4299: reconnect now (to any node).
pub const REBALANCE: u16 = 4200;

/// What a client should do after a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// Reconnecting will fail the same way.
    Never,
    /// Reconnect with exponential backoff and jitter.
    Backoff,
    /// Reconnect at once.
    Now,
}

/// The advice for a close code (unknown codes mean backoff).
pub fn advice(code: u16) -> Reconnect {
    match code {
        1002 | 1003 | 1007 | 1009 | 4000..=4099 => Reconnect::Never,
        4200..=4299 => Reconnect::Now,
        _ => Reconnect::Backoff,
    }
}
