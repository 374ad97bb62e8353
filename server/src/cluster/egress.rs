//! What enters through this node, on its way to NATS: the ingress broker's upstream
//! queues each [`Envelope`] without waiting (a bounded queue, drop-newest), and one task
//! drains the queue into NATS.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use tickcast_proto::nats::Envelope;
use tickcast_proto::nats::publisher::{Outcome, Publisher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::health::LinkCounters;
use crate::broker::Upstream;

/// Messages waiting for the NATS publisher; past this they are dropped (drop-newest).
pub(super) const QUEUE: usize = 16 * 1024;
/// Most messages handed to async-nats per wakeup of the publisher.
const BATCH: usize = 512;
/// How long shutdown waits for queued messages to reach NATS.
const FLUSH_GRACE: Duration = Duration::from_millis(500);

/// The ingress broker's upstream: queues the envelope without waiting (it runs under the
/// topic's lock); a full queue drops it and counts it.
pub(super) fn upstream(queue: mpsc::Sender<Envelope>, counters: Arc<LinkCounters>) -> Upstream {
    Arc::new(move |envelope: Envelope| {
        if queue.try_send(envelope).is_err() {
            counters.dropped.fetch_add(1, Relaxed);
        }
    })
}

/// Drains the queue into NATS until `shutdown`, through JetStream with acknowledgements
/// once `stream_ready` ([`Publisher`], which also says what becomes of a message while the
/// connection is down).
pub(super) async fn run(
    client: async_nats::Client,
    mut queue: mpsc::Receiver<Envelope>,
    counters: Arc<LinkCounters>,
    stream_ready: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let mut publisher = Publisher::new(client, stream_ready);
    let mut counted = Outcome::default();
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, BATCH) => if n == 0 { break },
            () = publisher.progress() => {}
            () = shutdown.cancelled() => break,
        }
        send(&mut publisher, &mut batch).await;
        count(&publisher, &mut counted, &counters);
    }
    // Best effort: what entered before shutdown still reaches the others.
    while let Ok(envelope) = queue.try_recv() {
        batch.push(envelope);
    }
    let _ = tokio::time::timeout(FLUSH_GRACE, send(&mut publisher, &mut batch)).await;
    publisher.flush(FLUSH_GRACE).await;
    count(&publisher, &mut counted, &counters);
}

/// Publishes `batch` (emptying it).
async fn send(publisher: &mut Publisher, batch: &mut Vec<Envelope>) {
    for envelope in batch.drain(..) {
        publisher.send(envelope).await;
    }
}

/// Adds what the publisher did since `counted` to the link's counters.
fn count(publisher: &Publisher, counted: &mut Outcome, counters: &LinkCounters) {
    let now = publisher.outcome();
    counters
        .published
        .fetch_add(now.published - counted.published, Relaxed);
    counters.dropped.fetch_add(now.lost - counted.lost, Relaxed);
    counters
        .republished
        .fetch_add(now.republished - counted.republished, Relaxed);
    *counted = now;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::broker::Broker;
    use crate::metrics::Metrics;
    use crate::retention::Retention;
    use tickcast_proto::{Encoding, MarketState, ServerMessage, Status, Tick};

    fn tick() -> Tick {
        Tick {
            topic: "ticks.AAPL".into(),
            seq: 1,
            ts: 1_764_072_005_123_456_789,
            symbol: "AAPL".into(),
            price: 187.32,
            size: 100,
            bid: 187.31,
            ask: 187.33,
            volume: 1_000,
        }
    }

    fn envelope() -> Envelope {
        Envelope::encode(&ServerMessage::Tick(tick()), 1, None).unwrap()
    }

    /// A NATS message as a subscriber receives `envelope`.
    fn received(envelope: Envelope) -> async_nats::Message {
        let (subject, headers, payload) = envelope.into_parts();
        async_nats::Message {
            subject: subject.into(),
            reply: None,
            length: payload.len(),
            payload,
            headers: Some(headers),
            status: None,
            description: None,
        }
    }

    #[test]
    fn what_the_upstream_queues_decodes_to_the_same_message() {
        let (tx, mut rx) = mpsc::channel(4);
        let ingress = Broker::with_upstream(
            Retention::NONE,
            16,
            Arc::new(Metrics::default()),
            Some(upstream(tx, Arc::default())),
        );
        ingress.set_reference_price("AAPL", 185.5);
        ingress.publish_tick(tick());
        let out = rx.try_recv().unwrap();
        assert_eq!(out.topic, "ticks.AAPL");
        assert_eq!(
            out.payload,
            tickcast_proto::encode(Encoding::MsgPack, &ServerMessage::Tick(tick())).unwrap(),
            "the payload is the client's MessagePack map, unchanged"
        );
        let (incoming, msg) = Envelope::decode(&received(out)).unwrap();
        assert_eq!(msg, ServerMessage::Tick(tick()));
        assert_eq!(
            (incoming.epoch, incoming.prev_close),
            (ingress.epoch(), Some(185.5))
        );
    }

    #[test]
    fn a_status_goes_upstream_without_a_reference_price() {
        let (tx, mut rx) = mpsc::channel(4);
        let ingress = Broker::with_upstream(
            Retention::NONE,
            16,
            Arc::new(Metrics::default()),
            Some(upstream(tx, Arc::default())),
        );
        ingress.set_reference_price("AAPL", 185.5);
        let status = Status {
            topic: "ticks.AAPL".into(),
            state: MarketState::Halted,
            ts: 5,
        };
        ingress.publish_status(status.clone());
        let (incoming, msg) = Envelope::decode(&received(rx.try_recv().unwrap())).unwrap();
        assert_eq!(msg, ServerMessage::Status(status));
        assert_eq!(incoming.prev_close, None);
    }

    #[test]
    fn a_full_queue_drops_the_newest_and_counts_it() {
        let (tx, mut rx) = mpsc::channel(1);
        let counters = Arc::new(LinkCounters::default());
        let up = upstream(tx, counters.clone());
        up(envelope());
        up(envelope());
        assert_eq!(counters.dropped.load(Relaxed), 1);
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
    }
}
