//! The conflation state of a lagging connection: the newest frame of each topic (a book
//! topic's updates merged per level), keyed by the topic's identity, and the `lagged`
//! notice that ends it.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use tickcast_proto::{BookUpdate, Encoding, Lagged, ServerMessage};

use super::merge::MergedUpdate;
use crate::frame;

/// A topic compared and hashed by identity: the broker hands every push of a topic the
/// same `Arc` (its `Topic::name`), so the conflation path hashes no strings. (Under
/// overload every client conflates, and SipHash of the name was a tenth of the server.)
#[derive(Debug, Clone)]
struct TopicKey(Arc<str>);

impl PartialEq for TopicKey {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TopicKey {}

impl Hash for TopicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(Arc::as_ptr(&self.0).cast::<u8>().addr());
    }
}

/// Spreads an address over all 64 bits (Fibonacci hashing); other input is FNV-1a.
#[derive(Debug, Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// What a lagging connection holds of one topic.
#[derive(Debug)]
enum Held {
    /// The newest frame, and whether it replaced an older one (a loss).
    Frame(Bytes, bool),
    /// A book topic's updates, merged: nothing lost.
    Book(MergedUpdate),
}

/// What happened to a book update handed to [`Lag::merge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Merge {
    Merged,
    /// The merge would pass the bound: the caller holds the whole state instead.
    TooLarge,
}

/// What a lagging connection holds instead of its queue: the newest frame of each topic.
#[derive(Debug, Default)]
pub(super) struct Lag {
    latest: HashMap<TopicKey, Held, BuildHasherDefault<AddrHasher>>,
    /// Frames replaced (lost to the client) since the lag began.
    dropped: u64,
}

impl Lag {
    /// Holds `frame` as the newest of `topic`; true when it replaced one (a loss).
    pub(super) fn hold(&mut self, topic: &Arc<str>, frame: Bytes) -> bool {
        let replaced = match self.latest.entry(TopicKey(topic.clone())) {
            Entry::Occupied(mut e) => {
                *e.get_mut() = Held::Frame(frame, true);
                true
            }
            Entry::Vacant(e) => {
                e.insert(Held::Frame(frame, false));
                false
            }
        };
        self.dropped += u64::from(replaced);
        replaced
    }

    /// Holds `frame`, the whole state of `topic` (a book), in place of its updates that
    /// cannot be queued: always a loss of those updates, so `lagged` names the topic.
    pub(super) fn hold_state(&mut self, topic: &Arc<str>, frame: Bytes) {
        self.latest
            .insert(TopicKey(topic.clone()), Held::Frame(frame, true));
        self.dropped += 1;
    }

    /// Merges `update` (a book topic's next update) into what is held of `topic`, while
    /// the merged update stays within `limit_bytes`. A whole state already held (a fresh
    /// book) is not merged into: the caller replaces it.
    pub(super) fn merge(
        &mut self,
        topic: &Arc<str>,
        update: &BookUpdate,
        limit_bytes: usize,
    ) -> Merge {
        match self.latest.entry(TopicKey(topic.clone())) {
            Entry::Occupied(mut e) => match e.get_mut() {
                Held::Book(merged) => {
                    merged.merge(update);
                    if merged.wire_bytes() > limit_bytes {
                        Merge::TooLarge
                    } else {
                        Merge::Merged
                    }
                }
                Held::Frame(..) => Merge::TooLarge,
            },
            Entry::Vacant(e) => {
                let merged = MergedUpdate::new(update);
                if merged.wire_bytes() > limit_bytes {
                    return Merge::TooLarge;
                }
                e.insert(Held::Book(merged));
                Merge::Merged
            }
        }
    }

    /// Drops what is held of `topic`.
    pub(super) fn forget(&mut self, topic: &Arc<str>) {
        self.latest.remove(&TopicKey(topic.clone()));
    }

    /// Ends the lag: `lagged` (naming the topics that lost messages; none when nothing was
    /// lost, as there is nothing to announce), then the newest frame of every topic, in
    /// topic order.
    pub(super) fn drain_into(self, encoding: Encoding, frames: &mut Vec<Bytes>) {
        let mut latest: Vec<_> = self.latest.into_iter().map(|(k, f)| (k.0, f)).collect();
        latest.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let topics: Vec<String> = latest
            .iter()
            .filter(|(_, held)| matches!(held, Held::Frame(_, true)))
            .map(|(t, _)| t.to_string())
            .collect();
        if !topics.is_empty() {
            let lagged = ServerMessage::Lagged(Lagged {
                topics,
                dropped: self.dropped,
            });
            if let Ok(f) = frame::encode(encoding, &lagged) {
                frames.push(f);
            }
        }
        frames.extend(latest.into_iter().filter_map(|(_, held)| match held {
            Held::Frame(frame, _) => Some(frame),
            Held::Book(merged) => {
                let update = ServerMessage::BookUpdate(merged.into_update());
                frame::encode(encoding, &update).ok()
            }
        }));
    }
}
