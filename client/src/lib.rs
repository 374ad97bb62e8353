//! The tickcast WebSocket client: a reconnecting subscriber ([`Client`]) and a publisher
//! ([`Publisher`]), over `ws://` or `wss://`. Used by `tickcast-dash`, `tickcast-sub` and
//! `tickcast-sim --publish`.
//!
//! [`Client::spawn`] starts one task (the supervisor) that connects, reads `welcome`, subscribes, watches for
//! a dead connection (nothing received for 3 x `heartbeat_ms`), reconnects with backoff and
//! jitter (following close-code advice and `shutdown.reconnect_after_ms`), resubscribes with
//! `since` so missed messages are replayed, and reports seq gaps. With
//! [`ClientConfig::rewind()`] (or [`Client::subscribe_rewind`]) a topic's first delivery
//! starts with its history (the subscribe option `rewind`), which flows into the same
//! seq tracking as live messages. Order books (`book.SYM`, at [`ClientConfig::depth()`]) are
//! kept as [`OrderBook`]s and checked after every message (the `prev_seq` chain and the
//! CRC-32 checksum); a wrong one is re-subscribed for a fresh `book`
//! ([`ClientEvent::BookResync`]). Everything it learns comes
//! out as [`ClientEvent`]s on a bounded channel; a slow consumer slows the reader, and the
//! server's slow-consumer policy takes over from there.
//!
//! [`Publisher::spawn`] starts one task that connects with a publisher token and sends the
//! queued `publish` frames, counting the server's acks and errors ([`PublishStats`]), with
//! the same reconnect policy. A publish is sent at most once: one that was on the wire when
//! a connection broke is counted as unanswered, never resent.
//!
//! `wss://` uses rustls (ring) with Mozilla's root certificates plus any private CA given
//! with [`ClientConfig::ca_cert`]; the server name (SNI and certificate check) is the URL's
//! host. Certificate and TLS protocol failures are final ([`TlsError`]): the client reports
//! them and stops instead of retrying; a refused or reset connection is retried.
//! [`trusted_roots`] builds that root store (the load generator trusts the same).

mod attempt;
mod backoff;
mod book;
mod books;
mod client;
mod connection;
mod endpoint;
mod error;
mod publish_worker;
mod publisher;
mod subscriptions;
mod supervisor;
mod tasks;
mod tls;
mod tracker;
mod transport;

pub use backoff::Backoff;
pub use book::{BookFault, OrderBook};
pub use client::{Client, ClientConfig, ClientEvent, Command, DEFAULT_PATTERNS};
pub use error::{ClientError, TlsError};
pub use publisher::{PublishStats, Publisher, PublisherConfig, PublisherState};
pub use tls::trusted_roots;
pub use tracker::{GapCause, SeqVerdict, Tracker};
