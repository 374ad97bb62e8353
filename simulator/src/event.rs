//! What a simulator (or a replay) emits: trades and trading-state changes, as wire types.

use tickcast_proto::{ServerMessage, Status, Tick};

/// One event on a `ticks.SYMBOL` topic, in time order.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A trade with the quote around it.
    Tick(Tick),
    /// A halt (`Halted`) or a resume (`Open`).
    Status(Status),
}

impl Event {
    /// The event time in (virtual) nanoseconds.
    pub fn ts(&self) -> u64 {
        match self {
            Self::Tick(t) => t.ts,
            Self::Status(s) => s.ts,
        }
    }

    /// The topic, `ticks.SYMBOL`.
    pub fn topic(&self) -> &str {
        match self {
            Self::Tick(t) => &t.topic,
            Self::Status(s) => &s.topic,
        }
    }

    /// The tick, if this is one.
    pub fn as_tick(&self) -> Option<&Tick> {
        match self {
            Self::Tick(t) => Some(t),
            Self::Status(_) => None,
        }
    }
}

impl From<Event> for ServerMessage {
    fn from(event: Event) -> Self {
        match event {
            Event::Tick(t) => Self::Tick(t),
            Event::Status(s) => Self::Status(s),
        }
    }
}

impl From<Tick> for Event {
    fn from(t: Tick) -> Self {
        Self::Tick(t)
    }
}

impl From<Status> for Event {
    fn from(s: Status) -> Self {
        Self::Status(s)
    }
}
