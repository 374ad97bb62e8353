//! What a simulator (or a replay) emits: trades, trading-state changes and order-book
//! changes.

use tickcast_proto::{ServerMessage, Status, Tick};

use crate::book::BookChange;

/// One event, in time order: on a `ticks.SYMBOL` topic (trades, statuses) or, with
/// [`crate::Config::books`] on, a `book.SYMBOL` topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A trade with the quote around it.
    Tick(Tick),
    /// A halt (`Halted`) or a resume (`Open`).
    Status(Status),
    /// Changed levels of a symbol's order book (or the whole book, when `full`).
    Book(BookChange),
}

impl Event {
    /// The event time in (virtual) nanoseconds.
    pub fn ts(&self) -> u64 {
        match self {
            Self::Tick(t) => t.ts,
            Self::Status(s) => s.ts,
            Self::Book(b) => b.ts,
        }
    }

    /// The topic: `ticks.SYMBOL`, or `book.SYMBOL` for a book change.
    pub fn topic(&self) -> &str {
        match self {
            Self::Tick(t) => &t.topic,
            Self::Status(s) => &s.topic,
            Self::Book(b) => &b.topic,
        }
    }

    /// The tick, if this is one.
    pub fn as_tick(&self) -> Option<&Tick> {
        match self {
            Self::Tick(t) => Some(t),
            Self::Status(_) | Self::Book(_) => None,
        }
    }

    /// The book change, if this is one.
    pub fn as_book(&self) -> Option<&BookChange> {
        match self {
            Self::Book(b) => Some(b),
            Self::Tick(_) | Self::Status(_) => None,
        }
    }

    /// The wire message of a trade or a status. `None` for a book change: the wire's
    /// `book` and `book_update` carry a `seq`, a `prev_seq` and a checksum that only the
    /// publisher can stamp.
    pub fn into_message(self) -> Option<ServerMessage> {
        match self {
            Self::Tick(t) => Some(ServerMessage::Tick(t)),
            Self::Status(s) => Some(ServerMessage::Status(s)),
            Self::Book(_) => None,
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

impl From<BookChange> for Event {
    fn from(b: BookChange) -> Self {
        Self::Book(b)
    }
}
