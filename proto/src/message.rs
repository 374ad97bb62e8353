//! Every message of protocol v1, as typed serde structs.
//!
//! On the wire each message is one map with string keys; the key `type` names the
//! message (see `PROTOCOL.md`). Optional fields are omitted when absent, and unknown
//! keys are ignored when decoding, so either side can add fields without breaking
//! the other.

use crate::book::{Book, BookUpdate};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The protocol version announced in `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request id chosen by the client and echoed in the answer: an integer or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    Num(u64),
    Text(String),
}

/// `[epoch, seq]`: the last tick a client has of a topic.
pub type Position = (u64, u64);

/// Messages a client sends to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe(Subscribe),
    Resume(Resume),
    Unsubscribe(Unsubscribe),
    List(List),
    Ping(Ping),
    Publish(Publish),
}

/// Messages the server sends to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome(Welcome),
    Ack(Ack),
    Error(Error),
    Topics(Topics),
    Pong(Pong),
    Tick(Tick),
    Snapshot(Snapshot),
    Bar(Bar),
    Book(Book),
    BookUpdate(BookUpdate),
    Status(Status),
    Lagged(Lagged),
    Heartbeat(Heartbeat),
    Shutdown(Shutdown),
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// Subscribe to one or more topic patterns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    pub topics: Vec<String>,
    /// Send the latest state of every matching topic after the ack. Default: `true`.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub snapshot: bool,
    /// Resume these topics after the given `[epoch, seq]`: missed ticks are replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<BTreeMap<String, Position>>,
    /// At most this many updates per second per topic; newest value wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<u32>,
    /// History first: for each matching topic without a position, up to this many of its
    /// latest messages (in `seq` order, then live). `None` or 0: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewind: Option<u32>,
    /// Levels per side of the `book.SYM` topics this subscription matches (one of
    /// [`crate::book::DEPTHS`]). `None`: [`crate::book::DEFAULT_DEPTH`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
}

impl Default for Subscribe {
    /// No topics, `snapshot: true` (the protocol default), no `since`, `max_rate` or `rewind`.
    fn default() -> Self {
        Self {
            id: None,
            topics: Vec::new(),
            snapshot: true,
            since: None,
            max_rate: None,
            rewind: None,
            depth: None,
        }
    }
}

/// Hands over resume positions ahead of a `subscribe`, in as many pieces as the message
/// size limit needs: the next `subscribe` resumes every topic it matches from them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    /// `[epoch, seq]` of the last message the client has, per topic.
    pub since: BTreeMap<String, Position>,
}

/// Drop topic patterns previously subscribed (matched by exact pattern text).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Unsubscribe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    pub topics: Vec<String>,
}

/// Ask which topics exist (optionally only those matching `pattern`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct List {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
}

/// Round-trip check; answered with `pong`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
}

/// Publish a trade (publishers only). The server stamps `seq` and `ts`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Publish {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    pub topic: String,
    pub price: f64,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<f64>,
    /// When the trade happened, ns since the UNIX epoch (a feed that replays or pre-rolls
    /// its past); `None`: when the server receives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<u64>,
}

/// First frame on every connection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub server: String,
    pub epoch: u64,
    pub heartbeat_ms: u64,
    pub max_message_bytes: u64,
    pub max_subscriptions: u32,
    pub ts: u64,
}

/// Which request an [`Ack`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Subscribe,
    Resume,
    Unsubscribe,
    Publish,
}

/// A request succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    pub op: Op,
    /// The topics (or patterns) the request named.
    pub topics: Vec<String>,
    /// The connection's full subscription list after the request.
    pub subscriptions: Vec<String>,
}

/// What went wrong, in a form a program can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a message: wrong frame kind for the encoding, or undecodable bytes.
    BadFrame,
    /// A known message with missing or invalid fields.
    BadRequest,
    /// A well-formed message whose `type` this server does not know.
    UnknownType,
    /// A topic or pattern that breaks the topic grammar.
    BadTopic,
    /// Not allowed for this connection (e.g. `publish` without the publisher role).
    Forbidden,
    /// The subscription would exceed `max_subscriptions`.
    TooManySubscriptions,
    /// Too many requests; slow down.
    RateLimited,
    /// The server failed; the request may be retried.
    Internal,
    /// A code this client does not know yet (newer server).
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadFrame => "bad_frame",
            Self::BadRequest => "bad_request",
            Self::UnknownType => "unknown_type",
            Self::BadTopic => "bad_topic",
            Self::Forbidden => "forbidden",
            Self::TooManySubscriptions => "too_many_subscriptions",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }
}

/// A request failed; the connection stays open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    pub code: ErrorCode,
    pub message: String,
}

/// Answer to `list`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Topics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    pub topics: Vec<String>,
}

/// Answer to `ping`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pong {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<RequestId>,
    pub ts: u64,
}

/// One trade with the quote around it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Tick {
    pub topic: String,
    pub seq: u64,
    /// Nanoseconds since the UNIX epoch, stamped where the tick entered the system.
    pub ts: u64,
    pub symbol: String,
    pub price: f64,
    pub size: u64,
    pub bid: f64,
    pub ask: f64,
    /// Cumulative session volume in shares.
    pub volume: u64,
}

/// Trading state of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketState {
    #[default]
    Open,
    Halted,
    Closed,
    #[serde(other)]
    Unknown,
}

/// The latest state of a topic, sent after `ack` (or instead of a replay that failed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub topic: String,
    pub epoch: u64,
    pub seq: u64,
    /// Present only when the subscribe asked for `since` on this topic: `false` means
    /// the missed ticks could not be replayed and this snapshot replaces them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    pub ts: u64,
    pub symbol: String,
    pub price: f64,
    pub size: u64,
    pub bid: f64,
    pub ask: f64,
    pub volume: u64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub prev_close: f64,
    #[serde(default)]
    pub state: MarketState,
}

impl Snapshot {
    /// The topic's last trade as a `tick` (same `topic`, `seq`, `ts`, price, size, quote
    /// and volume). A topic's first trade reaches clients that were waiting for it as a
    /// snapshot, so code that follows trades can take both the same way.
    pub fn trade(&self) -> Tick {
        Tick {
            topic: self.topic.clone(),
            seq: self.seq,
            ts: self.ts,
            symbol: self.symbol.clone(),
            price: self.price,
            size: self.size,
            bid: self.bid,
            ask: self.ask,
            volume: self.volume,
        }
    }
}

/// An OHLCV bar, published when its interval closes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Bar {
    pub topic: String,
    pub seq: u64,
    /// Start of the interval, nanoseconds since the UNIX epoch.
    pub ts: u64,
    pub interval_ms: u64,
    pub symbol: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// Shares traded within the interval.
    pub volume: u64,
    pub trades: u64,
    /// The topic's epoch (0 from servers older than this field).
    #[serde(default)]
    pub epoch: u64,
    /// `false` when this bar answers a resume that could not be served (the bars in
    /// between are lost to this client); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
}

/// Market status change of a symbol, sent on its `ticks.SYMBOL` topic.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Status {
    pub topic: String,
    pub state: MarketState,
    #[serde(default)]
    pub ts: u64,
}

/// This client fell behind; `dropped` updates on `topics` were conflated away.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Lagged {
    pub topics: Vec<String>,
    pub dropped: u64,
}

/// Sent when the connection was otherwise quiet for `heartbeat_ms`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Heartbeat {
    pub ts: u64,
}

/// The server is going away; reconnect after `reconnect_after_ms`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Shutdown {
    pub reason: String,
    pub reconnect_after_ms: u64,
}

macro_rules! into_message {
    ($enum:ident: $($variant:ident),*) => {$(
        impl From<$variant> for $enum {
            fn from(m: $variant) -> Self {
                Self::$variant(m)
            }
        }
    )*};
}

into_message!(ClientMessage: Subscribe, Resume, Unsubscribe, List, Ping, Publish);
into_message!(ServerMessage: Welcome, Ack, Error, Topics, Pong, Tick, Snapshot, Bar, Book, BookUpdate, Status, Lagged, Heartbeat, Shutdown);

impl ClientMessage {
    /// The request id, where the message carries one.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            Self::Subscribe(m) => m.id.as_ref(),
            Self::Resume(m) => m.id.as_ref(),
            Self::Unsubscribe(m) => m.id.as_ref(),
            Self::List(m) => m.id.as_ref(),
            Self::Ping(m) => m.id.as_ref(),
            Self::Publish(m) => m.id.as_ref(),
        }
    }
}
