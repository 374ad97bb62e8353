//! The topic broker: per-topic state, subscriptions, fan-out, replay and bars.
//!
//! Lock order (never the reverse): `registry` -> `topics` -> one topic's state.
//! A publish takes only the `topics` read lock (briefly) and its topic's lock.

mod topic;

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use bytes::Bytes;
use tickcast_proto::{
    Ack, Encoding, ErrorCode, MarketState, Op, Pattern, Position, RequestId, ServerMessage,
    Snapshot, Status, Subscribe, Tick, Topics, Unsubscribe, validate_topic,
};

use crate::metrics::Metrics;
use crate::outbox::{Outbox, Pushed};
use crate::{frame, unix_ns};
use tickcast_proto::bars::{Bars, Closed};
use tickcast_proto::nats::Envelope;
use topic::{Entry, Kind, Sub, Topic, TopicState};

/// The broker's view of one connection.
#[derive(Debug)]
pub struct Client {
    pub id: u64,
    pub outbox: Outbox,
}

/// A request the broker refused; the connection answers it with an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Reject {
    pub code: ErrorCode,
    pub message: String,
}

impl Reject {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Subscription {
    pattern: Pattern,
    max_rate: Option<u32>,
}

#[derive(Debug)]
struct ClientSubs {
    client: Arc<Client>,
    subs: Vec<Subscription>,
}

/// `Some(rate)` when any of `subs` matches `topic`; the least restrictive rate wins.
fn effective_rate(subs: &[Subscription], topic: &str) -> Option<Option<u32>> {
    subs.iter()
        .filter(|s| s.pattern.matches(topic))
        .fold(None, |acc, s| match (acc, s.max_rate) {
            (None, r) => Some(r),
            (Some(None), _) | (Some(_), None) => Some(None),
            (Some(Some(a)), Some(b)) => Some(Some(a.max(b))),
        })
}

#[derive(Debug, Default)]
struct Registry {
    clients: HashMap<u64, ClientSubs>,
    /// Reference (previous close) prices by symbol, for session stats.
    reference: HashMap<String, f64>,
}

struct Shared {
    epoch: u64,
    /// Where messages published here also go (cluster mode: NATS), with their epoch.
    upstream: Option<Upstream>,
    history: usize,
    max_subscriptions: usize,
    registry: Mutex<Registry>,
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("epoch", &self.epoch)
            .field("history", &self.history)
            .field("upstream", &self.upstream.is_some())
            .finish_non_exhaustive()
    }
}

/// Receives every message a broker publishes (not what it ingests) as its NATS envelope:
/// the MessagePack map already encoded for clients, the topic's epoch and, on ticks, the
/// reference price. How a cluster node forwards what enters through it.
pub type Upstream = Arc<dyn Fn(Envelope) + Send + Sync>;

/// A cheap, cloneable handle to the broker.
#[derive(Debug, Clone)]
pub struct Broker {
    shared: Arc<Shared>,
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

impl Broker {
    pub fn new(history: usize, max_subscriptions: usize, metrics: Arc<Metrics>) -> Self {
        Self::with_upstream(history, max_subscriptions, metrics, None)
    }

