//! Loading a past that no client saw live: a pre-rolled market's trades, stamped exactly as
//! if they had been published (`seq`, session statistics, volume, bars), but encoded only
//! where a topic keeps them. Runs before the server takes clients.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tickcast_proto::bars::Closed;
use tickcast_proto::{BarInterval, ServerMessage, Status, Tick};

use super::Broker;
use super::publish::{next_seq, stamp_trade};
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

impl std::ops::AddAssign for PrerollStats {
    fn add_assign(&mut self, other: Self) {
        self.ticks += other.ticks;
        self.bars += other.bars;
        self.kept += other.kept;
    }
}

/// A message kept during a pre-roll, without the names every message of its topic shares
/// (they are put back for the few that are kept to the end): small and `Copy`, so the
/// hot loop moves a few words per trade and frees nothing it allocated long ago.
#[derive(Debug, Clone, Copy)]
enum Kept {
    Trade {
        seq: u64,
        ts: u64,
        price: f64,
        size: u64,
        bid: f64,
        ask: f64,
        volume: u64,
    },
    Bar {
        seq: u64,
        bar: Closed,
    },
}

/// One topic's newest messages during a pre-roll, at most `capacity`.
struct Pending {
    topic: Arc<Topic>,
    symbol: String,
    kept: VecDeque<Kept>,
    capacity: usize,
    /// A ticks topic's bar topics, by interval (indexes into the pending list).
    bar_topics: [Option<usize>; BarInterval::ALL.len()],
}

impl Pending {
    /// The kept message as it is published.
    fn message(&self, kept: Kept, epoch: u64) -> ServerMessage {
        match kept {
            Kept::Trade {
                seq,
                ts,
                price,
                size,
                bid,
                ask,
                volume,
            } => ServerMessage::Tick(Tick {
                topic: self.topic.name.to_string(),
                seq,
                ts,
                symbol: self.symbol.clone(),
                price,
                size,
                bid,
                ask,
                volume,
            }),
            Kept::Bar {
                seq,
                bar: (interval, acc),
            } => ServerMessage::Bar(acc.to_bar(interval, &self.symbol, epoch, seq)),
        }
    }
}

/// The topics a pre-roll touched, in the order it touched them.
#[derive(Default)]
struct Topics {
    pending: Vec<Pending>,
    by_name: HashMap<String, usize>,
}

