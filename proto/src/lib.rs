//! The tickcast wire protocol, version 1: the contract every client speaks.
//!
//! This crate owns the message types ([`ClientMessage`], [`ServerMessage`]), the topic
//! grammar ([`Pattern`], [`validate_topic`]), the two encodings ([`Encoding`]) and the
//! close codes ([`close`]). It does no I/O and is the only crate that knows MessagePack.
//! `PROTOCOL.md` next to this file is the human-readable contract; its examples are
//! checked against this code by the test suite.

pub mod bars;
pub mod book;
pub mod book_state;
pub mod clock;
pub mod close;
mod codec;
mod interval;
mod message;
pub mod nats;
mod peek;
mod topic;

pub use book::{Book, BookUpdate};
pub use codec::{
    DecodeError, EncodeError, Encoding, Message, Negotiated, UnsupportedSubprotocol, decode,
    decode_client, decode_server, encode, encode_into,
};
pub use interval::BarInterval;
pub use message::{
    Ack, Bar, ClientMessage, Error, ErrorCode, Heartbeat, Lagged, List, MarketState, Op,
    PROTOCOL_VERSION, Ping, Pong, Position, Publish, RequestId, Resume, ServerMessage, Shutdown,
    Snapshot, Status, Subscribe, Tick, Topics, Unsubscribe, Welcome,
};
pub use peek::{Peeked, peek_msgpack};
pub use topic::{MAX_TOPIC_BYTES, Pattern, Token, TopicError, TopicKind, validate_topic};
