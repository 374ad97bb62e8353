//! Who subscribed to what: every peer's patterns, topic membership derived from them
//! (on subscribe, unsubscribe, disconnect and when a topic is created), and the
//! reference prices new ticks topics start from.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tickcast_proto::bars::Bars;
use tickcast_proto::book::{DEFAULT_DEPTH, DEPTHS};
use tickcast_proto::{
    Ack, ErrorCode, Op, Pattern, Position, RequestId, Resume, ServerMessage, Subscribe, TopicKind,
    Unsubscribe, validate_topic,
};

use super::books::join_book;
use super::replay::{Catchup, send_initial};
use super::subscriber::Subscriber;
use super::topic::{Topic, TopicState, ticks_symbol};
use super::{Broker, Peer, Reject};

/// One pattern a peer subscribed to, with its `max_rate` and book `depth`.
#[derive(Debug, Clone)]
struct Subscription {
    pattern: Pattern,
    max_rate: Option<u32>,
    depth: Option<u32>,
}

/// A peer, its subscriptions (in the order they were added) and the resume positions it
/// handed over that no subscribe has used yet.
#[derive(Debug)]
struct PeerSubscriptions {
    peer: Arc<Peer>,
    subscriptions: Vec<Subscription>,
    /// From `resume` and `since`: used by the topics a subscribe matches (now, or when
    /// such a topic appears), at most `max_resume_positions`. (A `BTreeMap`: 24 bytes
    /// and no allocation while empty, as it is for most peers; a `HashMap` is 48.)
    positions: BTreeMap<String, Position>,
}

impl PeerSubscriptions {
    fn new(peer: &Arc<Peer>) -> Self {
        Self {
            peer: peer.clone(),
            subscriptions: Vec::new(),
            positions: BTreeMap::new(),
        }
    }

    /// `bad_request` when adding `since` would take the peer past `limit` positions.
    fn check_position_room(
        &self,
        since: &BTreeMap<String, Position>,
        limit: usize,
    ) -> Result<(), Reject> {
        let added = since
            .keys()
            .filter(|t| !self.positions.contains_key(*t))
            .count();
        let wanted = self.positions.len() + added;
        if wanted > limit {
            return Err(Reject::new(
                ErrorCode::BadRequest,
                format!("{wanted} resume positions would exceed the limit of {limit}"),
            ));
        }
        Ok(())
    }
}

/// The broker's first lock: every peer's subscriptions, and reference prices by symbol.
#[derive(Debug, Default)]
pub(super) struct Registry {
    peers: HashMap<u64, PeerSubscriptions>,
    /// Reference (previous close) prices by symbol, for session statistics.
    pub(super) reference_prices: HashMap<String, f64>,
}

/// `Some(rate)` when any of `subscriptions` matches `topic`; the least restrictive rate
/// wins (`None` inside: unlimited).
fn effective_rate(subscriptions: &[Subscription], topic: &str) -> Option<Option<u32>> {
    subscriptions
        .iter()
        .filter(|s| s.pattern.matches(topic))
        .fold(None, |acc, s| match (acc, s.max_rate) {
            (None, r) => Some(r),
            (Some(None), _) | (Some(_), None) => Some(None),
            (Some(Some(a)), Some(b)) => Some(Some(a.max(b))),
        })
}

/// The book depth of `topic` for a peer: the largest of its matching subscriptions'.
fn effective_depth(subscriptions: &[Subscription], topic: &str) -> u32 {
    subscriptions
        .iter()
        .filter(|s| s.pattern.matches(topic))
        .map(|s| s.depth.unwrap_or(DEFAULT_DEPTH))
        .max()
        .unwrap_or(DEFAULT_DEPTH)
}

fn parse_patterns(topics: &[String]) -> Result<Vec<Pattern>, Reject> {
    if topics.is_empty() {
        return Err(Reject::new(
            ErrorCode::BadRequest,
            "`topics` must name at least one pattern",
        ));
    }
    topics
        .iter()
        .map(|t| {
            Pattern::parse(t).map_err(|e| {
                Reject::new(ErrorCode::BadTopic, format!("bad topic pattern {t:?}: {e}"))
            })
        })
        .collect()
}

/// Checks the keys of a `since` (or `resume`) map against the topic grammar.
fn check_positions(since: &BTreeMap<String, Position>, field: &str) -> Result<(), Reject> {
    match since
        .keys()
        .find_map(|t| validate_topic(t).err().map(|e| (t, e)))
    {
        Some((t, e)) => Err(Reject::new(
            ErrorCode::BadTopic,
            format!("bad topic {t:?} in `{field}`: {e}"),
        )),
        None => Ok(()),
    }
}

