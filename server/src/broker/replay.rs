//! What a new subscriber of a topic gets before live messages: the replay of what it
//! missed (`since`), or a snapshot of the topic.

use tickcast_proto::{Position, ServerMessage, Snapshot, Tick};

use super::Peer;
use super::topic::{SessionStats, TopicState};

/// Queues what a new subscriber of a topic gets before live messages; called under
/// the topic's lock, so live messages neither overtake nor duplicate it.
pub(super) fn send_initial(peer: &Peer, st: &TopicState, snapshot: bool, since: Option<Position>) {
    let Some(last) = st.last.as_ref() else { return };
    let recovered = match since {
        Some((epoch, seq)) if epoch == st.epoch && seq <= st.seq => {
            let first = st.ring.front().map_or(u64::MAX, |e| e.seq);
            if seq == st.seq {
                return; // up to date
            }
            // Replay only what fits in the peer's queue; a larger gap is answered
            // like a lost one, with a snapshot.
            let bytes: usize = st
                .ring
                .iter()
                .filter(|e| e.seq > seq)
                .map(|e| e.msgpack.len())
                .sum();
            if first <= seq + 1 && bytes <= peer.outbox.room() {
                for e in st.ring.iter().filter(|e| e.seq > seq) {
                    peer.push_entry(e);
                }
                return;
            }
            Some(false)
        }
        Some(_) => Some(false),
        None if snapshot => None,
        None => return,
    };
    match &last.msg {
        ServerMessage::Tick(t) => peer.push_message(&snapshot_of(t, st, recovered)),
        _ => peer.push_entry(last),
    }
}

/// The snapshot of a ticks topic whose latest trade is `t`.
pub(super) fn snapshot_of(t: &Tick, st: &TopicState, recovered: Option<bool>) -> ServerMessage {
    let session = st.session.unwrap_or(SessionStats::at(t.price));
    ServerMessage::Snapshot(Snapshot {
        topic: t.topic.clone(),
        epoch: st.epoch,
        seq: t.seq,
        recovered,
        ts: t.ts,
        symbol: t.symbol.clone(),
        price: t.price,
        size: t.size,
        bid: t.bid,
        ask: t.ask,
        volume: t.volume,
        open: session.open,
        high: session.high,
        low: session.low,
        prev_close: session.prev_close,
        state: st.market,
    })
}