impl Topics {
    fn index(&mut self, broker: &Broker, name: &str, symbol: &str, window: &Retention) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let capacity = window.capacity(name);
        self.pending.push(Pending {
            topic: broker.topic(name),
            symbol: symbol.to_owned(),
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
        interval: BarInterval,
        window: &Retention,
    ) -> usize {
        if let Some(i) = self.pending[ticks].bar_topics[interval.index()] {
            return i;
        }
        let symbol = self.pending[ticks].symbol.clone();
        let i = self.index(broker, &interval.topic(&symbol), &symbol, window);
        self.pending[ticks].bar_topics[interval.index()] = Some(i);
        i
    }

    fn keep(&mut self, i: usize, kept: Kept) {
        let p = &mut self.pending[i];
        if p.capacity == 0 {
            return;
        }
        if p.kept.len() == p.capacity {
            p.kept.pop_front();
        }
        p.kept.push_back(kept);
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
            let i = topics.index(self, &tick.topic, &tick.symbol, window);
            stamp_trade(&mut topics.pending[i].topic.lock(), &mut tick, &mut closed);
            stats.ticks += 1;
            for bar in closed.drain(..) {
                let b = topics.bar_topic(self, i, bar.0, window);
                let seq = next_seq(&mut topics.pending[b].topic.lock());
                stats.bars += 1;
                topics.keep(b, Kept::Bar { seq, bar });
            }
            let kept = Kept::Trade {
                seq: tick.seq,
                ts: tick.ts,
                price: tick.price,
                size: tick.size,
                bid: tick.bid,
                ask: tick.ask,
                volume: tick.volume,
            };
            topics.keep(i, kept);
        }
        let now_ns = crate::unix_ns();
        for pending in &topics.pending {
            let mut st = pending.topic.lock();
            let latest = st.seq;
            if let Some(Kept::Trade { ts, .. }) = pending.kept.back() {
                st.ts_lag_ns = now_ns.saturating_sub(*ts);
            }
            for &kept in &pending.kept {
                let msg = pending.message(kept, st.epoch);
                st.seq = match kept {
                    Kept::Trade { seq, .. } | Kept::Bar { seq, .. } => seq,
                };
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use tickcast_simulator::{Config, Event, Market, Preroll, Universe};

    use super::*;
    use crate::metrics::Metrics;
    use crate::retention::BarHistory;

    /// 2025-11-25T12:00:00Z.
    const NOW_NS: u64 = 1_764_072_000_000_000_000;

    const WINDOW: Retention = Retention {
        messages: 100,
        bars: BarHistory::DEFAULT,
    };

    /// A broker loaded with ten minutes of a two-symbol market, and the first live event.
    fn loaded(seed: u64) -> (Broker, Option<Event>) {
        let preroll = Preroll::new(Duration::from_secs(600));
        let mut market = Market::new(Config {
            seed,
            universe: Universe::synthetic(2),
            start_ns: preroll.start_ns(NOW_NS),
            ..Config::default()
        })
        .unwrap();
        let broker = Broker::new(WINDOW, 16, Arc::new(Metrics::default()));
        let mut past = Preroll::past(&mut market, NOW_NS);
        let stats = broker.preroll(
            past.by_ref().filter_map(|e| match e {
                Event::Tick(t) => Some(Past::Trade(t)),
                Event::Status(s) => Some(Past::Status(s)),
                Event::Book(_) => None,
            }),
            &WINDOW,
        );
        assert!(stats.ticks > 100_000, "{stats:?}");
        (broker, past.into_first_live())
    }

    /// Every topic's kept messages, with the broker's epoch (its start time) left out.
    fn history(broker: &Broker) -> Vec<(String, Vec<ServerMessage>)> {
        let mut topics: Vec<_> = broker
            .all_topics()
            .iter()
            .map(|t| {
                let messages = t
                    .lock()
                    .ring
                    .iter()
                    .map(|e| match e.msg().unwrap() {
                        ServerMessage::Bar(b) => {
                            ServerMessage::Bar(tickcast_proto::Bar { epoch: 0, ..b })
                        }
                        other => other,
                    })
                    .collect();
                (t.name.to_string(), messages)
            })
            .collect();
        topics.sort_by(|a, b| a.0.cmp(&b.0));
        topics
    }

    #[test]
    fn the_same_seed_gives_the_same_history() {
        let (a, _) = loaded(3);
        let (b, _) = loaded(3);
        let (c, _) = loaded(4);
        assert_eq!(history(&a), history(&b));
        assert_ne!(history(&a), history(&c));
    }

    #[test]
    fn topics_keep_their_window_stamped_as_if_published_live() {
        let (broker, first_live) = loaded(3);
        let topic = broker.find("ticks.SYN0000").unwrap();
        let st = topic.lock();
        assert_eq!(st.ring.len(), 100);
        assert_eq!(
            st.ring.back().map(|e| e.seq),
            Some(st.seq),
            "seq counts every trade"
        );
        assert!(
            st.ring
                .iter()
                .zip(st.ring.iter().skip(1))
                .all(|(a, b)| b.seq == a.seq + 1)
        );
        let session = st.session.unwrap();
        let last = match st.last.as_ref().unwrap() {
            ServerMessage::Tick(t) => t.clone(),
            other => panic!("{other:?}"),
        };
        assert!(session.low <= last.price && last.price <= session.high);
        assert!(session.high > session.low, "the session spans the pre-roll");
        drop(st);
        // Ten 1-minute bars, a minute apart, closed in the past.
        let bars = broker.find("bars.1m.SYN0000").unwrap();
        let bars = &bars.lock().ring;
        assert!(bars.len() >= 9, "{}", bars.len());
        // The first live trade continues the market: no jump from the last pre-rolled one.
        let Some(Event::Tick(live)) = first_live else {
            panic!("a live trade follows")
        };
        if live.symbol == last.symbol {
            assert!((live.price / last.price - 1.0).abs() < 0.01);
        }
        assert!(live.ts >= NOW_NS);
    }
}
