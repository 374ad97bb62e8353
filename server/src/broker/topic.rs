//! Per-topic state: sequence, history ring, trading-session statistics, market state and
//! the resolved list of subscribers (so a publish never scans patterns or connections).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tickcast_proto::bars::Bars;
use tickcast_proto::{MarketState, ServerMessage, TopicKind};

use super::subscriber::Subscriber;

/// One published message kept for replay: only the msgpack frame every msgpack subscriber
/// got (a decoded copy beside it would double the history's memory; the rare reader that
/// needs the message, a JSON subscriber's replay or `GET /history`, decodes it).
#[derive(Debug)]
pub struct Entry {
    pub seq: u64,
    /// The message's `ts` (a bar's interval start).
    pub ts: u64,
    pub msgpack: Bytes,
}

impl Entry {
    /// The message, decoded from its frame (`None` only if the frame were corrupt).
    pub fn msg(&self) -> Option<ServerMessage> {
        let payload = crate::frame::payload(&self.msgpack);
        tickcast_proto::decode_server(tickcast_proto::Encoding::MsgPack, &payload).ok()
    }
}

/// Open, high, low and previous close of the current trading session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SessionStats {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub prev_close: f64,
}

impl SessionStats {
    /// A session whose every statistic is `price` (a topic with one trade and no
    /// reference price).
    pub fn at(price: f64) -> Self {
        Self {
            open: price,
            high: price,
            low: price,
            prev_close: price,
        }
    }
}

/// Mutable state of one topic.
#[derive(Debug, Default)]
pub struct TopicState {
    /// The history this topic's `seq` belongs to (the broker's, or the source's when ingested).
    pub epoch: u64,
    pub seq: u64,
    /// Cumulative session volume of a ticks topic.
    pub volume: u64,
    /// The latest messages, at most `capacity` (see `Retention`).
    pub ring: VecDeque<Arc<Entry>>,
    pub capacity: usize,
    /// The latest message (a trade, a bar), for snapshots and announcements.
    pub last: Option<ServerMessage>,
    pub session: Option<SessionStats>,
    pub market: MarketState,
    pub subscribers: Vec<Subscriber>,
    /// How far behind the wall clock the latest trade's `ts` was when it arrived (a feed
    /// that publishes its past): the bar clock runs this much behind for the topic.
    pub ts_lag_ns: u64,
    /// The bar builders of a ticks topic.
    pub bars: Option<Bars>,
    /// The order book of a `book.SYM` topic.
    pub book: Option<Box<tickcast_proto::book_state::BookState>>,
    /// Reference price for `prev_close` (e.g. the simulator's start price).
    pub reference_price: Option<f64>,
}

impl TopicState {
    /// Folds a trade at `price` into the session statistics.
    pub fn update_session(&mut self, price: f64) {
        match &mut self.session {
            Some(s) => {
                s.high = s.high.max(price);
                s.low = s.low.min(price);
            }
            None => {
                self.session = Some(SessionStats {
                    prev_close: self.reference_price.unwrap_or(price),
                    ..SessionStats::at(price)
                });
            }
        }
    }

    /// Forgets the history of the topic: a new epoch starts from nothing.
    pub fn restart(&mut self, epoch: u64) {
        self.epoch = epoch;
        self.seq = 0;
        self.ring.clear();
        self.last = None;
        self.session = None;
        self.volume = 0;
        self.book = None;
    }

    pub fn subscriber_mut(&mut self, peer_id: u64) -> Option<&mut Subscriber> {
        self.subscribers.iter_mut().find(|s| s.peer.id == peer_id)
    }

    /// Removes the peer's subscription; it returns the subscriber that was removed.
    pub fn remove_subscriber(&mut self, peer_id: u64) -> Option<Subscriber> {
        let at = self.subscribers.iter().position(|s| s.peer.id == peer_id)?;
        Some(self.subscribers.swap_remove(at))
    }
}

/// A topic: its name, what it carries and its state.
#[derive(Debug)]
pub struct Topic {
    pub name: Arc<str>,
    /// `Some(symbol)` for `ticks.SYM`: trades, with session statistics, snapshots and
    /// bars derived from them. (`None` for bars and anything else a publisher uses.)
    pub ticks_symbol: Option<String>,
    /// A std mutex: held for one publish or one subscribe of this topic, never across `.await`.
    state: Mutex<TopicState>,
}

impl Topic {
    pub fn new(name: &str, state: TopicState) -> Self {
        Self {
            name: Arc::from(name),
            ticks_symbol: ticks_symbol(name),
            state: Mutex::new(state),
        }
    }

    /// Lock 4 of the lock order (see the module docs of `broker`).
    pub fn lock(&self) -> MutexGuard<'_, TopicState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The symbol of a `ticks.SYM` topic name.
pub fn ticks_symbol(name: &str) -> Option<String> {
    match TopicKind::of(name) {
        TopicKind::Ticks { symbol } => Some(symbol.to_owned()),
        TopicKind::Bars { .. } | TopicKind::Book { .. } | TopicKind::Other => None,
    }
}
