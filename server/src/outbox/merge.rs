//! A lagging connection's pending `book_update`s of one book topic, merged per price level:
//! the latest size of every level changed since the last one sent. Applied to the book the
//! client holds, the merged update gives exactly the book of the last update merged (every
//! level whose presence or size at the client's depth changed is named by some update, and
//! the latest naming is its size now), so its checksum is that update's checksum.

use std::collections::BTreeMap;

use tickcast_proto::BookUpdate;
use tickcast_proto::book::Level;

/// Bytes a level takes in a MessagePack `book_update` at most (array header, `f64`, `u64`),
/// for keeping a merge within the queue bound.
const LEVEL_BYTES: usize = 1 + 9 + 9;

/// Bytes of a `book_update` apart from its levels, at most (names, `seq`s, `ts`, symbol).
const UPDATE_BYTES: usize = 160;

/// The updates of one book topic held for a lagging connection, merged.
#[derive(Debug, Clone)]
pub(super) struct MergedUpdate {
    /// The first update's `prev_seq`; the last update's `seq`, `ts` and `checksum` (its
    /// levels are in `bids` and `asks` until [`MergedUpdate::into_update`]).
    update: BookUpdate,
    bids: Levels,
    asks: Levels,
}

/// Size by price, keyed by the price's bits: prices are positive, so the bits sort as
/// the prices do, and a level is found in log time however far the merge has grown.
type Levels = BTreeMap<u64, u64>;

impl MergedUpdate {
    pub(super) fn new(update: &BookUpdate) -> Self {
        let mut merged = Self {
            update: BookUpdate {
                bids: Vec::new(),
                asks: Vec::new(),
                ..update.clone()
            },
            bids: Levels::new(),
            asks: Levels::new(),
        };
        merge_side(&mut merged.bids, &update.bids);
        merge_side(&mut merged.asks, &update.asks);
        merged
    }

    /// Merges `next` (the topic's next update at the same depth) in.
    pub(super) fn merge(&mut self, next: &BookUpdate) {
        let u = &mut self.update;
        u.seq = next.seq;
        u.ts = next.ts;
        u.checksum = next.checksum;
        merge_side(&mut self.bids, &next.bids);
        merge_side(&mut self.asks, &next.asks);
    }

    /// What the merged update takes on the wire at most, for comparing with a queue bound.
    pub(super) fn wire_bytes(&self) -> usize {
        UPDATE_BYTES
            + self.update.topic.len()
            + self.update.symbol.len()
            + LEVEL_BYTES * (self.bids.len() + self.asks.len())
    }

    /// The one `book_update` that stands for every update merged: levels best first.
    pub(super) fn into_update(self) -> BookUpdate {
        let level = |(bits, size): (u64, u64)| (f64::from_bits(bits), size);
        BookUpdate {
            bids: self.bids.into_iter().rev().map(level).collect(),
            asks: self.asks.into_iter().map(level).collect(),
            ..self.update
        }
    }
}

/// The latest size of each level: a level named again takes its new size (0 included: a
/// client removes it), a new one is added.
fn merge_side(merged: &mut Levels, next: &[Level]) {
    for &(price, size) in next {
        merged.insert(price.to_bits(), size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use tickcast_proto::book::checksum;
    use tickcast_proto::book_state::{BookDelta, BookState, apply_levels as apply};

    fn change(rng: &mut StdRng, full: bool) -> BookDelta {
        let mid: i64 = 10_000 + rng.random_range(-20..=20);
        let mut level = |ticks: i64| (ticks as f64 * 0.01, rng.random_range(0..4u64) * 100);
        let (bids, asks) = if full {
            (
                (1..=60).map(|i| (((mid - i) as f64) * 0.01, 100)).collect(),
                (0..60).map(|i| (((mid + i) as f64) * 0.01, 100)).collect(),
            )
        } else {
            (
                (0..3).map(|i| level(mid - 1 - i * 3)).collect(),
                (0..3).map(|i| level(mid + 20 + i * 3)).collect(),
            )
        };
        BookDelta {
            topic: "book.X".into(),
            symbol: "X".into(),
            ts: 1,
            tick_size: 0.01,
            full,
            bids,
            asks,
        }
    }

    #[test]
    fn a_merged_run_of_updates_gives_the_book_of_the_last_one() {
        let mut rng = StdRng::seed_from_u64(7);
        for depth_index in 0..tickcast_proto::book::DEPTHS.len() {
            let depth = tickcast_proto::book::DEPTHS[depth_index];
            let mut state = BookState::default();
            state.apply(&change(&mut rng, true));
            state.updates("book.X", 1);
            let first = state.snapshot("book.X", 1, depth, None).unwrap();
            let (mut bids, mut asks) = (first.bids, first.asks);
            let mut seq = 1;
            for _round in 0..50 {
                let mut merged: Option<MergedUpdate> = None;
                let mut last: Option<BookUpdate> = None;
                for _ in 0..rng.random_range(1..30) {
                    seq += 1;
                    state.apply(&change(&mut rng, false));
                    let Some(u) = state.updates("book.X", seq)[depth_index].take() else {
                        continue;
                    };
                    match &mut merged {
                        Some(m) => m.merge(&u),
                        None => merged = Some(MergedUpdate::new(&u)),
                    }
                    last = Some(u);
                }
                let (Some(merged), Some(last)) = (merged, last) else {
                    continue;
                };
                let bytes = merged.wire_bytes();
                let update = merged.into_update();
                let encoded = tickcast_proto::encode(
                    tickcast_proto::Encoding::MsgPack,
                    &tickcast_proto::ServerMessage::BookUpdate(update.clone()),
                )
                .unwrap();
                assert!(encoded.len() <= bytes, "{} > {bytes}", encoded.len());
                assert_eq!((update.seq, update.checksum), (last.seq, last.checksum));
                apply(&mut bids, &update.bids, |a, b| a > b, depth as usize);
                apply(&mut asks, &update.asks, |a, b| a < b, depth as usize);
                assert_eq!(checksum(&bids, &asks, 0.01), update.checksum);
                assert_eq!((bids.clone(), asks.clone()), state.top(depth));
            }
        }
    }
}
