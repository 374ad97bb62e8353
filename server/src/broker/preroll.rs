//! Loading a past that no client saw live: a pre-rolled market's trades, stamped exactly as
//! if they had been published (`seq`, session statistics, volume, bars), but encoded only
//! where a topic keeps them. Runs before the server takes clients.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tickcast_proto::bars::Closed;
use tickcast_proto::{BarInterval, ServerMessage, Status, Tick};

use super::Broker;
use super::publish::{stamp_bar, stamp_trade};
use super::topic::Topic;
use crate::retention::Retention;

/// What a pre-roll loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrerollStats {
    pub ticks: u64,
    pub bars: u64,
    /// Messages kept in the topics' histories (and forwarded upstream).
    pub kept: u64,
}

/// One topic's newest messages during a pre-roll, at most `capacity`.
struct Pending {
    topic: Arc<Topic>,
    kept: VecDeque<ServerMessage>,
    capacity: usize,
    /// A ticks topic's bar topics, by interval (indexes into the pending list).
    bar_topics: [Option<usize>; BarInterval::ALL.len()],
}

/// The topics a pre-roll touched, in the order it touched them.
#[derive(Default)]
struct Topics {
    pending: Vec<Pending>,
    by_name: HashMap<String, usize>,
}

impl Topics {
    fn index(&mut self, broker: &Broker, name: &str, window: &Retention) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let capacity = window.capacity(name);
        self.pending.push(Pending {
            topic: broker.topic(name),
            kept: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            bar_topics: [None; BarInterval::ALL.len()],
        });
        self.by_name.insert(name.to_owned(), self.pending.len() - 1);
        self.pending.len() - 1
    }

    fn bar_topic(
        &mut self,
        broker: &Broker,
        ticks: usize,
        (interval, _): &Closed,
        symbol: &str,
        window: &Retention,
    ) -> usize {
        if let Some(i) = self.pending[ticks].bar_topics[interval.index()] {
            return i;
        }
        let i = self.index(broker, &interval.topic(symbol), window);
        self.pending[ticks].bar_topics[interval.index()] = Some(i);
        i
    }

    fn keep(&mut self, i: usize, msg: ServerMessage) {
        let p = &mut self.pending[i];
        if p.capacity == 0 {
            return;
        }
        if p.kept.len() == p.capacity {
            p.kept.pop_front();
        }
        p.kept.push_back(msg);
    }
}

/// A trade or a status change of a pre-rolled market.
pub enum Past {
    Trade(Tick),
    Status(Status),
}

impl Broker {
    /// Loads `past` (in time order, each with its own `ts`) as if it had been published:
    /// every topic's state follows every message, and each topic's newest messages, as many
    /// as `window` says, are fanned out (kept in its ring, forwarded upstream). Meant for a
    /// start, before any client subscribes.
    pub fn preroll(
        &self,
        past: impl IntoIterator<Item = Past>,
        window: &Retention,
    ) -> PrerollStats {
        let mut topics = Topics::default();
        let mut stats = PrerollStats::default();
        let mut closed = Vec::new();
        for item in past {
            let mut tick = match item {
                Past::Trade(tick) => tick,
                Past::Status(status) => {
                    self.publish_status(status);
                    continue;
                }
            };
            let i = topics.index(self, &tick.topic, window);
            stamp_trade(&mut topics.pending[i].topic.lock(), &mut tick, &mut closed);
            stats.ticks += 1;
            for bar in closed.drain(..) {
                let b = topics.bar_topic(self, i, &bar, &tick.symbol, window);
                let bar = stamp_bar(&mut topics.pending[b].topic.lock(), bar, &tick.symbol);
                stats.bars += 1;
                topics.keep(b, ServerMessage::Bar(bar));
            }
            topics.keep(i, ServerMessage::Tick(tick));
        }
        for pending in topics.pending {
            let mut st = pending.topic.lock();
            let latest = st.seq;
            for msg in pending.kept {
                st.seq = seq_of(&msg);
                self.fan_out(&pending.topic, &mut st, msg);
                stats.kept += 1;
            }
            st.seq = latest;
        }
        self.shared
            .metrics
            .ticks_published
            .fetch_add(stats.ticks, Relaxed);
        stats
    }
}

fn seq_of(msg: &ServerMessage) -> u64 {
    match msg {
        ServerMessage::Tick(t) => t.seq,
        ServerMessage::Bar(b) => b.seq,
        _ => 0,
    }
}
