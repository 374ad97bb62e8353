//! Book topics (`book.SYM`) in the broker: a change enters (`publish_book`) and becomes one
//! `book_update` per depth in use, encoded once per encoding and depth; a subscriber joins
//! with a `book` to its depth; a subscriber too slow for its updates gets them merged per
//! level, or where the merge would pass its queue bound a fresh `book` (`recovered:
//! false`) in their place, never a wrong book. In a cluster, books enter from the source
//! (`ingest_book`) and every node builds the same updates from them.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tickcast_proto::ServerMessage;
use tickcast_proto::book::DEPTHS;
use tickcast_proto::book_state::{BookDelta, BookState, depth_index};
use tickcast_proto::nats::{Envelope, ViewSeqs};

use super::fanout::Frames;
use super::publish::next_seq;
use super::topic::{Topic, TopicState};
use super::{Broker, Peer, Upstream};
use crate::frame;
use crate::outbox::Pushed;

impl Broker {
    /// Applies a change of a book and sends each subscriber the update of its depth (the
    /// first change of a topic, its whole book, reaches them as a `book`). In a cluster
    /// (a broker with an upstream) the change goes on as a whole-depth `book_update`, and
    /// first and every `WHOLE_EVERY_NS` the whole book with its views' `seq`s.
    pub fn publish_book(&self, delta: &BookDelta) {
        let topic = self.topic(&delta.topic);
        let mut st = topic.lock();
        let seq = next_seq(&mut st);
        let epoch = st.epoch;
        let TopicState {
            book, subscribers, ..
        } = &mut *st;
        let first = book.as_ref().is_none_or(|b| b.is_empty());
        let book = book.get_or_insert_with(Box::default);
        book.apply(delta);
        let updates = book.updates(&topic.name, seq);
        self.shared.metrics.messages_published.fetch_add(1, Relaxed);
        if let Some(upstream) = &self.shared.upstream {
            let change = ServerMessage::BookUpdate(book.change_update(delta, seq));
            send_upstream(upstream, &change, epoch, None);
            if book.whole_due() {
                let whole = ServerMessage::Book(book.whole(&topic.name, epoch, seq));
                send_upstream(upstream, &whole, epoch, Some(book.view_seqs()));
            }
        }
        if first {
            // Subscribers that were waiting for the topic get their book now.
            for s in subscribers.iter() {
                push_book(&s.peer, &topic, book, epoch, s.depth, None);
            }
            return;
        }
        self.fan_out_book(&topic, book, subscribers, epoch, updates);
    }

    /// Takes in a book message from a cluster's source (`envelope.book_views` with a
    /// whole book): a change that continues the book this node holds is applied and fanned
    /// out as a change published here would be (the same updates, bytes and `seq`s on every
    /// node); a whole book is loaded when this node has none or is behind it. A change
    /// that does not continue the book (a hole) leaves the topic without a book until the
    /// next whole one, which its subscribers then get with `recovered: false`.
    pub fn ingest_book(&self, msg: ServerMessage, epoch: u64, views: Option<ViewSeqs>) {
        let name = match &msg {
            ServerMessage::Book(b) => &b.topic,
            ServerMessage::BookUpdate(u) => &u.topic,
            _ => return,
        };
        let topic = self.topic(name);
        let mut st = topic.lock();
        if st.epoch != epoch {
            st.restart(epoch);
        }
        let metrics = &self.shared.metrics;
        let held = st.book.as_ref().is_some_and(|b| !b.is_empty());
        match msg {
            ServerMessage::BookUpdate(change) => {
                if change.seq <= st.seq || !held {
                    return; // a duplicate, or no book to apply it to yet
                }
                if change.prev_seq != st.seq {
                    metrics.ingest_holes.fetch_add(1, Relaxed);
                    st.book = None;
                    return;
                }
                st.seq = change.seq;
                let TopicState {
                    book: Some(book),
                    subscribers,
                    ..
                } = &mut *st
                else {
                    return;
                };
                book.apply(&BookDelta::from_update(&change, book.tick_size));
                let updates = book.updates(&topic.name, change.seq);
                metrics.messages_published.fetch_add(1, Relaxed);
                self.fan_out_book(&topic, book, subscribers, epoch, updates);
            }
            ServerMessage::Book(whole) => {
                let Some(views) = views else {
                    return;
                };
                if held && whole.seq <= st.seq {
                    return; // this node follows the book already
                }
                // A book this node held before, then lost (or fell behind): announced.
                let recovered = (st.seq > 0).then_some(false);
                if recovered.is_some() && held {
                    metrics.ingest_holes.fetch_add(1, Relaxed);
                }
                st.seq = whole.seq;
                let TopicState {
                    book, subscribers, ..
                } = &mut *st;
                let book = book.insert(Box::new(BookState::load(&whole, views)));
                for s in subscribers.iter() {
                    push_book(&s.peer, &topic, book, epoch, s.depth, recovered);
                }
            }
            _ => {}
        }
    }

