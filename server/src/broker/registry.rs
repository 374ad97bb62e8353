//! Who subscribed to what: every peer's patterns, topic membership derived from them
//! (on subscribe, unsubscribe, disconnect and when a topic is created), and the
//! reference prices new ticks topics start from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use smallvec::SmallVec;

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

/// One pattern a peer subscribed to, with its `max_rate` and book `depth`. The pattern
/// is shared by every peer that subscribed to the same one ([`Registry::intern`]).
#[derive(Debug, Clone)]
struct Subscription {
    pattern: Arc<Pattern>,
    max_rate: Option<u32>,
    depth: Option<u32>,
}

/// A peer's subscriptions (in the order they were added) and the resume positions it
/// handed over that no subscribe has used yet; kept in its [`Peer`], changed only under
/// the registry's lock.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    /// Inline while there is one, as for most peers: no allocation per connection.
    list: SmallVec<[Subscription; 1]>,
    /// From `resume` and `since`: used by the topics a subscribe matches (now, or when
    /// such a topic appears), at most `max_resume_positions`. (A `BTreeMap`: 24 bytes
    /// and no allocation while empty, as it is for most peers; a `HashMap` is 48.)
    positions: BTreeMap<String, Position>,
}

impl Subscriptions {
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

/// The broker's first lock: the patterns in use, and reference prices by symbol. Who
/// subscribed to what is kept in each [`Peer`] (under this lock).
#[derive(Debug, Default)]
pub(super) struct Registry {
    /// Every pattern some peer holds, once: 10,000 subscribers of `ticks.*` share one.
    patterns: HashSet<Arc<Pattern>>,
    /// Reference (previous close) prices by symbol, for session statistics.
    pub(super) reference_prices: HashMap<String, f64>,
}

impl Registry {
    /// The shared copy of `pattern`.
    fn intern(&mut self, pattern: &Pattern) -> Arc<Pattern> {
        if let Some(shared) = self.patterns.get(pattern) {
            return shared.clone();
        }
        let shared = Arc::new(pattern.clone());
        self.patterns.insert(shared.clone());
        shared
    }

