//! Output formats of `tickcast-sub`: one JSON object per line, or a compact human line,
//! for messages (stdout) and for announced losses (stderr).

use tickcast_client::GapCause;
use tickcast_proto::{EncodeError, Encoding, MarketState, ServerMessage};

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

use crate::dash::ui::{clock_utc, human_count, price};

/// Whether `tickcast-sub` prints this message (data and problems; not acks or heartbeats
/// unless asked for).
pub fn is_data(msg: &ServerMessage) -> bool {
    matches!(
        msg,
        ServerMessage::Tick(_)
            | ServerMessage::Snapshot(_)
            | ServerMessage::Bar(_)
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
    fn acks_and_heartbeats_are_not_data() {
        assert!(is_data(&tick()));
        assert!(!is_data(&ServerMessage::Heartbeat(Default::default())));
    }
}
