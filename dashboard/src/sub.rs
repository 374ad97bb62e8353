//! Output formats of `tickcast-sub`: one JSON object per line, or a compact human line,
//! for messages (stdout) and for announced losses and books found wrong (stderr).

use tickcast_client::{BookFault, GapCause};
use tickcast_proto::{EncodeError, Encoding, MarketState, ServerMessage, book::Level};

/// Messages of a topic that this client lost, as `tickcast-sub` reports them on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap<'a> {
    pub topic: &'a str,
    pub epoch: u64,
    /// The first seq missed (`None`: unknown, the topic restarted at a new epoch).
    pub expected: Option<u64>,
    /// The seq the topic continued with.
    pub received: u64,
    pub cause: GapCause,
}

impl Gap<'_> {
    fn cause(&self) -> &'static str {
        match self.cause {
            GapCause::NotRecovered => "not_recovered",
            GapCause::NewEpoch => "new_epoch",
            GapCause::SeqJump => "seq_jump",
            GapCause::BookChain => "book_chain",
        }
    }

    /// `{"type":"gap","topic":"ticks.AAPL","epoch":E,"expected":155,"received":158,
    /// "missed":3,"cause":"not_recovered"}` (`expected` and `missed` null when unknown).
    pub fn json_line(&self) -> String {
        serde_json::json!({
            "type": "gap",
            "topic": self.topic,
            "epoch": self.epoch,
            "expected": self.expected,
            "received": self.received,
            "missed": self.expected.map(|e| self.received.saturating_sub(e)),
            "cause": self.cause(),
        })
        .to_string()
    }

    /// `gap on ticks.AAPL: seqs 155..158 missed (not_recovered)`.
    pub fn pretty_line(&self) -> String {
        match self.expected {
            Some(e) => format!(
                "gap on {}: seqs {e}..{} missed ({})",
                self.topic,
                self.received,
                self.cause()
            ),
            None => format!(
                "gap on {}: new epoch {} from seq {} ({})",
                self.topic,
                self.epoch,
                self.received,
                self.cause()
            ),
        }
    }
}

/// A book that failed verification (`--verify-books`), as `tickcast-sub` reports it on
/// stderr: the client dropped the message and re-subscribed the topic for a fresh `book`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookResync<'a> {
    pub topic: &'a str,
    /// The seq of the message that showed the book wrong.
    pub seq: u64,
    pub fault: BookFault,
}

impl BookResync<'_> {
    /// `{"type":"book_resync","topic":"book.AAPL","seq":815,"fault":"checksum",
    /// "expected":922130848,"computed":17}`, or with `"fault":"chain"`, `"prev_seq"` (what
    /// the update follows) and `"have"` (the seq of our book, null when none).
    pub fn json_line(&self) -> String {
        let mut line = serde_json::json!({
            "type": "book_resync",
            "topic": self.topic,
            "seq": self.seq,
        });
        let fields = match self.fault {
            BookFault::Checksum { expected, computed } => serde_json::json!({
                "fault": "checksum",
                "expected": expected,
                "computed": computed,
            }),
            BookFault::Chain { have, prev_seq } => serde_json::json!({
                "fault": "chain",
                "prev_seq": prev_seq,
                "have": have,
            }),
        };
        if let (Some(line), serde_json::Value::Object(fields)) = (line.as_object_mut(), fields) {
            line.extend(fields);
        }
        line.to_string()
    }

    /// `book.AAPL #815: checksum 17 where the server has 922130848; fresh book requested`.
    pub fn pretty_line(&self) -> String {
        format!(
            "{} #{}: {}; fresh book requested",
            self.topic, self.seq, self.fault
        )
    }
}

use crate::dash::ui::{clock_utc, human_count, price};

/// Whether `tickcast-sub` prints this message (data and problems; not acks or heartbeats
/// unless asked for).
pub fn is_data(msg: &ServerMessage) -> bool {
    matches!(
        msg,
        ServerMessage::Tick(_)
            | ServerMessage::Snapshot(_)
            | ServerMessage::Bar(_)
            | ServerMessage::Book(_)
            | ServerMessage::BookUpdate(_)
            | ServerMessage::Status(_)
            | ServerMessage::Lagged(_)
            | ServerMessage::Error(_)
            | ServerMessage::Shutdown(_)
    )
}

