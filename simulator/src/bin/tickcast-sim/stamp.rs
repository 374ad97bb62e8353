//! What `--nats` plays of a server's ingress broker, without I/O: stamping the model's
//! events (`ts`, the run's epoch, the reference price), building bars once for the whole
//! cluster, numbering book changes and sending each book whole now and then (as a server's
//! ingress does: `tickcast_proto::book_state`), and wrapping every message in its NATS
//! [`Envelope`].

use std::collections::HashMap;

use tickcast_proto::ServerMessage;
use tickcast_proto::bars::{Bars, Closed};
use tickcast_proto::book_state::{BookDelta, BookState};
use tickcast_proto::nats::{Envelope, ViewSeqs};
use tickcast_simulator::Event;

/// Which kind of message an envelope carries (for the run's summary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Tick,
    Bar,
    Status,
    Book,
}

/// One message ready for NATS.
#[derive(Debug)]
pub struct Stamped {
    pub kind: MessageKind,
    pub envelope: Envelope,
}

/// Stamps events and builds bars for one run.
#[derive(Debug)]
pub struct Stamper {
    /// This run's epoch (its start time in µs): the epoch of every topic it feeds.
    epoch: u64,
    /// Reference prices by symbol, sent with their ticks.
    references: HashMap<String, f64>,
    /// Open bars by symbol.
    bars: HashMap<String, Bars>,
    /// The last `seq` of each bars topic.
    bar_seq: HashMap<String, u64>,
    /// Each book topic's book and the `seq` of its last change.
    books: HashMap<String, (BookState, u64)>,
}

impl Stamper {
    pub fn new(epoch: u64, references: HashMap<String, f64>) -> Self {
        Self {
            epoch,
            references,
            bars: HashMap::new(),
            bar_seq: HashMap::new(),
            books: HashMap::new(),
        }
    }

    /// This run's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The messages of one event, stamped at `now_ns`: a tick and the bars it closed, a
    /// status, or a book's change (and, first and every `WHOLE_EVERY_NS`, the whole book).
    /// A tick keeps the model's `seq` and `volume`.
    pub fn stamp(&mut self, event: Event, now_ns: u64, out: &mut Vec<Stamped>) {
        match event {
            Event::Tick(mut tick) => {
                tick.ts = now_ns;
                let mut closed = Vec::new();
                self.bars.entry(tick.symbol.clone()).or_default().on_trade(
                    tick.ts,
                    tick.price,
                    tick.size,
                    &mut closed,
                );
                let prev_close = self.references.get(&tick.symbol).copied();
                let symbol = tick.symbol.clone();
                self.push(
                    MessageKind::Tick,
                    &ServerMessage::Tick(tick),
                    prev_close,
                    out,
                );
                self.closed_bars(&symbol, closed, out);
            }
            Event::Status(mut status) => {
                status.ts = now_ns;
                self.push(
                    MessageKind::Status,
                    &ServerMessage::Status(status),
                    None,
                    out,
                );
            }
            Event::Book(change) => {
                let delta = BookDelta {
                    topic: change.topic,
                    symbol: change.symbol,
                    ts: now_ns,
                    tick_size: change.tick_size,
                    full: change.full,
                    bids: change.bids,
                    asks: change.asks,
                };
                self.book_change(&delta, out);
            }
        }
    }

    fn book_change(&mut self, delta: &BookDelta, out: &mut Vec<Stamped>) {
        let (book, seq) = self.books.entry(delta.topic.clone()).or_default();
        *seq += 1;
        book.apply(delta);
        book.updates(&delta.topic, *seq); // the views follow every change
        let change = ServerMessage::BookUpdate(book.change_update(delta, *seq));
        let whole = book
            .whole_due()
            .then(|| (book.whole(&delta.topic, self.epoch, *seq), book.view_seqs()));
        self.push(MessageKind::Book, &change, None, out);
        if let Some((whole, views)) = whole {
            self.push_whole(ServerMessage::Book(whole), views, out);
        }
    }

    fn push_whole(&self, whole: ServerMessage, views: ViewSeqs, out: &mut Vec<Stamped>) {
        let mut stamped = Vec::new();
        self.push(MessageKind::Book, &whole, None, &mut stamped);
        for mut msg in stamped {
            msg.envelope.book_views = Some(views);
            out.push(msg);
        }
    }

    /// Closes every bar whose interval has ended by `now_ns`.
    pub fn close_due(&mut self, now_ns: u64, out: &mut Vec<Stamped>) {
        let mut due = Vec::new();
        for (symbol, bars) in &mut self.bars {
            let mut closed = Vec::new();
            bars.close_due(now_ns, &mut closed);
            if !closed.is_empty() {
                due.push((symbol.clone(), closed));
            }
        }
        for (symbol, closed) in due {
            self.closed_bars(&symbol, closed, out);
        }
    }