    /// A broker that also hands every message it publishes to `upstream`.
    pub fn with_upstream(
        history: usize,
        max_subscriptions: usize,
        metrics: Arc<Metrics>,
        upstream: Option<Upstream>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                // Microseconds: identifies this history and stays below 2^53, exact in JavaScript numbers.
                epoch: unix_ns() / 1_000,
                upstream,
                history,
                max_subscriptions,
                registry: Mutex::default(),
                topics: RwLock::default(),
                metrics,
            }),
        }
    }

    /// Identifies the history of topics that enter through this broker (its start time
    /// in µs); ingested topics carry their source's epoch.
    pub fn epoch(&self) -> u64 {
        self.shared.epoch
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.shared
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn find(&self, name: &str) -> Option<Arc<Topic>> {
        self.shared
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn all_topics(&self) -> Vec<Arc<Topic>> {
        self.shared
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The topic named `name`, created (with its matching subscribers) on first use.
    fn topic(&self, name: &str) -> Arc<Topic> {
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
        let kind = Kind::of(name);
        let subs = registry
            .clients
            .values()
            .filter_map(|c| {
                effective_rate(&c.subs, name).map(|rate| Sub::new(c.client.clone(), rate))
            })
            .collect();
        let (bars, reference) = match &kind {
            Kind::Ticks { symbol } => (
                Some(Bars::default()),
                registry.reference.get(symbol).copied(),
            ),
            _ => (None, None),
        };
        let topic = Arc::new(Topic::new(
            name,
            TopicState {
                epoch: self.shared.epoch,
                subs,
                bars,
                reference,
                ..TopicState::default()
            },
        ));
        topics.insert(topic.name.clone(), topic.clone());
        topic
    }

    /// Sets the previous close of `symbol` (used for change and % change).
    pub fn set_reference_price(&self, symbol: &str, price: f64) {
        self.registry().reference.insert(symbol.to_owned(), price);
        if let Some(t) = self.find(&format!("ticks.{symbol}")) {
            let mut st = t.lock();
            st.reference = Some(price);
            if let Some(s) = st.session.as_mut() {
                s.prev_close = price;
            }
        }
    }

    /// Publishes a trade: stamps `seq` (and `ts` when 0), updates session stats and bars,
    /// and fans the tick out. Returns the assigned `seq`.
    pub fn publish_tick(&self, mut tick: Tick) -> u64 {
        let topic = self.topic(&tick.topic);
        let mut closed = Vec::new();
        let seq = {
            let mut st = topic.lock();
            st.seq += 1;
            tick.seq = st.seq;
            if tick.ts == 0 {
                tick.ts = unix_ns();
            }
            st.update_session(tick.price);
            // Publishers may leave `volume` to the server: it is the session's running total.
            st.volume = if tick.volume > 0 {
                tick.volume
            } else {
                st.volume + tick.size
            };
            tick.volume = st.volume;
            if let Some(bars) = st.bars.as_mut() {
                bars.on_trade(tick.ts, tick.price, tick.size, &mut closed);
            }
            if st.last.is_none() && matches!(topic.kind, Kind::Ticks { .. }) {
                // A topic's first trade reaches early subscribers as a snapshot, so they
                // get the session fields (prev_close) without asking again.
                let snapshot = self.snapshot_of(&tick, &st, None);
                self.fan_out_as(&topic, &mut st, ServerMessage::Tick(tick), Some(&snapshot));
            } else {
                self.fan_out(&topic, &mut st, ServerMessage::Tick(tick));
            }
            st.seq
        };
        self.shared.metrics.ticks_published.fetch_add(1, Relaxed);
        if let Kind::Ticks { symbol } = &topic.kind {
            self.publish_bars(symbol, closed);
        }
        seq
    }

    fn publish_bars(&self, symbol: &str, closed: Vec<Closed>) {
        for (interval, acc) in closed {
            let topic = self.topic(&interval.topic(symbol));
            let mut st = topic.lock();
            st.seq += 1;
            let bar = acc.to_bar(interval, symbol, st.seq);
            self.fan_out(&topic, &mut st, ServerMessage::Bar(bar));
        }
    }

    /// Closes and publishes every bar whose interval has ended (call a few times a second).
    pub fn close_due_bars(&self, now_ns: u64) {
        for topic in self.all_topics() {
            let Kind::Ticks { symbol } = &topic.kind else {
                continue;
            };
            let mut closed = Vec::new();
            if let Some(bars) = topic.lock().bars.as_mut() {
                bars.close_due(now_ns, &mut closed);
            }
            if !closed.is_empty() {
                self.publish_bars(symbol, closed);
            }
        }
    }

    /// Announces a market status change on `status.topic` (delivered, never conflated).
    pub fn publish_status(&self, mut status: Status) {
        let topic = self.topic(&status.topic);
        if status.ts == 0 {
            status.ts = unix_ns();
        }
        let mut st = topic.lock();
        st.market = status.state;
        let msg = ServerMessage::Status(status);
        let mut frames = Frames::new(&msg);
        for sub in &st.subs {
            if let Some(f) = frames.get(sub.client.outbox.encoding()) {
                sub.client.outbox.push(f);
            }
        }
        self.shared.metrics.messages_published.fetch_add(1, Relaxed);
        if let (Some(upstream), Some(f)) = (&self.shared.upstream, frames.get(Encoding::MsgPack)) {
            upstream(Envelope {
                topic: topic.name.to_string(),
                epoch: st.epoch,
                prev_close: None,
                payload: frame::payload(&f),
            });
        }
    }

    /// Encodes `msg` once per encoding in use, delivers it to every subscriber and keeps
    /// it in the topic's ring.
    fn fan_out(&self, topic: &Topic, st: &mut TopicState, msg: ServerMessage) {
        self.fan_out_as(topic, st, msg, None);
    }

    /// Like `fan_out`, but subscribers get `deliver` (when given) instead of `msg`; the
    /// ring still keeps `msg`.
    fn fan_out_as(
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
        let mut frames = Frames::new(deliver.unwrap_or(&msg));
        if deliver.is_none() {
            frames.cache[Encoding::MsgPack as usize] = Some(Some(msgpack.clone()));
        }
        let now = Instant::now();
        let metrics = &self.shared.metrics;
        for sub in st.subs.iter_mut() {
            let Some(f) = frames.get(sub.client.outbox.encoding()) else {
                continue;
            };
            match sub.deliver(&topic.name, f, now) {
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
        let entry = Arc::new(Entry {
            seq: st.seq,
            msg,
            msgpack,
        });
        if self.shared.history > 0 {
            if st.ring.len() == self.shared.history {
                st.ring.pop_front();
            }
            st.ring.push_back(entry.clone());
        }
        st.last = Some(entry.clone());
        if let Some(upstream) = &self.shared.upstream {
            upstream(Envelope {
                topic: topic.name.to_string(),
                epoch: st.epoch,
                prev_close: st
                    .reference
                    .filter(|_| matches!(entry.msg, ServerMessage::Tick(_))),
                payload: frame::payload(&entry.msgpack),
            });
        }
    }

    /// Takes in a message stamped elsewhere (`seq`, `ts` and `epoch` assigned where it
    /// entered the system, e.g. another node via NATS) and fans it out unchanged. A new
    /// epoch starts a new history of the topic; a `seq` not above the last is dropped as
    /// a duplicate; a jump is kept (subscribers see the gap by `seq`).
    pub fn ingest(&self, msg: ServerMessage, epoch: u64) {
        let (name, seq) = match &msg {
            ServerMessage::Tick(t) => (t.topic.clone(), t.seq),
            ServerMessage::Bar(b) => (b.topic.clone(), b.seq),
            ServerMessage::Status(s) => {
                self.publish_status(s.clone());
                return;
            }
            _ => return,
        };
        let topic = self.topic(&name);
        let mut st = topic.lock();
        if st.epoch != epoch {
            st.epoch = epoch;
            st.seq = 0;
            st.ring.clear();
            st.last = None;
            st.session = None;
            st.volume = 0;
        }
        if seq <= st.seq {
            return;
        }
        st.seq = seq;
        if let ServerMessage::Tick(tick) = &msg {
            st.update_session(tick.price);
            st.volume = tick.volume;
            if st.last.is_none() && matches!(topic.kind, Kind::Ticks { .. }) {
                let snapshot = self.snapshot_of(tick, &st, None);
                self.fan_out_as(&topic, &mut st, msg, Some(&snapshot));
                return;
            }
        }
        self.fan_out(&topic, &mut st, msg);
    }

    /// Adds `req.topics` to the client's subscriptions, then queues the ack followed by
    /// the replay or snapshot of every matching topic that has data.
    pub fn subscribe(&self, client: &Arc<Client>, req: Subscribe) -> Result<(), Reject> {
        let patterns = parse_patterns(&req.topics)?;
        if req.max_rate == Some(0) {
            return Err(Reject::new(
                ErrorCode::BadRequest,
                "`max_rate` must be at least 1",
            ));
        }
        let since = req.since.unwrap_or_default();
        if let Some((t, e)) = since
            .keys()
            .find_map(|t| validate_topic(t).err().map(|e| (t, e)))
        {
            return Err(Reject::new(
                ErrorCode::BadTopic,
                format!("bad topic {t:?} in `since`: {e}"),
            ));
        }
        let mut registry = self.registry();
        let entry = registry
            .clients
            .entry(client.id)
            .or_insert_with(|| ClientSubs {
                client: client.clone(),
                subs: Vec::new(),
            });
        let mut subs = entry.subs.clone();
        for pattern in &patterns {
            let new = Subscription {
                pattern: pattern.clone(),
                max_rate: req.max_rate,
            };
            match subs.iter_mut().find(|s| s.pattern == *pattern) {
                Some(existing) => *existing = new,
                None => subs.push(new),
            }
        }
        if subs.len() > self.shared.max_subscriptions {
            return Err(Reject::new(
                ErrorCode::TooManySubscriptions,
                format!(
                    "{} subscriptions would exceed the limit of {}",
                    subs.len(),
                    self.shared.max_subscriptions
                ),
            ));
        }
        let added = subs.len() - entry.subs.len();
        self.shared
            .metrics
            .subscriptions
            .fetch_add(added as u64, Relaxed);
        entry.subs = subs;
        let subs = entry.subs.clone();
        push_msg(client, &ack(req.id, Op::Subscribe, req.topics, &subs));

        let mut matching: Vec<_> = self
            .all_topics()
            .into_iter()
            .filter(|t| patterns.iter().any(|p| p.matches(&t.name)))
            .collect();
        matching.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        for topic in matching {
            let rate = effective_rate(&subs, &topic.name).unwrap_or(None);
            let mut st = topic.lock();
            if let Some(sub) = st.sub_mut(client.id) {
                sub.set_rate(rate);
                continue;
            }
            st.subs.push(Sub::new(client.clone(), rate));
            self.send_initial(client, &st, req.snapshot, since.get(&*topic.name).copied());
        }
        drop(registry);
        Ok(())
    }

    /// Queues what a new subscriber of `topic` gets before live messages.
    fn send_initial(
        &self,
        client: &Client,
        st: &TopicState,
        snapshot: bool,
        since: Option<Position>,
    ) {
        let Some(last) = st.last.as_ref() else { return };
        let recovered = match since {
            Some((epoch, seq)) if epoch == st.epoch && seq <= st.seq => {
                let first = st.ring.front().map_or(u64::MAX, |e| e.seq);
                if seq == st.seq {
                    return; // up to date
                }
                // Replay only what fits in the client's queue; a larger gap is answered
                // like a lost one, with a snapshot.
                let bytes: usize = st
                    .ring
                    .iter()
                    .filter(|e| e.seq > seq)
                    .map(|e| e.msgpack.len())
                    .sum();
                if first <= seq + 1 && bytes <= client.outbox.room() {
                    for e in st.ring.iter().filter(|e| e.seq > seq) {
                        push_entry(client, e);
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
            ServerMessage::Tick(t) => push_msg(client, &self.snapshot_of(t, st, recovered)),
            _ => push_entry(client, last),
        }
    }

    /// The snapshot of a ticks topic whose latest trade is `t`.
    fn snapshot_of(&self, t: &Tick, st: &TopicState, recovered: Option<bool>) -> ServerMessage {
        let session = st.session.unwrap_or(topic::Session {
            open: t.price,
            high: t.price,
            low: t.price,
            prev_close: t.price,
        });
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

    /// Removes the exact patterns named in `req.topics` and queues the ack.
    pub fn unsubscribe(&self, client: &Arc<Client>, req: Unsubscribe) -> Result<(), Reject> {
        let patterns = parse_patterns(&req.topics)?;
        let mut registry = self.registry();
        let (removed, subs) = match registry.clients.get_mut(&client.id) {
            Some(entry) => {
                let (removed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut entry.subs)
                    .into_iter()
                    .partition(|s| patterns.contains(&s.pattern));
                entry.subs = kept;
                (removed, entry.subs.clone())
            }
            None => (Vec::new(), Vec::new()),
        };
        self.shared
            .metrics
            .subscriptions
            .fetch_sub(removed.len() as u64, Relaxed);
        // Leave the topics before acking, so nothing of them follows the ack.
        self.resync(client.id, &removed, &subs);
        push_msg(client, &ack(req.id, Op::Unsubscribe, req.topics, &subs));
        drop(registry);
        Ok(())
    }

    /// Re-derives membership of `client_id` in every topic matched by `removed`.
    fn resync(&self, client_id: u64, removed: &[Subscription], remaining: &[Subscription]) {
        if removed.is_empty() {
            return;
        }
        for topic in self.all_topics() {
            if !removed.iter().any(|s| s.pattern.matches(&topic.name)) {
                continue;
            }
            let mut st = topic.lock();
            match effective_rate(remaining, &topic.name) {
                None => st.remove_sub(client_id),
                Some(rate) => {
                    if let Some(sub) = st.sub_mut(client_id) {
                        sub.set_rate(rate);
                    }
                }
            }
        }
    }

    /// The client's subscription patterns, in the order they were added.
    pub fn subscriptions_of(&self, client_id: u64) -> Vec<String> {
        self.registry()
            .clients
            .get(&client_id)
            .map(|c| {
                c.subs
                    .iter()
                    .map(|s| s.pattern.as_str().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Forgets a connection and all its subscriptions.
    pub fn disconnect(&self, client_id: u64) {
        let mut registry = self.registry();
        if let Some(entry) = registry.clients.remove(&client_id) {
            self.shared
                .metrics
                .subscriptions
                .fetch_sub(entry.subs.len() as u64, Relaxed);
            self.resync(client_id, &entry.subs, &[]);
        }
    }

    /// Names of topics that have data, sorted, optionally filtered by a pattern.
    pub fn list(&self, id: Option<RequestId>, pattern: Option<&str>) -> Result<Topics, Reject> {
        let pattern = pattern
            .map(|p| {
                Pattern::parse(p).map_err(|e| {
                    Reject::new(ErrorCode::BadTopic, format!("bad pattern {p:?}: {e}"))
                })
            })
            .transpose()?;
        let mut topics: Vec<String> = self
            .all_topics()
            .iter()
            .filter(|t| pattern.as_ref().is_none_or(|p| p.matches(&t.name)))
            .filter(|t| t.lock().seq > 0)
            .map(|t| t.name.to_string())
            .collect();
        topics.sort_unstable();
        Ok(Topics { id, topics })
    }

    /// A summary of every topic for `GET /topics`.
    pub fn describe(&self) -> Vec<TopicInfo> {
        let mut out: Vec<TopicInfo> = self
            .all_topics()
            .iter()
            .map(|t| {
                let st = t.lock();
                TopicInfo {
                    topic: t.name.to_string(),
                    seq: st.seq,
                    subscribers: st.subs.len(),
                    state: st.market,
                    last_price: st.last.as_ref().and_then(|e| match &e.msg {
                        ServerMessage::Tick(t) => Some(t.price),
                        ServerMessage::Bar(b) => Some(b.close),
                        _ => None,
                    }),
                }
            })
            .collect();
        out.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
        out
    }
}

/// One row of `GET /topics`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicInfo {
    pub topic: String,
    pub seq: u64,
    pub subscribers: usize,
    pub state: MarketState,
    pub last_price: Option<f64>,
}

fn ack(id: Option<RequestId>, op: Op, topics: Vec<String>, subs: &[Subscription]) -> ServerMessage {
    let subscriptions = subs.iter().map(|s| s.pattern.as_str().to_owned()).collect();
    ServerMessage::Ack(Ack {
        id,
        op,
        topics,
        subscriptions,
    })
}

/// Queues a message that must not be conflated, encoded for this client.
pub fn push_msg(client: &Client, msg: &ServerMessage) {
    match frame::encode(client.outbox.encoding(), msg) {
        Ok(f) => client.outbox.push(f),
        Err(e) => tracing::error!(error = %e, "encoding a message failed"),
    }
}

fn push_entry(client: &Client, entry: &Entry) {
    match client.outbox.encoding() {
        Encoding::MsgPack => client.outbox.push(entry.msgpack.clone()),
        encoding => push_msg_as(client, encoding, &entry.msg),
    }
}

fn push_msg_as(client: &Client, encoding: Encoding, msg: &ServerMessage) {
    if let Ok(f) = frame::encode(encoding, msg) {
        client.outbox.push(f);
    }
}

/// One message's frames, encoded lazily at most once per encoding.
struct Frames<'a> {
    msg: &'a ServerMessage,
    cache: [Option<Option<Bytes>>; 2],
}

impl<'a> Frames<'a> {
    fn new(msg: &'a ServerMessage) -> Self {
        Self {
            msg,
            cache: [None, None],
        }
    }

    fn get(&mut self, encoding: Encoding) -> Option<Bytes> {
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