    /// Drops a subscription a peer gave up, and its pattern once nobody else holds it.
    fn release(&mut self, gone: Subscription) {
        // The table's copy and this one: nobody else holds it (every other copy lives in
        // a peer's subscriptions, changed only under this lock).
        if Arc::strong_count(&gone.pattern) == 2 {
            self.patterns.remove(&*gone.pattern);
        }
    }
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
        let registry = self.registry();
        let mut topics = self
            .shared
            .topics
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get(name) {
            return t.clone();
        }
        let mut subscribers = Vec::new();
        self.each_peer(|peer| {
            let mut subs = peer.subscriptions();
            let Some(rate) = effective_rate(&subs.list, name) else {
                return;
            };
            // A subscriber from the topic's creation has had every message of it.
            let mut subscriber = Subscriber::new(peer.clone(), rate, (0, 0));
            subscriber.resume_from = subs.positions.remove(name).map(Box::new);
            subscriber.depth = effective_depth(&subs.list, name);
            subscribers.push(subscriber);
        });
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
        let limit = self.max_resume_positions();
        let mut subs = peer.subscriptions();
        subs.check_position_room(&since, limit)?;
        let wanted = subs.list.len()
            + patterns
                .iter()
                .enumerate()
                .filter(|(i, p)| {
                    !subs.list.iter().any(|s| *s.pattern == **p) && !patterns[..*i].contains(p)
                })
                .count();
        if wanted > self.shared.max_subscriptions {
            return Err(Reject::new(
                ErrorCode::TooManySubscriptions,
                format!(
                    "{wanted} subscriptions would exceed the limit of {}",
                    self.shared.max_subscriptions
                ),
            ));
        }
        let mut list = subs.list.clone();
        for pattern in &patterns {
            let new = Subscription {
                pattern: registry.intern(pattern),
                max_rate: req.max_rate,
                depth: req.depth,
            };
            match list.iter_mut().find(|s| *s.pattern == *pattern) {
                Some(existing) => *existing = new,
                None => list.push(new),
            }
        }
        let added = list.len() - subs.list.len();
        self.shared
            .metrics
            .subscriptions
            .fetch_add(added as u64, Relaxed);
        // Most peers hold one pattern: inline, no spare slots per connection.
        list.shrink_to_fit();
        subs.list = list;
        subs.positions.extend(since);
        let subscriptions = subs.list.to_vec();
        drop(subs);
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
            let position = peer.subscriptions().positions.remove(&*topic.name);
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
            let resume_from = send_initial(peer, &st, catchup, position, stamped_here);
            if let Some(from) = resume_from {
                subscriber.joined_at = from;
            }
            subscriber.resume_from = resume_from.map(Box::new);
            st.subscribers.push(subscriber);
        }
        drop(registry);
        Ok(())
    }

    /// Stores resume positions for the peer's next subscribes (`resume` message).
    pub fn resume(&self, peer: &Arc<Peer>, req: Resume) -> Result<(), Reject> {
        check_positions(&req.since, "since")?;
        let _registry = self.registry();
        let limit = self.max_resume_positions();
        let mut subs = peer.subscriptions();
        subs.check_position_room(&req.since, limit)?;
        subs.positions.extend(req.since);
        let msg = ack(req.id, Op::Resume, Vec::new(), &subs.list);
        drop(subs);
        peer.push_message(&msg);
        Ok(())
    }

    /// Removes the exact patterns named in `req.topics` and queues the ack.
    pub fn unsubscribe(&self, peer: &Arc<Peer>, req: Unsubscribe) -> Result<(), Reject> {
        let patterns = parse_patterns(&req.topics)?;
        let mut registry = self.registry();
        let (removed, remaining) = {
            let mut subs = peer.subscriptions();
            let mut removed = Vec::new();
            subs.list.retain(|s| {
                let gone = patterns.contains(&*s.pattern);
                if gone {
                    removed.push(s.clone());
                }
                !gone
            });
            subs.list.shrink_to_fit();
            (removed, subs.list.to_vec())
        };
        self.shared
            .metrics
            .subscriptions
            .fetch_sub(removed.len() as u64, Relaxed);
        // Leave the topics before acking, so nothing of them follows the ack.
        self.resync(peer.id, &removed, &remaining);
        peer.push_message(&ack(req.id, Op::Unsubscribe, req.topics, &remaining));
        removed.into_iter().for_each(|s| registry.release(s));
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
    pub fn subscriptions_of(&self, peer: &Peer) -> Vec<String> {
        peer.subscriptions()
            .list
            .iter()
            .map(|s| s.pattern.as_str().to_owned())
            .collect()
    }

    /// Forgets a peer and all its subscriptions.
    pub fn disconnect(&self, peer: &Peer) {
        self.forget_peer(peer.id);
        let mut registry = self.registry();
        let gone = std::mem::take(&mut *peer.subscriptions());
        self.shared
            .metrics
            .subscriptions
            .fetch_sub(gone.list.len() as u64, Relaxed);
        self.resync(peer.id, &gone.list, &[]);
        gone.list.into_iter().for_each(|s| registry.release(s));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tickcast_proto::{Encoding, Subscribe, Unsubscribe};

    use crate::broker::{Broker, Peer};
    use crate::config::SlowConsumer;
    use crate::metrics::Metrics;
    use crate::outbox::Outbox;

    fn peer(id: u64) -> Arc<Peer> {
        let outbox = Outbox::new(Encoding::MsgPack, 1 << 16, SlowConsumer::Conflate);
        Arc::new(Peer::new(id, outbox))
    }

    fn topics(names: &[&str]) -> Vec<String> {
        names.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn a_pattern_is_kept_once_while_any_peer_holds_it() {
        let broker = Broker::new(
            crate::Config::default().retention(),
            16,
            Arc::new(Metrics::default()),
        );
        let patterns = || broker.registry().patterns.len();
        let (a, b) = (peer(1), peer(2));
        assert!(broker.connect(&a) && broker.connect(&b));
        let sub = |names: &[&str]| Subscribe {
            topics: topics(names),
            ..Subscribe::default()
        };
        broker.subscribe(&a, sub(&["ticks.*", "fx.*"])).unwrap();
        broker.subscribe(&b, sub(&["ticks.*"])).unwrap();
        assert_eq!(patterns(), 2);
        assert!(Arc::ptr_eq(
            &a.subscriptions().list[0].pattern,
            &b.subscriptions().list[0].pattern
        ));
        let unsub = Unsubscribe {
            id: None,
            topics: topics(&["ticks.*"]),
        };
        broker.unsubscribe(&a, unsub).unwrap();
        assert_eq!(patterns(), 2, "b still holds ticks.*");
        broker.disconnect(&b);
        assert_eq!(patterns(), 1);
        broker.disconnect(&a);
        assert_eq!(patterns(), 0);
        assert_eq!(broker.peer_count(), 0);
    }
}
