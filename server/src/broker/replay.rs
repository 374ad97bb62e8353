//! What a new subscriber of a topic gets before live messages: the replay of what it
//! missed (`since`), the topic's latest messages (`rewind`), a snapshot of the topic, or a
//! hold until this node reaches the subscriber's position; and the announcement of a
//! resume that cannot be served.

use tickcast_proto::{Position, ServerMessage, Snapshot, Tick};

use super::Peer;
use super::topic::{Entry, SessionStats, TopicState};

/// What a `subscribe` asked for, besides its patterns.
#[derive(Debug, Clone, Copy)]
pub(super) struct Catchup {
    /// The latest state of a topic without a position.
    pub snapshot: bool,
    /// Up to this many of a topic's latest messages instead (0: none).
    pub rewind: usize,
}

/// Queues what a new subscriber of a topic gets before live messages; called under
/// the topic's lock, so live messages neither overtake nor duplicate it. Returns the
/// position the subscriber resumes from when this node has not reached it yet (the
/// subscriber then waits for the topic's next messages: see `Resumed`). `stamped_here`:
/// this broker assigns the topic's `seq`s, so a position ahead of it cannot be right.
pub(super) fn send_initial(
    peer: &Peer,
    st: &TopicState,
    catchup: Catchup,
    since: Option<Position>,
    stamped_here: bool,
) -> Option<Position> {
    if st.last.is_none() {
        // No data here yet: the first message to arrive is judged against `since`.
        return since;
    }
    let Some((epoch, seq)) = since else {
        if catchup.rewind > 0 {
            rewind(peer, st, catchup.rewind, None);
        } else if catchup.snapshot {
            peer.push_latest(st, None);
        }
        return None;
    };
    if (epoch, seq) == (st.epoch, st.seq) {
        return None; // up to date: live messages continue from seq + 1
    }
    if (epoch, seq) > (st.epoch, st.seq) && !stamped_here {
        // Ahead of this node (in a cluster, its backlog is not in yet): wait for it.
        return Some((epoch, seq));
    }
    if epoch == st.epoch && replay(peer, st, seq) {
        return None;
    }
    if catchup.rewind > 0 {
        rewind(peer, st, catchup.rewind, Some(false));
    } else {
        peer.push_latest(st, Some(false));
    }
    None
}

/// Replays the messages after `seq` when the ring holds all of them (with no hole: in a
/// cluster a node may have missed some) and they fit in the peer's replay room.
fn replay(peer: &Peer, st: &TopicState, seq: u64) -> bool {
    if seq >= st.seq {
        return false;
    }
    let missed = st.ring.iter().filter(|e| e.seq > seq);
    let (count, bytes) = missed
        .clone()
        .fold((0u64, 0usize), |(n, b), e| (n + 1, b + e.msgpack.len()));
    let contiguous = st.ring.front().is_some_and(|e| e.seq <= seq + 1) && count == st.seq - seq;
    if !contiguous || bytes > peer.outbox.replay_room() {
        return false;
    }
    for e in missed {
        peer.push_entry(e);
    }
    true
}

/// Queues the topic's latest messages, up to `wanted`: as many as the ring holds without a
/// hole (a cluster node may have missed some) and the peer's replay room takes, newest
/// kept first. The first of them is sent as the topic's state with `recovered` (a trade as
/// the snapshot that stands for it, carrying the epoch; a bar as itself), the rest as
/// published. A topic that keeps no history sends its latest state alone.
fn rewind(peer: &Peer, st: &TopicState, wanted: usize, recovered: Option<bool>) {
    let window = window(&st.ring, wanted, peer.outbox.replay_room());
    let mut entries = st.ring.range(st.ring.len() - window..);
    let Some(first) = entries.next() else {
        peer.push_latest(st, recovered);
        return;
    };
    if let Some(msg) = first.msg() {
        peer.push_message(&state_of(&msg, st, recovered));
    }
    for e in entries {
        peer.push_entry(e);
    }
}

/// How many of the newest entries of `ring` a rewind sends: at most `wanted`, contiguous in
/// `seq`, within `room` bytes (always at least one when the ring has any).
fn window(
    ring: &std::collections::VecDeque<std::sync::Arc<Entry>>,
    wanted: usize,
    room: usize,
) -> usize {
    let mut count = 0;
    let mut bytes = 0;
    let mut next_seq = None;
    for e in ring.iter().rev() {
        bytes += e.msgpack.len();
        let in_order = next_seq.is_none_or(|next| e.seq + 1 == next);
        if count == wanted || !in_order || (count > 0 && bytes > room) {
            break;
        }
        count += 1;
        next_seq = Some(e.seq);
    }
    count
}

impl Peer {
    /// Queues the latest state of the topic: a snapshot of a trades topic, the latest
    /// bar of a bar topic, with `recovered` as given (`Some(false)`: a failed resume).
    pub(super) fn push_latest(&self, st: &TopicState, recovered: Option<bool>) {
        if let Some(msg) = latest(st, recovered) {
            self.push_message(&msg);
        }
    }
}

/// The latest state of the topic as one message (see [`Peer::push_latest`]).
fn latest(st: &TopicState, recovered: Option<bool>) -> Option<ServerMessage> {
    st.last.as_ref().map(|m| state_of(m, st, recovered))
}

/// The topic's state as of `msg` (already stamped into `st`): a trade as the topic's
/// snapshot, a bar as itself, with `recovered` as given (`Some(false)` announces that
/// messages before it are lost to the receiver).
pub(super) fn state_of(
    msg: &ServerMessage,
    st: &TopicState,
    recovered: Option<bool>,
) -> ServerMessage {
    match msg {
        ServerMessage::Tick(t) => snapshot_of(t, st, recovered),
        ServerMessage::Bar(b) => ServerMessage::Bar(tickcast_proto::Bar {
            recovered,
            ..b.clone()
        }),
        other => other.clone(),
    }
}

/// The snapshot of a trades topic whose latest trade is `t`.
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