fn ack(
    id: Option<RequestId>,
    op: Op,
    topics: Vec<String>,
    subscriptions: &[Subscription],
) -> ServerMessage {
    let mut patterns: Vec<String> = subscriptions
        .iter()
        .map(|s| s.pattern.as_str().to_owned())
        .collect();
    patterns.sort_unstable();
    ServerMessage::Ack(Ack {
        id,
        op,
        topics,
        subscriptions: patterns,
    })
}

impl Broker {
    /// The topic named `name`, created (with its matching subscribers) on first use.
    pub(super) fn topic(&self, name: &str) -> Arc<Topic> {
        if let Some(t) = self.find(name) {
            return t;
        }
        let mut registry = self.registry();
        let mut topics = self
            .shared
            .topics
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get(name) {
            return t.clone();
        }
        let subscribers = registry
            .peers
            .values_mut()
            .filter_map(|p| {
                let rate = effective_rate(&p.subscriptions, name)?;
                // A subscriber from the topic's creation has had every message of it.
                let mut subscriber = Subscriber::new(p.peer.clone(), rate, (0, 0));
                subscriber.resume_from = p.positions.remove(name);
                subscriber.depth = effective_depth(&p.subscriptions, name);
                Some(subscriber)
            })
            .collect();
        let (bars, reference_price) = match ticks_symbol(name) {
            Some(symbol) => (
                Some(Bars::default()),
                registry.reference_prices.get(&symbol).copied(),
            ),
            None => (None, None),
        };
        let topic = Arc::new(Topic::new(
            name,
            TopicState {
                epoch: self.shared.epoch,
                capacity: self.shared.retention.capacity(name),
                subscribers,
                bars,
                reference_price,
                ..TopicState::default()
            },
        ));
        topics.insert(topic.name.clone(), topic.clone());
        topic
    }

    /// Adds `req.topics` to the peer's subscriptions, then queues the ack followed by
    /// the replay or snapshot of every matching topic that has data.
    pub fn subscribe(&self, peer: &Arc<Peer>, req: Subscribe) -> Result<(), Reject> {
        let patterns = parse_patterns(&req.topics)?;
        if req.max_rate == Some(0) {
            return Err(Reject::new(
                ErrorCode::BadRequest,
                "`max_rate` must be at least 1",
            ));
        }
        if req.depth.is_some_and(|d| !DEPTHS.contains(&d)) {
            return Err(Reject::new(
                ErrorCode::BadRequest,
                "`depth` must be 5, 10, 25 or 50",
            ));
        }
        let catchup = Catchup {
            snapshot: req.snapshot,
            rewind: req.rewind.map_or(0, |n| n as usize),
        };
        let since = req.since.unwrap_or_default();
        check_positions(&since, "since")?;
        let mut registry = self.registry();
        let entry = registry
            .peers
            .entry(peer.id)
            .or_insert_with(|| PeerSubscriptions::new(peer));
        let limit = self.max_resume_positions();
        entry.check_position_room(&since, limit)?;
        let mut subscriptions = entry.subscriptions.clone();
        for pattern in &patterns {
            let new = Subscription {
                pattern: pattern.clone(),
                max_rate: req.max_rate,
                depth: req.depth,
            };
            match subscriptions.iter_mut().find(|s| s.pattern == *pattern) {
                Some(existing) => *existing = new,
                None => subscriptions.push(new),
            }
        }
        if subscriptions.len() > self.shared.max_subscriptions {
            return Err(Reject::new(
                ErrorCode::TooManySubscriptions,
                format!(
                    "{} subscriptions would exceed the limit of {}",
                    subscriptions.len(),
                    self.shared.max_subscriptions
                ),
            ));
        }
        let added = subscriptions.len() - entry.subscriptions.len();
        self.shared
            .metrics
            .subscriptions
            .fetch_add(added as u64, Relaxed);
        // Most peers hold one or two patterns: no spare slots per connection.
        subscriptions.shrink_to_fit();
        entry.subscriptions = subscriptions;
        entry.positions.extend(since);
        let subscriptions = entry.subscriptions.clone();
        // The ack goes before the topics are joined, so no live message precedes it.
        peer.push_message(&ack(req.id, Op::Subscribe, req.topics, &subscriptions));

        let mut matching: Vec<_> = self
            .all_topics()
            .into_iter()
            .filter(|t| patterns.iter().any(|p| p.matches(&t.name)))
            .collect();
        matching.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for topic in matching {
            let rate = effective_rate(&subscriptions, &topic.name).unwrap_or(None);
            let position = entry.positions.remove(&*topic.name);
            let mut st = topic.lock();
            if let Some(subscriber) = st.subscriber_mut(peer.id) {
                subscriber.set_rate(rate);
                if matches!(TopicKind::of(&topic.name), TopicKind::Book { .. }) {
                    // Subscribing a book again is how a client asks for a fresh one.
                    subscriber.depth = effective_depth(&subscriptions, &topic.name);
                    let depth = subscriber.depth;
                    join_book(peer, &topic, &mut st, depth);
                    continue;
                }
                let skipped = position.is_some_and(|p| p < subscriber.joined_at);
                if skipped && subscriber.resume_from.is_none() {
                    // Delivery started after this position (e.g. with a snapshot): what
                    // lies between cannot be replayed in order. Say so rather than skip
                    // the resume silently.
                    peer.push_latest(&st, Some(false));
                }
                continue;
            }
            let mut subscriber = Subscriber::new(peer.clone(), rate, (st.epoch, st.seq));
            if matches!(TopicKind::of(&topic.name), TopicKind::Book { .. }) {
                // A book is recovered by its state: the book, whatever the position.
                subscriber.depth = effective_depth(&subscriptions, &topic.name);
                join_book(peer, &topic, &mut st, subscriber.depth);
                st.subscribers.push(subscriber);
                continue;
            }
            let stamped_here = st.epoch == self.shared.epoch;
            // Under the topic's lock: no live message overtakes or duplicates the replay.
            subscriber.resume_from = send_initial(peer, &st, catchup, position, stamped_here);
            if let Some(from) = subscriber.resume_from {
                subscriber.joined_at = from;
            }
            st.subscribers.push(subscriber);
        }
        drop(registry);
        Ok(())
    }

