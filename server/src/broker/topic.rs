//! Per-topic state: sequence, history ring, session stats, market state and the
//! resolved list of subscribers (so a publish never scans patterns or connections).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tickcast_proto::{MarketState, ServerMessage, TopicKind};

use super::Client;
use crate::outbox::Pushed;
use tickcast_proto::bars::Bars;

/// What a topic carries, derived from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `ticks.SYM`: trades, with session stats and bars derived from them.
    Ticks { symbol: String },
    /// `bars.1s.SYM`, `bars.1m.SYM`.
    Bars,
    /// Anything else a publisher uses.
    Other,
}

impl Kind {
    pub fn of(name: &str) -> Self {
        match TopicKind::of(name) {
            TopicKind::Ticks { symbol } => Self::Ticks {
                symbol: symbol.to_owned(),
            },
            TopicKind::Bars { .. } => Self::Bars,
            TopicKind::Other => Self::Other,
        }
    }
}

/// One published message kept for replay.
#[derive(Debug)]
pub struct Entry {
    pub seq: u64,
    pub msg: ServerMessage,
    /// The msgpack frame every msgpack subscriber got.
    pub msgpack: Bytes,
}

/// Open, high, low and previous close of the current session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Session {
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub prev_close: f64,
}

/// `max_rate` pacing of one subscriber on one topic.
#[derive(Debug)]
pub struct RateGate {
    period: Duration,
    /// When the last delivery was (or is scheduled to be) written.
    slot: Option<Instant>,
}

impl RateGate {
    pub fn new(max_rate: u32) -> Self {
        Self {
            period: Duration::from_secs(1) / max_rate.max(1),
            slot: None,
        }
    }
}

/// A connection subscribed to a topic (once, however many of its patterns match).
#[derive(Debug)]
pub struct Sub {
    pub client: Arc<Client>,
    pub gate: Option<RateGate>,
}

impl Sub {
    pub fn new(client: Arc<Client>, max_rate: Option<u32>) -> Self {
        Self {
            client,
            gate: max_rate.map(RateGate::new),
        }
    }

    /// Changes the rate limit, keeping the pacing state when the rate is unchanged.
    pub fn set_rate(&mut self, max_rate: Option<u32>) {
        let same = match (&self.gate, max_rate) {
            (Some(g), Some(r)) => g.period == Duration::from_secs(1) / r.max(1),
            (None, None) => true,
            _ => false,
        };
        if !same {
            self.gate = max_rate.map(RateGate::new);
        }
    }

    /// Hands `frame` to the connection, honouring `max_rate` (newest wins).
    pub fn deliver(&mut self, topic: &Arc<str>, frame: Bytes, now: Instant) -> Pushed {
        let outbox = &self.client.outbox;
        let Some(gate) = self.gate.as_mut() else {
            return outbox.push_data(topic, frame, now);
        };
        match gate.slot {
            // A delivery is already scheduled in the future: replace it.
            Some(slot) if now < slot => Pushed::Conflated {
                replaced: outbox.push_delayed(topic, frame, slot),
            },
            // Too soon after the last delivery: schedule for the next slot.
            Some(slot) if now < slot + gate.period => {
                let due = slot + gate.period;
                gate.slot = Some(due);
                Pushed::Conflated {
                    replaced: outbox.push_delayed(topic, frame, due),
                }
            }
            _ => {
                gate.slot = Some(now);
                outbox.push_data(topic, frame, now)
            }
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
    pub ring: VecDeque<Arc<Entry>>,
    pub last: Option<Arc<Entry>>,
    pub session: Option<Session>,
    pub market: MarketState,
    pub subs: Vec<Sub>,
    pub bars: Option<Bars>,
    /// Reference price for `prev_close` (e.g. the simulator's start price).
    pub reference: Option<f64>,
}

impl TopicState {
    pub fn update_session(&mut self, price: f64) {
        match &mut self.session {
            Some(s) => {
                s.high = s.high.max(price);
                s.low = s.low.min(price);
            }
            None => {
                let prev_close = self.reference.unwrap_or(price);
                self.session = Some(Session {
                    open: price,
                    high: price,
                    low: price,
                    prev_close,
                });
            }
        }
    }

    pub fn sub_mut(&mut self, client_id: u64) -> Option<&mut Sub> {
        self.subs.iter_mut().find(|s| s.client.id == client_id)
    }

    pub fn remove_sub(&mut self, client_id: u64) {
        self.subs.retain(|s| s.client.id != client_id);
    }
}

/// A topic: its name, kind and state.
#[derive(Debug)]
pub struct Topic {
    pub name: Arc<str>,
    pub kind: Kind,
    /// A std mutex: held for one publish or one subscribe of this topic, never across `.await`.
    state: Mutex<TopicState>,
}

impl Topic {
    pub fn new(name: &str, state: TopicState) -> Self {
        Self {
            name: Arc::from(name),
            kind: Kind::of(name),
            state: Mutex::new(state),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, TopicState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
