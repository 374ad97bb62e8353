//! What NATS delivers to this node: every message is checked as an [`Envelope`] and handed
//! to the local broker's `ingest` (`ingest_book` for books), which fans it out unchanged.
//! The node's core subscription is `>`; with JetStream, the topics the stream keeps come
//! through the stream's reader instead (`durable`), and the subscription skips them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use async_nats::Subscriber;
use futures_util::StreamExt as _;
use tickcast_proto::ServerMessage;
use tickcast_proto::nats::Envelope;
use tokio_util::sync::CancellationToken;

use super::health::LinkCounters;
use crate::broker::Broker;

/// The one core subscription of a node: every topic (see ARCHITECTURE.md, "Scale-out").
pub(super) const ALL_TOPICS: &str = ">";

/// Hands NATS messages to the broker, telling it of reference prices as they change.
pub(super) struct TakeIn {
    broker: Broker,
    counters: Arc<LinkCounters>,
    /// Reference prices already given to the broker, so it is told only of changes.
    references: HashMap<String, f64>,
}

impl TakeIn {
    pub(super) fn new(broker: Broker, counters: Arc<LinkCounters>) -> Self {
        Self {
            broker,
            counters,
            references: HashMap::new(),
        }
    }

    /// Checks `msg` and hands it to the broker; what is not a tickcast message is counted
    /// and ignored.
    pub(super) fn message(&mut self, msg: &async_nats::Message) {
        let (envelope, decoded) = match Envelope::decode(msg) {
            Ok(received) => received,
            Err(e) => {
                self.counters.rejected.fetch_add(1, Relaxed);
                tracing::debug!(
                    subject = %msg.subject,
                    error = &e as &dyn std::error::Error,
                    "ignoring a NATS message"
                );
                return;
            }
        };
        if let (ServerMessage::Tick(t), Some(price)) = (&decoded, envelope.prev_close) {
            if self.references.get(&t.symbol) != Some(&price) {
                self.references.insert(t.symbol.clone(), price);
                self.broker.set_reference_price(&t.symbol, price);
            }
        }
        match decoded {
            ServerMessage::Book(_) | ServerMessage::BookUpdate(_) => {
                self.broker
                    .ingest_book(decoded, envelope.epoch, envelope.book_views);
            }
            decoded => self.broker.ingest(decoded, envelope.epoch),
        }
        self.counters.received.fetch_add(1, Relaxed);
    }
}

/// Fans out what the core subscription delivers until `shutdown`, skipping the subjects
/// for which `skip` is true (those the stream's reader takes in).
pub(super) async fn run(
    mut subscriber: Subscriber,
    mut take_in: TakeIn,
    skip: impl Fn(&str) -> bool,
    shutdown: CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            msg = subscriber.next() => msg,
            () = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else {
            tracing::warn!("NATS subscription ended");
            return;
        };
        let subject = msg.subject.as_str();
        // NATS' own traffic (JetStream's API and advisories, request inboxes) is no topic.
        let nats_own = subject.starts_with('$') || subject.starts_with("_INBOX.");
        if !nats_own && !skip(subject) {
            take_in.message(&msg);
        }
    }
}