    fn closed_bars(&mut self, symbol: &str, closed: Vec<Closed>, out: &mut Vec<Stamped>) {
        for (interval, acc) in closed {
            let seq = self.bar_seq.entry(interval.topic(symbol)).or_default();
            *seq += 1;
            let bar = acc.to_bar(interval, symbol, self.epoch, *seq);
            self.push(MessageKind::Bar, &ServerMessage::Bar(bar), None, out);
        }
    }

    fn push(
        &self,
        kind: MessageKind,
        msg: &ServerMessage,
        prev_close: Option<f64>,
        out: &mut Vec<Stamped>,
    ) {
        match Envelope::encode(msg, self.epoch, prev_close) {
            Ok(envelope) => out.push(Stamped { kind, envelope }),
            Err(e) => eprintln!(
                "tickcast-sim: cannot send a message on NATS: {:#}",
                anyhow::Error::new(e)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tickcast_proto::{Encoding, MarketState, Status, Tick, decode_server};

    const SECOND_NS: u64 = 1_000_000_000;

    fn tick(seq: u64, price: f64) -> Event {
        Event::Tick(Tick {
            topic: "ticks.AAPL".into(),
            seq,
            symbol: "AAPL".into(),
            price,
            size: 10,
            volume: seq * 10,
            ..Tick::default()
        })
    }

    fn decoded(stamped: &Stamped) -> ServerMessage {
        decode_server(Encoding::MsgPack, &stamped.envelope.payload).unwrap()
    }

    #[test]
    fn a_tick_keeps_the_models_seq_and_gets_the_clock_epoch_and_reference() {
        let mut stamper = Stamper::new(77, HashMap::from([("AAPL".to_owned(), 185.5)]));
        let mut out = Vec::new();
        stamper.stamp(tick(5, 187.0), 1_000 * SECOND_NS, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, MessageKind::Tick);
        let envelope = &out[0].envelope;
        assert_eq!(
            (envelope.topic.as_str(), envelope.epoch, envelope.prev_close),
            ("ticks.AAPL", 77, Some(185.5))
        );
        let ServerMessage::Tick(t) = decoded(&out[0]) else {
            panic!("a tick")
        };
        assert_eq!((t.seq, t.ts, t.volume), (5, 1_000 * SECOND_NS, 50));
    }

    #[test]
    fn bars_are_numbered_per_topic_and_closed_by_the_clock() {
        let mut stamper = Stamper::new(1, HashMap::new());
        let mut out = Vec::new();
        stamper.stamp(tick(1, 10.0), 1_000 * SECOND_NS, &mut out);
        // The next second's trade closes the first 1-second bar.
        stamper.stamp(tick(2, 11.0), 1_001 * SECOND_NS, &mut out);
        let bars: Vec<_> = out.iter().filter(|s| s.kind == MessageKind::Bar).collect();
        assert_eq!(bars.len(), 1);
        assert_eq!(bars[0].envelope.topic, "bars.1s.AAPL");
        assert_eq!(bars[0].envelope.prev_close, None);
        let ServerMessage::Bar(bar) = decoded(bars[0]) else {
            panic!("a bar")
        };
        assert_eq!((bar.seq, bar.open, bar.close), (1, 10.0, 10.0));

        out.clear();
        stamper.close_due(1_002 * SECOND_NS, &mut out);
        let ServerMessage::Bar(bar) = decoded(&out[0]) else {
            panic!("a bar")
        };
        assert_eq!(
            (bar.topic.as_str(), bar.seq, bar.close),
            ("bars.1s.AAPL", 2, 11.0)
        );
    }

    #[test]
    fn a_status_is_stamped_without_a_reference_price() {
        let mut stamper = Stamper::new(3, HashMap::from([("AAPL".to_owned(), 185.5)]));
        let mut out = Vec::new();
        let status = Status {
            topic: "ticks.AAPL".into(),
            state: MarketState::Halted,
            ts: 0,
        };
        stamper.stamp(Event::Status(status), 42, &mut out);
        assert_eq!(out[0].kind, MessageKind::Status);
        assert_eq!(out[0].envelope.prev_close, None);
        assert_eq!(
            decoded(&out[0]),
            ServerMessage::Status(Status {
                topic: "ticks.AAPL".into(),
                state: MarketState::Halted,
                ts: 42,
            })
        );
    }
}
