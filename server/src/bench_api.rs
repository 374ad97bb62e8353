//! What the criterion benches drive in-process; not an API (hidden from the docs).
//!
//! A broker with N msgpack subscribers on one topic whose "writers" only take their
//! outbox: the publish, encode-once, fan-out and dequeue costs without sockets.

use std::sync::Arc;

use tickcast_proto::{Encoding, Subscribe, Tick};

use crate::broker::{Broker, Peer};
use crate::config::SlowConsumer;
use crate::metrics::Metrics;
use crate::outbox::{Batch, Outbox};

/// The topic every subscriber of a [`Fanout`] is on.
pub const TOPIC: &str = "ticks.BENCH";

/// A broker and its subscribers.
#[derive(Debug)]
pub struct Fanout {
    broker: Broker,
    peers: Vec<Arc<Peer>>,
    batch: Batch,
}

impl Fanout {
    /// `subscribers` connections subscribed to [`TOPIC`], outboxes drained.
    pub fn new(subscribers: usize) -> Self {
        let broker = Broker::new(
            crate::Config::default().retention(),
            16,
            Arc::new(Metrics::default()),
        );
        let peers: Vec<_> = (0..subscribers as u64)
            .map(|id| {
                let peer = Arc::new(Peer::new(
                    id,
                    Outbox::new(Encoding::MsgPack, 256 * 1024, SlowConsumer::Conflate),
                ));
                let req = Subscribe {
                    topics: vec![TOPIC.to_owned()],
                    snapshot: false,
                    ..Subscribe::default()
                };
                // Connected like a real connection, so the topic created at the first
                // publish finds it.
                broker.connect(&peer);
                if let Err(e) = broker.subscribe(&peer, req) {
                    panic!("subscribing a bench peer: {e}");
                }
                peer
            })
            .collect();
        let mut fanout = Self {
            broker,
            peers,
            batch: Batch::default(),
        };
        // The acks, then the first tick of the topic (a snapshot): out of the way.
        fanout.drain();
        fanout.publish(100.0);
        let delivered = fanout.drain();
        assert_eq!(
            delivered, subscribers,
            "every bench subscriber gets the tick"
        );
        fanout
    }

    /// Publishes one tick to every subscriber; returns its `seq`.
    pub fn publish(&self, price: f64) -> u64 {
        self.broker.publish_tick(Tick {
            topic: TOPIC.to_owned(),
            seq: 0,
            ts: 0,
            symbol: "BENCH".to_owned(),
            price,
            size: 100,
            bid: price - 0.01,
            ask: price + 0.01,
            volume: 0,
        })
    }

    /// Takes every outbox as the connection writers do; returns the frames taken.
    pub fn drain(&mut self) -> usize {
        let mut frames = 0;
        for peer in &self.peers {
            peer.outbox.take(&mut self.batch);
            frames += self.batch.frames.len();
        }
        self.batch.frames.clear();
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::Fanout;

    #[test]
    fn every_subscriber_gets_every_tick() {
        let mut fanout = Fanout::new(3);
        fanout.publish(101.0);
        assert_eq!(fanout.drain(), 3);
    }
}