/// The message as the protocol's JSON encoding, on one line.
pub fn json_line(msg: &ServerMessage) -> Result<String, EncodeError> {
    let bytes = tickcast_proto::encode(Encoding::Json, msg)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn state(s: MarketState) -> &'static str {
    match s {
        MarketState::Open => "open",
        MarketState::Halted => "halted",
        MarketState::Closed => "closed",
        MarketState::Unknown => "unknown",
    }
}

/// A compact human line, e.g. `14:03:07 ticks.AAPL #812 187.23 x100 (187.22/187.24) vol 1.20M`.
pub fn pretty_line(msg: &ServerMessage) -> String {
    match msg {
        ServerMessage::Tick(t) => format!(
            "{} {} #{} {} x{} ({}/{}) vol {}",
            clock_utc(t.ts),
            t.topic,
            t.seq,
            price(t.price),
            t.size,
            price(t.bid),
            price(t.ask),
            human_count(t.volume)
        ),
        ServerMessage::Snapshot(s) => format!(
            "{} {} #{} snapshot {} ({}/{}) vol {} o {} h {} l {} prev {} {}{}",
            clock_utc(s.ts),
            s.topic,
            s.seq,
            price(s.price),
            price(s.bid),
            price(s.ask),
            human_count(s.volume),
            price(s.open),
            price(s.high),
            price(s.low),
            price(s.prev_close),
            state(s.state),
            match s.recovered {
                Some(false) => " (not recovered)",
                _ => "",
            }
        ),
        ServerMessage::Bar(b) => format!(
            "{} {} #{} o {} h {} l {} c {} vol {} trades {}",
            clock_utc(b.ts),
            b.topic,
            b.seq,
            price(b.open),
            price(b.high),
            price(b.low),
            price(b.close),
            human_count(b.volume),
            b.trades
        ),
        ServerMessage::Book(b) => format!(
            "{} {} #{} book depth {} bids {} asks {}{}",
            clock_utc(b.ts),
            b.topic,
            b.seq,
            b.depth,
            levels(&b.bids),
            levels(&b.asks),
            match b.recovered {
                Some(false) => " (not recovered)",
                _ => "",
            }
        ),
        ServerMessage::BookUpdate(u) => format!(
            "{} {} #{} after #{} bids {} asks {}",
            clock_utc(u.ts),
            u.topic,
            u.seq,
            u.prev_seq,
            levels(&u.bids),
            levels(&u.asks)
        ),
        ServerMessage::Status(s) => {
            format!("{} {} status {}", clock_utc(s.ts), s.topic, state(s.state))
        }
        ServerMessage::Lagged(l) => {
            format!(
                "lagged: {} updates dropped on {}",
                l.dropped,
                l.topics.join(",")
            )
        }
        ServerMessage::Error(e) => format!("error {}: {}", e.code.as_str(), e.message),
        ServerMessage::Shutdown(s) => format!(
            "shutdown: {} (reconnect after {} ms)",
            s.reason, s.reconnect_after_ms
        ),
        ServerMessage::Heartbeat(h) => format!("{} heartbeat", clock_utc(h.ts)),
        ServerMessage::Ack(a) => format!("ack {:?} {}", a.op, a.topics.join(",")),
        other => format!("{other:?}"),
    }
}

