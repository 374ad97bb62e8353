//! Output formats of `tickcast-sub`: one JSON object per line, or a compact human line.

use tickcast_proto::{EncodeError, Encoding, MarketState, ServerMessage};

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
