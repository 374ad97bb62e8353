//! The node's one NATS subscription, `>`: every message is checked as an
//! [`Envelope`] and handed to the local broker's `ingest`, which fans it out unchanged.

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

/// The one subscription of a node: every topic (see ARCHITECTURE.md, "Scale-out").
pub(super) const ALL_TOPICS: &str = ">";

/// Fans out what NATS delivers to this node's clients until `shutdown`; what is not a
/// tickcast message is counted and ignored.
pub(super) async fn run(
    mut subscriber: Subscriber,
    broker: Broker,
    counters: Arc<LinkCounters>,
    shutdown: CancellationToken,
) {
    // Reference prices already given to the broker, so it is told only of changes.
    let mut references: HashMap<String, f64> = HashMap::new();
    loop {
        let msg = tokio::select! {
            msg = subscriber.next() => msg,
            () = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else {
            tracing::warn!("NATS subscription ended");
            return;
        };
        let (envelope, decoded) = match Envelope::decode(&msg) {
            Ok(received) => received,
            Err(e) => {
                counters.rejected.fetch_add(1, Relaxed);
                tracing::debug!(
                    subject = %msg.subject,
                    error = &e as &dyn std::error::Error,
                    "ignoring a NATS message"
                );
                continue;
            }
        };
        if let (ServerMessage::Tick(t), Some(price)) = (&decoded, envelope.prev_close) {
            if references.get(&t.symbol) != Some(&price) {
                references.insert(t.symbol.clone(), price);
                broker.set_reference_price(&t.symbol, price);
            }
        }
        match decoded {
            ServerMessage::Book(_) | ServerMessage::BookUpdate(_) => {
                broker.ingest_book(decoded, envelope.epoch, envelope.book_views);
            }
            decoded => broker.ingest(decoded, envelope.epoch),
        }
        counters.received.fetch_add(1, Relaxed);
    }
}