/// Levels as `187.22x300,187.21x500` (`-` when there are none).
fn levels(levels: &[Level]) -> String {
    if levels.is_empty() {
        return "-".to_owned();
    }
    levels
        .iter()
        .map(|&(p, s)| format!("{}x{s}", price(p)))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use tickcast_proto::{Bar, Tick};

    use super::*;

    fn tick() -> ServerMessage {
        ServerMessage::Tick(Tick {
            topic: "ticks.AAPL".into(),
            seq: 812,
            ts: 50_587_000_000_000,
            symbol: "AAPL".into(),
            price: 187.234,
            size: 100,
            bid: 187.22,
            ask: 187.24,
            volume: 1_200_000,
        })
    }

    #[test]
    fn gaps_are_one_json_line_with_their_size() {
        let gap = Gap {
            topic: "ticks.AAPL",
            epoch: 7,
            expected: Some(155),
            received: 158,
            cause: GapCause::NotRecovered,
        };
        assert_eq!(
            gap.json_line(),
            r#"{"cause":"not_recovered","epoch":7,"expected":155,"missed":3,"received":158,"topic":"ticks.AAPL","type":"gap"}"#
        );
        assert_eq!(
            gap.pretty_line(),
            "gap on ticks.AAPL: seqs 155..158 missed (not_recovered)"
        );
        let restarted = Gap {
            expected: None,
            received: 1,
            cause: GapCause::NewEpoch,
            ..gap
        };
        assert!(restarted.json_line().contains(r#""expected":null"#));
        assert!(restarted.json_line().contains(r#""missed":null"#));
    }

    #[test]
    fn json_lines_are_the_protocol_json() {
        let line = json_line(&tick()).unwrap();
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with(r#"{"type":"tick","topic":"ticks.AAPL","seq":812"#),
            "{line}"
        );
        let back = tickcast_proto::decode_server(Encoding::Json, line.as_bytes()).unwrap();
        assert_eq!(back, tick());
    }

    #[test]
    fn pretty_lines_are_compact() {
        assert_eq!(
            pretty_line(&tick()),
            "14:03:07 ticks.AAPL #812 187.23 x100 (187.22/187.24) vol 1.20M"
        );
        let bar = ServerMessage::Bar(Bar {
            topic: "bars.1m.AAPL".into(),
            seq: 3,
            ts: 50_580_000_000_000,
            interval_ms: 60_000,
            symbol: "AAPL".into(),
            open: 1.5,
            high: 2.0,
            low: 1.0,
            close: 1.75,
            volume: 900,
            trades: 12,
            ..Bar::default()
        });
        assert_eq!(
            pretty_line(&bar),
            "14:03:00 bars.1m.AAPL #3 o 1.50 h 2.00 l 1.00 c 1.75 vol 900 trades 12"
        );
    }

    #[test]
    fn book_messages_are_data_with_compact_lines() {
        let book = ServerMessage::Book(tickcast_proto::Book {
            topic: "book.AAPL".into(),
            seq: 812,
            ts: 50_587_000_000_000,
            symbol: "AAPL".into(),
            tick_size: 0.01,
            depth: 5,
            bids: vec![(187.22, 300), (187.21, 500)],
            asks: vec![(187.24, 200)],
            ..Default::default()
        });
        assert!(is_data(&book));
        assert_eq!(
            pretty_line(&book),
            "14:03:07 book.AAPL #812 book depth 5 bids 187.22x300,187.21x500 asks 187.24x200"
        );
        let update = ServerMessage::BookUpdate(tickcast_proto::BookUpdate {
            topic: "book.AAPL".into(),
            seq: 815,
            prev_seq: 812,
            ts: 50_587_000_000_000,
            asks: vec![(187.23, 100)],
            ..Default::default()
        });
        assert!(is_data(&update));
        assert_eq!(
            pretty_line(&update),
            "14:03:07 book.AAPL #815 after #812 bids - asks 187.23x100"
        );
        let line = json_line(&update).unwrap();
        assert!(
            line.starts_with(r#"{"type":"book_update","topic":"book.AAPL""#),
            "{line}"
        );
    }

    #[test]
    fn book_resyncs_are_one_json_line() {
        let mismatch = BookResync {
            topic: "book.AAPL",
            seq: 815,
            fault: BookFault::Checksum {
                expected: 922_130_848,
                computed: 17,
            },
        };
        assert_eq!(
            mismatch.json_line(),
            r#"{"computed":17,"expected":922130848,"fault":"checksum","seq":815,"topic":"book.AAPL","type":"book_resync"}"#
        );
        assert_eq!(
            mismatch.pretty_line(),
            "book.AAPL #815: checksum 17 where the server has 922130848; fresh book requested"
        );
        let chain = BookResync {
            fault: BookFault::Chain {
                have: None,
                prev_seq: 813,
            },
            ..mismatch
        };
        assert!(chain.json_line().contains(r#""fault":"chain","have":null"#));
    }

    #[test]
    fn acks_and_heartbeats_are_not_data() {
        assert!(is_data(&tick()));
        assert!(!is_data(&ServerMessage::Heartbeat(Default::default())));
    }
}