    /// Stores resume positions for the peer's next subscribes (`resume` message).
    pub fn resume(&self, peer: &Arc<Peer>, req: Resume) -> Result<(), Reject> {
        check_positions(&req.since, "since")?;
        let mut registry = self.registry();
        let entry = registry
            .peers
            .entry(peer.id)
            .or_insert_with(|| PeerSubscriptions::new(peer));
        let limit = self.max_resume_positions();
        entry.check_position_room(&req.since, limit)?;
        entry.positions.extend(req.since);
        peer.push_message(&ack(req.id, Op::Resume, Vec::new(), &entry.subscriptions));
        Ok(())
    }

    /// Removes the exact patterns named in `req.topics` and queues the ack.
    pub fn unsubscribe(&self, peer: &Arc<Peer>, req: Unsubscribe) -> Result<(), Reject> {
        let patterns = parse_patterns(&req.topics)?;
        let mut registry = self.registry();
        let (removed, remaining) = match registry.peers.get_mut(&peer.id) {
            Some(entry) => {
                let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut entry.subscriptions)
                    .into_iter()
                    .partition(|s| patterns.contains(&s.pattern));
                entry.subscriptions = kept;
                (removed, entry.subscriptions.clone())
            }
            None => (Vec::new(), Vec::new()),
        };
        self.shared
            .metrics
            .subscriptions
            .fetch_sub(removed.len() as u64, Relaxed);
        // Leave the topics before acking, so nothing of them follows the ack.
        self.resync(peer.id, &removed, &remaining);
        peer.push_message(&ack(req.id, Op::Unsubscribe, req.topics, &remaining));
        drop(registry);
        Ok(())
    }

    /// Re-derives membership of `peer_id` in every topic matched by `removed`.
    fn resync(&self, peer_id: u64, removed: &[Subscription], remaining: &[Subscription]) {
        if removed.is_empty() {
            return;
        }
        for topic in self.all_topics() {
            if !removed.iter().any(|s| s.pattern.matches(&topic.name)) {
                continue;
            }
            let mut st = topic.lock();
            match effective_rate(remaining, &topic.name) {
                None => {
                    // What `max_rate` or conflation still holds of the topic goes too:
                    // nothing of it follows the ack.
                    if let Some(gone) = st.remove_subscriber(peer_id) {
                        gone.peer.outbox.forget(&topic.name);
                    }
                }
                Some(rate) => {
                    if let Some(subscriber) = st.subscriber_mut(peer_id) {
                        subscriber.set_rate(rate);
                    }
                }
            }
        }
    }

    /// The peer's subscription patterns, in the order they were added.
    pub fn subscriptions_of(&self, peer_id: u64) -> Vec<String> {
        self.registry()
            .peers
            .get(&peer_id)
            .map(|p| {
                p.subscriptions
                    .iter()
                    .map(|s| s.pattern.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets a peer and all its subscriptions.
    pub fn disconnect(&self, peer_id: u64) {
        let mut registry = self.registry();
        if let Some(entry) = registry.peers.remove(&peer_id) {
            self.shared
                .metrics
                .subscriptions
                .fetch_sub(entry.subscriptions.len() as u64, Relaxed);
            self.resync(peer_id, &entry.subscriptions, &[]);
        }
    }
}
