//! The topic broker: the [`Broker`] handle, the [`Peer`] it delivers to and the
//! [`Reject`] it answers bad requests with. The work lives in the submodules:
//! `registry` (who subscribed to what), `peers` (the connection table), `publish`
//! (stamping what enters), `fanout` (encode once, deliver to every subscriber), `replay`
//! (what a new subscriber gets first), `preroll` (a past loaded at start), `history`
//! (reading what a topic keeps), `introspect` (`list` and `GET /topics`), `topic` and
//! `subscriber` (per-topic state).
//!
//! Locks, in the only order they are ever taken (a lock may be skipped, never reversed):
//!
//! 1. `registry` (a `Mutex<Registry>`): the patterns in use and the reference prices;
//!    held for a whole subscribe, unsubscribe or disconnect, and while a topic is created.
//!    A peer's own subscriptions (a leaf lock in its [`Peer`]) change only under it.
//! 2. `topics` (an `RwLock` of the topic table): read briefly to find a topic, written
//!    only to create one.
//! 3. `peers` (the connection table): walked when a topic is created (taking
//!    each peer's subscriptions) and by the keepalive sweeper (taking outboxes); never
//!    held with a topic's lock.
//! 4. one topic's state (a `Mutex<TopicState>` per topic): held for one publish, one
//!    ingest or one subscriber joining (the replay is queued under it).
//! 5. under a topic's lock, leaf locks that take no other: a peer's outbox queue
//!    (`Outbox::push*`), and whatever the [`Upstream`] takes (in cluster mode the
//!    cluster's reference-price `RwLock`, read for each forwarded tick).
//!
//! None is held across an `.await`. A publish takes only the `topics` read lock (briefly)
//! and its topic's lock.

mod books;
mod fanout;
mod history;
mod introspect;
mod peers;
mod preroll;
mod publish;
mod registry;
mod replay;
mod subscriber;
mod topic;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tickcast_proto::ErrorCode;
use tickcast_proto::nats::Envelope;

use crate::keepalive::Liveness;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::retention::Retention;
use crate::unix_ns;
pub use history::{History, HistoryQuery};
pub use introspect::TopicInfo;
use peers::Peers;
pub use preroll::{Past, PrerollStats};
use registry::{Registry, Subscriptions};
pub use tickcast_proto::book_state::BookDelta;
use topic::Topic;

/// The broker's view of one connection: its id, the queue its writer drains, the clock
/// readings the keepalive sweeper checks and what it subscribed to.
#[derive(Debug)]
pub struct Peer {
    pub id: u64,
    pub outbox: Outbox,
    pub liveness: Liveness,
    /// Changed only under the registry's lock; a leaf lock (no other is taken under it).
    subscriptions: Mutex<Subscriptions>,
}

impl Peer {
    pub fn new(id: u64, outbox: Outbox) -> Self {
        Self {
            id,
            outbox,
            liveness: Liveness::default(),
            subscriptions: Mutex::default(),
        }
    }

    fn subscriptions(&self) -> MutexGuard<'_, Subscriptions> {
        self.subscriptions.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A request the broker refused; the connection answers it with an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Reject {
    pub code: ErrorCode,
    pub message: String,
}

impl Reject {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Receives every message a broker publishes (not what it ingests) as its NATS envelope:
/// the MessagePack map already encoded for clients, the topic's epoch and, on ticks, the
/// reference price. How a cluster node forwards what enters through it. Called under the
/// topic's lock, so it must not block or take a broker lock.
pub type Upstream = Arc<dyn Fn(Envelope) + Send + Sync>;

/// What every clone of a [`Broker`] shares.
struct Shared {
    epoch: u64,
    /// Where messages published here also go (cluster mode: NATS), with their epoch.
    upstream: Option<Upstream>,
    /// How much history each topic keeps.
    retention: Retention,
    max_subscriptions: usize,
    /// Resume positions one peer may hand over ahead of its subscribes.
    max_resume_positions: AtomicUsize,
    registry: Mutex<Registry>,
    peers: Peers,
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("epoch", &self.epoch)
            .field("retention", &self.retention)
            .field("upstream", &self.upstream.is_some())
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable handle to the broker.
#[derive(Debug, Clone)]
pub struct Broker {
    shared: Arc<Shared>,
}

impl Broker {
    pub fn new(retention: Retention, max_subscriptions: usize, metrics: Arc<Metrics>) -> Self {
        Self::with_upstream(retention, max_subscriptions, metrics, None)
    }

    /// A broker that also hands every message it publishes to `upstream`.
    pub fn with_upstream(
        retention: Retention,
        max_subscriptions: usize,
        metrics: Arc<Metrics>,
        upstream: Option<Upstream>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                // Microseconds: identifies this history and stays below 2^53, exact in JavaScript numbers.
                epoch: unix_ns() / 1_000,
                upstream,
                retention,
                max_subscriptions,
                max_resume_positions: AtomicUsize::new(crate::Config::DEFAULT_MAX_RESUME_POSITIONS),
                registry: Mutex::default(),
                peers: Peers::default(),
                topics: RwLock::default(),
                metrics,
            }),
        }
    }

    /// Sets how many resume positions one peer may hand over (`resume`, `since`).
    pub fn set_max_resume_positions(&self, limit: usize) {
        self.shared.max_resume_positions.store(limit, Relaxed);
    }

    fn max_resume_positions(&self) -> usize {
        self.shared.max_resume_positions.load(Relaxed)
    }

    /// Identifies the history of topics that enter through this broker (its start time
    /// in µs); ingested topics carry their source's epoch.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch
    }

    /// Lock 1 of the lock order.
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The topic named `name`, if it exists (lock 2, read, released on return).
    fn find(&self, name: &str) -> Option<Arc<Topic>> {
        self.shared
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Every topic (lock 2, read, released on return).
    fn all_topics(&self) -> Vec<Arc<Topic>> {
        self.shared
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
