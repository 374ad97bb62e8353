//! What enters the broker: messages it stamps itself (`seq`, `ts`, session statistics,
//! bars) and messages stamped elsewhere that it takes in unchanged (`ingest`).

use std::sync::atomic::Ordering::Relaxed;

use tickcast_proto::bars::Closed;
use tickcast_proto::nats::Envelope;
use tickcast_proto::{Bar, Encoding, ErrorCode, ServerMessage, Status, Tick};

use super::fanout::Frames;
use super::replay::{snapshot_of, state_of};
use super::topic::{Topic, TopicState};
use super::{Broker, Reject};
use crate::unix_ns;

impl Broker {
    /// Sets the previous close of `symbol` (used for change and % change).
    pub fn set_reference_price(&self, symbol: &str, price: f64) {
        self.registry()
            .reference_prices
            .insert(symbol.to_owned(), price);
        if let Some(t) = self.find(&format!("ticks.{symbol}")) {
            let mut st = t.lock();
            st.reference_price = Some(price);
            if let Some(s) = st.session.as_mut() {
                s.prev_close = price;
            }
        }
    }

    /// Publishes a trade: stamps `seq` (and `ts` when 0), updates session statistics and
    /// bars, and fans the tick out. Returns the assigned `seq`.
    pub fn publish_tick(&self, tick: Tick) -> u64 {
        self.publish_trade(tick, false).unwrap_or_default()
    }

    /// Publishes a trade whose `ts` a publisher chose (0: now). Refused (`bad_request`, and
    /// nothing changes) when that time is ahead of this server's clock or before the
    /// topic's latest trade: the bars built from it would be wrong.
    pub fn publish_stamped_tick(&self, tick: Tick) -> Result<u64, Reject> {
        self.publish_trade(tick, true)
    }

    fn publish_trade(&self, mut tick: Tick, check_ts: bool) -> Result<u64, Reject> {
        if check_ts && tick.ts > unix_ns() {
            return Err(Reject::new(
                ErrorCode::BadRequest,
                "`ts` is ahead of the server's clock",
            ));
        }
        let topic = self.topic(&tick.topic);
        let mut closed = Vec::new();
        let seq = {
            let mut st = topic.lock();
            if check_ts && tick.ts != 0 {
                if let Some(ServerMessage::Tick(last)) = &st.last {
                    if tick.ts < last.ts {
                        return Err(Reject::new(
                            ErrorCode::BadRequest,
                            format!(
                                "`ts` {} is before the topic's latest trade ({})",
                                tick.ts, last.ts
                            ),
                        ));
                    }
                }
            }
            let stamped_by_feed = tick.ts != 0;
            stamp_trade(&mut st, &mut tick, &mut closed);
            st.ts_lag_ns = if stamped_by_feed {
                unix_ns().saturating_sub(tick.ts)
            } else {
                0
            };
            self.fan_out_trade(&topic, &mut st, tick);
            st.seq
        };
        self.shared.metrics.ticks_published.fetch_add(1, Relaxed);
        if let Some(symbol) = &topic.ticks_symbol {
            self.publish_bars(symbol, closed);
        }
        Ok(seq)
    }

    /// Fans out a trade. A topic's first trade (of an epoch) reaches its early subscribers
    /// as a snapshot, so they learn the topic's epoch and session fields (`prev_close`)
    /// without asking again; this holds for every topic that carries trades, `ticks.SYM`
    /// or a publisher's own.
    fn fan_out_trade(&self, topic: &Topic, st: &mut TopicState, tick: Tick) {
        if st.last.is_none() {
            let snapshot = snapshot_of(&tick, st, None);
            self.fan_out_as(topic, st, ServerMessage::Tick(tick), Some(&snapshot));
        } else {
            self.fan_out(topic, st, ServerMessage::Tick(tick));
        }
    }

    /// Stamps and fans out the bars of `symbol` that just closed.
    fn publish_bars(&self, symbol: &str, closed: Vec<Closed>) {
        for (interval, acc) in closed {
            let topic = self.topic(&interval.topic(symbol));
            let mut st = topic.lock();
            let bar = stamp_bar(&mut st, (interval, acc), symbol);
            self.fan_out(&topic, &mut st, ServerMessage::Bar(bar));
        }
    }

    /// Closes and publishes every bar whose interval has ended (call a few times a second).
    pub fn close_due_bars(&self, now_ns: u64) {
        for topic in self.all_topics() {
            let Some(symbol) = &topic.ticks_symbol else {
                continue;
            };
            let mut closed = Vec::new();
            let mut st = topic.lock();
            // The feed's own clock: behind the wall clock by as much as its latest trade
            // was (a feed publishing its past), so its bars close when its time passes.
            let feed_now_ns = now_ns.saturating_sub(st.ts_lag_ns);
            if let Some(bars) = st.bars.as_mut() {
                bars.close_due(feed_now_ns, &mut closed);
            }
            drop(st);
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
        for subscriber in &st.subscribers {
            if let Some(f) = frames.get(subscriber.peer.outbox.encoding()) {
                subscriber.peer.outbox.push(f);
            }
        }
        self.shared.metrics.messages_published.fetch_add(1, Relaxed);
        if let (Some(upstream), Some(f)) = (&self.shared.upstream, frames.get(Encoding::MsgPack)) {
            upstream(Envelope {
                topic: topic.name.to_string(),
                epoch: st.epoch,
                prev_close: None,
                book_views: None,
                payload: crate::frame::payload(&f),
            });
        }
    }

    /// Takes in a message stamped elsewhere (`seq`, `ts` and `epoch` assigned where it
    /// entered the system, e.g. another node via NATS) and fans it out unchanged. A new
    /// epoch starts a new history of the topic; a `seq` not above the last is dropped as
    /// a duplicate; a jump (this node missed messages: NATS was down, or dropped them for
    /// a slow consumer) is announced to the subscribers, who get the topic's latest state
    /// with `recovered: false` in place of the message, and counted.
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
            st.restart(epoch);
        }
        if seq <= st.seq {
            return;
        }
        let hole = st.last.is_some() && seq > st.seq + 1;
        st.seq = seq;
        if hole {
            self.shared.metrics.ingest_holes.fetch_add(1, Relaxed);
        }
        if let ServerMessage::Tick(tick) = &msg {
            st.update_session(tick.price);
            st.volume = tick.volume;
        }
        if hole {
            let announcement = state_of(&msg, &st, Some(false));
            self.fan_out_as(&topic, &mut st, msg, Some(&announcement));
        } else {
            match msg {
                ServerMessage::Tick(tick) => self.fan_out_trade(&topic, &mut st, tick),
                msg => self.fan_out(&topic, &mut st, msg),
            }
        }
    }
}

/// Stamps a trade into its topic's state: the next `seq` (and `ts` when 0), the session
/// statistics, the running volume, and the bars it closes (into `closed`).
pub(super) fn stamp_trade(st: &mut TopicState, tick: &mut Tick, closed: &mut Vec<Closed>) {
    tick.seq = next_seq(st);
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
        bars.on_trade(tick.ts, tick.price, tick.size, closed);
    }
}

/// Stamps a closed bar of `symbol` as the next message of its topic.
pub(super) fn stamp_bar(st: &mut TopicState, (interval, acc): Closed, symbol: &str) -> Bar {
    let seq = next_seq(st);
    acc.to_bar(interval, symbol, st.epoch, seq)
}

/// The topic's next `seq`, taken.
pub(super) fn next_seq(st: &mut TopicState) -> u64 {
    st.seq += 1;
    st.seq
}
