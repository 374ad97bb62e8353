//! Book topics (`book.SYM`) in the broker: a change enters (`publish_book`) and becomes one
//! `book_update` per depth in use, encoded once per encoding and depth; a subscriber joins
//! with a `book` to its depth; a subscriber too slow for its updates gets a fresh `book`
//! (`recovered: false`) in their place, never a wrong book.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use tickcast_proto::ServerMessage;
use tickcast_proto::book::DEPTHS;

use super::book::{BookDelta, BookState, depth_index};
use super::fanout::Frames;
use super::publish::next_seq;
use super::topic::{Topic, TopicState};
use super::{Broker, Peer};
use crate::frame;
use crate::outbox::Pushed;

impl Broker {
    /// Applies a change of a book and sends each subscriber the update of its depth (the
    /// first change of a topic, its whole book, reaches them as a `book`).
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
        if first {
            // Subscribers that were waiting for the topic get their book now.
            for s in subscribers.iter() {
                push_book(&s.peer, &topic, book, epoch, s.depth);
            }
            return;
        }
        self.fan_out_book(&topic, book, subscribers, epoch, updates);
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
            let Some(update) = frames[i].as_mut().and_then(|f| f.get(encoding)) else {
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
            match s.peer.outbox.push_state(&topic.name, update, resync, now) {
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

/// Queues the `book` a subscriber of `depth` starts from.
pub(super) fn push_book(peer: &Peer, topic: &Topic, book: &BookState, epoch: u64, depth: u32) {
    if let Some(snapshot) = book.snapshot(&topic.name, epoch, depth, None) {
        peer.push_message(&ServerMessage::Book(snapshot));
    }
}

/// What a new subscriber of a book topic gets first: the book to its depth, whatever its
/// position (a book is recovered by its state, not by a replay). Nothing while the topic
/// has no book yet: its first change reaches the subscriber as a `book`.
pub(super) fn join_book(peer: &Arc<Peer>, topic: &Topic, st: &mut TopicState, depth: u32) {
    if let Some(book) = st.book.as_ref().filter(|b| !b.is_empty()) {
        push_book(peer, topic, book, st.epoch, depth);
    }
}
