//! Delivery: a message is encoded and framed once per encoding in use, the same `Bytes`
//! go to every subscriber's outbox, and the msgpack frame is kept in the topic's ring.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use bytes::Bytes;
use tickcast_proto::nats::Envelope;
use tickcast_proto::{Encoding, ServerMessage};

use super::replay::state_of;
use super::subscriber::Resumed;
use super::topic::{Entry, Topic, TopicState};
use super::{Broker, Peer};
use crate::frame;
use crate::outbox::Pushed;

impl Broker {
    /// Encodes `msg` once per encoding in use, delivers it to every subscriber and keeps
    /// it in the topic's ring.
    pub(super) fn fan_out(&self, topic: &Topic, st: &mut TopicState, msg: ServerMessage) {
        self.fan_out_as(topic, st, msg, None);
    }

    /// Like `fan_out`, but subscribers get `deliver` (when given) instead of `msg`; the
    /// ring still keeps `msg`.
    pub(super) fn fan_out_as(
        &self,
        topic: &Topic,
        st: &mut TopicState,
        msg: ServerMessage,
        deliver: Option<&ServerMessage>,
    ) {
        let Ok(msgpack) = frame::encode(Encoding::MsgPack, &msg) else {
            tracing::error!(topic = %topic.name, "encoding a message failed");
            return;
        };
        let mut frames = match deliver {
            Some(other) => Frames::new(other),
            None => Frames::with_msgpack(&msg, msgpack.clone()),
        };
        // Subscribers that resumed from a position this node had not reached (rare): they
        // get this message itself, nothing, or an announcement (see `Resumed`).
        let resuming = st.subscribers.iter().any(|s| s.resume_from.is_some());
        let lost = resuming.then(|| state_of(&msg, st, Some(false)));
        let mut lost_frames = lost.as_ref().map(Frames::new);
        let mut own_frames = Frames::with_msgpack(&msg, msgpack.clone());
        let (epoch, seq) = (st.epoch, st.seq);
        let now = Instant::now();
        let metrics = &self.shared.metrics;
        for subscriber in st.subscribers.iter_mut() {
            let encoding = subscriber.peer.outbox.encoding();
            let frame = match subscriber.resume_from.as_deref() {
                None => frames.get(encoding),
                Some(&from) => match Resumed::judge(from, epoch, seq) {
                    Resumed::Skip => continue,
                    Resumed::Continue => {
                        subscriber.resume_from = None;
                        own_frames.get(encoding)
                    }
                    Resumed::Lost => {
                        subscriber.resume_from = None;
                        if let Some(f) = lost_frames.as_mut().and_then(|l| l.get(encoding)) {
                            subscriber.peer.outbox.push(f);
                        }
                        continue;
                    }
                },
            };
            let Some(f) = frame else {
                continue;
            };
            match subscriber.deliver(&topic.name, f, now) {
                Pushed::Conflated { replaced: true } => {
                    metrics.conflated.fetch_add(1, Relaxed);
                }
                Pushed::Closing => {
                    metrics.slow_consumer_closes.fetch_add(1, Relaxed);
                }
                _ => {}
            }
        }
        metrics.messages_published.fetch_add(1, Relaxed);
        let (ts, trade) = match &msg {
            ServerMessage::Tick(t) => (t.ts, true),
            ServerMessage::Bar(b) => (b.ts, false),
            _ => (0, false),
        };
        if let Some(upstream) = &self.shared.upstream {
            // The msgpack frame clients got, minus its header: no second encode.
            upstream(Envelope {
                topic: topic.name.to_string(),
                epoch: st.epoch,
                prev_close: st.reference_price.filter(|_| trade),
                book_views: None,
                payload: frame::payload(&msgpack),
            });
        }
        if st.capacity > 0 {
            while st.ring.len() >= st.capacity {
                st.ring.pop_front();
            }
            st.ring.push_back(Arc::new(Entry {
                seq: st.seq,
                ts,
                msgpack,
            }));
        }
        st.last = Some(msg);
    }
}

impl Peer {
    /// Queues a message that must not be conflated (acks, answers, snapshots), encoded
    /// for this peer.
    pub fn push_message(&self, msg: &ServerMessage) {
        match frame::encode(self.outbox.encoding(), msg) {
            Ok(f) => self.outbox.push(f),
            Err(e) => tracing::error!(error = %e, "encoding a message failed"),
        }
    }

    /// Queues a message from a topic's ring, reusing its msgpack frame when it can.
    pub(super) fn push_entry(&self, entry: &Entry) {
        match self.outbox.encoding() {
            Encoding::MsgPack => self.outbox.push(entry.msgpack.clone()),
            Encoding::Json => {
                if let Some(msg) = entry.msg() {
                    self.push_message(&msg);
                }
            }
        }
    }
}

/// One message's frames, encoded lazily at most once per encoding.
pub(super) struct Frames<'a> {
    msg: &'a ServerMessage,
    /// By `Encoding as usize`: not tried yet, or the frame (`None` when encoding failed).
    cache: [Option<Option<Bytes>>; 2],
}

impl<'a> Frames<'a> {
    pub(super) fn new(msg: &'a ServerMessage) -> Self {
        Self {
            msg,
            cache: [None, None],
        }
    }

    /// Frames of `msg`, whose msgpack frame is already made.
    fn with_msgpack(msg: &'a ServerMessage, msgpack: Bytes) -> Self {
        let mut frames = Self::new(msg);
        frames.cache[Encoding::MsgPack as usize] = Some(Some(msgpack));
        frames
    }

    /// The frame of the message in `encoding`, encoded on first use.
    pub(super) fn get(&mut self, encoding: Encoding) -> Option<Bytes> {
        let msg = self.msg;
        self.cache[encoding as usize]
            .get_or_insert_with(|| match frame::encode(encoding, msg) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::error!(error = %e, "encoding a message failed");
                    None
                }
            })
            .clone()
    }
}
