//! One peer subscribed to one topic, and its `max_rate` pacing on that topic.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Peer;
use crate::outbox::Pushed;

/// `max_rate` pacing of one subscriber on one topic.
#[derive(Debug)]
pub struct RateGate {
    period: Duration,
    /// When the last delivery was (or is scheduled to be) written.
    slot: Option<Instant>,
}

impl RateGate {
    pub fn new(max_rate: u32) -> Self {
        Self {
            period: period_of(max_rate),
            slot: None,
        }
    }
}

/// The time between two deliveries at `max_rate` per second.
fn period_of(max_rate: u32) -> Duration {
    Duration::from_secs(1) / max_rate.max(1)
}

/// A peer subscribed to a topic (once, however many of its patterns match).
#[derive(Debug)]
pub struct Subscriber {
    pub peer: Arc<Peer>,
    pub gate: Option<RateGate>,
}

impl Subscriber {
    pub fn new(peer: Arc<Peer>, max_rate: Option<u32>) -> Self {
        Self {
            peer,
            gate: max_rate.map(RateGate::new),
        }
    }

    /// Changes the rate limit, keeping the pacing state when the rate is unchanged.
    pub fn set_rate(&mut self, max_rate: Option<u32>) {
        let same = match (&self.gate, max_rate) {
            (Some(g), Some(r)) => g.period == period_of(r),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.gate = max_rate.map(RateGate::new);
        }
    }

    /// Hands `frame` to the peer, honouring `max_rate` (newest wins).
    pub fn deliver(&mut self, topic: &Arc<str>, frame: Bytes, now: Instant) -> Pushed {
        let outbox = &self.peer.outbox;
        let Some(gate) = self.gate.as_mut() else {
            return outbox.push_data(topic, frame, now);
        };
        match gate.slot {
            // A delivery is already scheduled in the future: replace it.
            Some(slot) if now < slot => Pushed::Conflated {
                replaced: outbox.push_delayed(topic, frame, slot),
            },
            // Too soon after the last delivery: schedule for the next slot.
            Some(slot) if now < slot + gate.period => {
                let due = slot + gate.period;
                gate.slot = Some(due);
                Pushed::Conflated {
                    replaced: outbox.push_delayed(topic, frame, due),
                }
            }
            _ => {
                gate.slot = Some(now);
                outbox.push_data(topic, frame, now)
            }
        }
    }
}