    fn fan_out_book(
        &self,
        topic: &Topic,
        book: &BookState,
        subscribers: &[super::subscriber::Subscriber],
        epoch: u64,
        updates: [Option<tickcast_proto::BookUpdate>; DEPTHS.len()],
    ) {
        let messages: Vec<Option<ServerMessage>> = updates
            .into_iter()
            .map(|u| u.map(ServerMessage::BookUpdate))
            .collect();
        let updates: Vec<Option<&tickcast_proto::BookUpdate>> = messages
            .iter()
            .map(|m| match m {
                Some(ServerMessage::BookUpdate(u)) => Some(u),
                _ => None,
            })
            .collect();
        let mut frames: Vec<Option<Frames<'_>>> = messages
            .iter()
            .map(|m| m.as_ref().map(Frames::new))
            .collect();
        let mut resyncs: [[Option<Option<bytes::Bytes>>; 2]; DEPTHS.len()] = Default::default();
        let now = Instant::now();
        let metrics = &self.shared.metrics;
        for s in subscribers.iter() {
            let Some(i) = depth_index(s.depth) else {
                continue;
            };
            let encoding = s.peer.outbox.encoding();
            let (Some(frame), Some(update)) =
                (frames[i].as_mut().and_then(|f| f.get(encoding)), updates[i])
            else {
                continue; // nothing changed at this subscriber's depth
            };
            let resync = || {
                resyncs[i][encoding as usize]
                    .get_or_insert_with(|| {
                        let book = book.snapshot(&topic.name, epoch, s.depth, Some(false))?;
                        frame::encode(encoding, &ServerMessage::Book(book)).ok()
                    })
                    .clone()
            };
            match s
                .peer
                .outbox
                .push_state(&topic.name, (frame, update), resync, now)
            {
                Pushed::Conflated { .. } => {
                    metrics.conflated.fetch_add(1, Relaxed);
                }
                Pushed::Closing => {
                    metrics.slow_consumer_closes.fetch_add(1, Relaxed);
                }
                _ => {}
            }
        }
    }
}

/// Hands `msg` (a book's change or whole book) to the cluster.
fn send_upstream(upstream: &Upstream, msg: &ServerMessage, epoch: u64, views: Option<ViewSeqs>) {
    match Envelope::encode(msg, epoch, None) {
        Ok(mut envelope) => {
            envelope.book_views = views;
            upstream(envelope);
        }
        Err(e) => tracing::warn!(error = &e as &dyn std::error::Error, "a book not sent on"),
    }
}

/// Queues the `book` a subscriber of `depth` starts from (`recovered: false` when it
/// replaces one the subscriber may hold wrong).
pub(super) fn push_book(
    peer: &Peer,
    topic: &Topic,
    book: &BookState,
    epoch: u64,
    depth: u32,
    recovered: Option<bool>,
) {
    if let Some(snapshot) = book.snapshot(&topic.name, epoch, depth, recovered) {
        peer.push_message(&ServerMessage::Book(snapshot));
    }
}

/// What a new subscriber of a book topic gets first: the book to its depth, whatever its
/// position (a book is recovered by its state, not by a replay). Nothing while the topic
/// has no book yet: its first change reaches the subscriber as a `book`.
pub(super) fn join_book(peer: &Arc<Peer>, topic: &Topic, st: &mut TopicState, depth: u32) {
    if let Some(book) = st.book.as_ref().filter(|b| !b.is_empty()) {
        push_book(peer, topic, book, st.epoch, depth, None);
    }
}
