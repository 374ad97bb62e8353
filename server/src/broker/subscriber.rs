//! One peer subscribed to one topic: its `max_rate` pacing, and the position it resumes
//! from while this node has not reached it yet.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tickcast_proto::Position;

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

/// What a subscriber that resumes from `[epoch, seq]` does with the topic's next message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resumed {
    /// The peer already has it (this node is behind the peer): not sent.
    Skip,
    /// The message right after the peer's position: sent as is, the resume is done.
    Continue,
    /// Messages between the peer's position and this one are lost to it (a hole, or a
    /// newer epoch): sent as an announcement (`recovered: false`), the resume is done.
    Lost,
}

impl Resumed {
    /// Judges a message at `epoch`/`seq` for a peer whose last message is `from`. Epochs
    /// of a topic only grow (a source's start time), so an older one is a backlog.
    pub fn judge(from: Position, epoch: u64, seq: u64) -> Self {
        match epoch.cmp(&from.0) {
            Ordering::Less => Self::Skip,
            Ordering::Equal if seq <= from.1 => Self::Skip,
            Ordering::Equal if seq == from.1 + 1 => Self::Continue,
            _ => Self::Lost,
        }
    }
}

/// A peer subscribed to a topic (once, however many of its patterns match). 48 bytes:
/// a topic holds one per subscriber, and the fan-out walks them all for every message;
/// the rare parts (`max_rate` pacing, a resume position) are boxed.
#[derive(Debug)]
pub struct Subscriber {
    pub peer: Arc<Peer>,
    pub gate: Option<Box<RateGate>>,
    /// The peer's position while this node has not reached it (it resumed with `since`
    /// from a node that was ahead, or before this node had the topic): messages up to it
    /// are not sent again, the next one is judged by [`Resumed::judge`].
    pub resume_from: Option<Box<Position>>,
    /// `[epoch, seq]` of the topic when this subscriber joined (after its snapshot or
    /// replay): it has had every message after it. A later resume position at or past it
    /// needs nothing; one before it was skipped over and is announced.
    pub joined_at: Position,
    /// Levels per side of a book topic this subscriber gets.
    pub depth: u32,
}

impl Subscriber {
    pub fn new(peer: Arc<Peer>, max_rate: Option<u32>, joined_at: Position) -> Self {
        Self {
            peer,
            gate: max_rate.map(|r| Box::new(RateGate::new(r))),
            resume_from: None,
            joined_at,
            depth: tickcast_proto::book::DEFAULT_DEPTH,
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
            self.gate = max_rate.map(|r| Box::new(RateGate::new(r)));
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

#[cfg(test)]
mod tests {
    use super::Resumed;

    #[test]
    fn a_resume_skips_what_the_peer_has_and_announces_holes_and_new_epochs() {
        let from = (10, 41);
        assert_eq!(Resumed::judge(from, 10, 40), Resumed::Skip);
        assert_eq!(Resumed::judge(from, 10, 41), Resumed::Skip);
        assert_eq!(Resumed::judge(from, 10, 42), Resumed::Continue);
        assert_eq!(Resumed::judge(from, 10, 43), Resumed::Lost);
        assert_eq!(Resumed::judge(from, 9, 500), Resumed::Skip);
        assert_eq!(Resumed::judge(from, 11, 1), Resumed::Lost);
    }
}
