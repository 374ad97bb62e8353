//! Reading `type`, `seq` and `ts` straight out of a MessagePack server message, without
//! decoding it: what a load generator or a gap detector needs per frame, at a few
//! nanoseconds and no allocation.
//!
//! It walks the top-level map once, skipping the values it does not want, and stops as
//! soon as it has all three (a `tick` puts them among its first four keys).

/// The routing fields of one MessagePack-encoded server message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Peeked<'a> {
    /// The `type` value (`"tick"`, `"snapshot"`, ...); empty when absent.
    pub kind: &'a str,
    /// The `seq` value, when present and a non-negative integer.
    pub seq: Option<u64>,
    /// The `ts` value, when present and a non-negative integer.
    pub ts: Option<u64>,
}

/// Deepest nesting [`peek_msgpack`] skips through (server messages nest two levels).
const MAX_DEPTH: u32 = 16;

/// Reads `type`, `seq` and `ts` from a MessagePack map. `None` when `payload` is not a
/// well-formed map up to the point where all three were found.
pub fn peek_msgpack(payload: &[u8]) -> Option<Peeked<'_>> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
    };
    let entries = r.map_len()?;
    let mut out = Peeked::default();
    let mut missing = 3;
    for _ in 0..entries {
        let key = r.str()?;
        let field = match key {
            b"type" => {
                out.kind = std::str::from_utf8(r.str()?).ok()?;
                true
            }
            b"seq" => {
                out.seq = r.uint();
                true
            }
            b"ts" => {
                out.ts = r.uint();
                true
            }
            _ => {
                r.skip(0)?;
                false
            }
        };
        if field {
            missing -= 1;
            if missing == 0 {
                break;
            }
        }
    }
    Some(out)
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    }

    fn map_len(&mut self) -> Option<u64> {
        match self.byte()? {
            b @ 0x80..=0x8f => Some(u64::from(b & 0x0f)),
            0xde => self.be(2),
            0xdf => self.be(4),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a [u8]> {
        let n = match self.byte()? {
            b @ 0xa0..=0xbf => u64::from(b & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return None,
        };
        self.take(usize::try_from(n).ok()?)
    }

    /// A non-negative integer; `None` (after consuming it) for anything else.
    fn uint(&mut self) -> Option<u64> {
        let start = self.pos;
        let value = match self.byte()? {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            0xd0 => self.be(1).filter(|v| *v < 0x80),
            0xd1 => self.be(2).filter(|v| *v < 0x8000),
            0xd2 => self.be(4).filter(|v| *v < 0x8000_0000),
            0xd3 => self.be(8).filter(|v| *v < 1 << 63),
            _ => None,
        };
        if value.is_none() {
            self.pos = start;
            self.skip(0)?;
        }
        value
    }

    /// Skips one value of any type.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (bytes, items) = match self.byte()? {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            b @ 0x80..=0x8f => (0, u64::from(b & 0x0f) * 2),
            b @ 0x90..=0x9f => (0, u64::from(b & 0x0f)),
            b @ 0xa0..=0xbf => (u64::from(b & 0x1f), 0),
            0xc4 | 0xd9 => (self.be(1)?, 0),
            0xc5 | 0xda => (self.be(2)?, 0),
            0xc6 | 0xdb => (self.be(4)?, 0),
            0xc7 => (self.be(1)? + 1, 0),
            0xc8 => (self.be(2)? + 1, 0),
            0xc9 => (self.be(4)? + 1, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xca | 0xce | 0xd2 => (4, 0),
            0xcb | 0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.be(2)?),
            0xdd => (0, self.be(4)?),
            0xde => (0, self.be(2)? * 2),
            0xdf => (0, self.be(4)? * 2),
            0xc1 => return None,
        };
        self.take(usize::try_from(bytes).ok()?)?;
        for _ in 0..items {
            self.skip(depth + 1)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ack, Encoding, Heartbeat, Op, ServerMessage, Tick, encode};

    #[test]
    fn finds_the_fields_of_a_tick() {
        let tick = ServerMessage::Tick(Tick {
            topic: "ticks.AAPL".into(),
            seq: 42,
            ts: 1_764_072_000_123_456_789,
            symbol: "AAPL".into(),
            price: 187.42,
            size: 300,
            bid: 187.41,
            ask: 187.43,
            volume: 12_345_600,
        });
        let bytes = encode(Encoding::MsgPack, &tick).unwrap();
        let p = peek_msgpack(&bytes).unwrap();
        assert_eq!(p.kind, "tick");
        assert_eq!(p.seq, Some(42));
        assert_eq!(p.ts, Some(1_764_072_000_123_456_789));
    }

    #[test]
    fn skips_nested_values_and_reports_absent_fields() {
        let ack = ServerMessage::Ack(Ack {
            id: None,
            op: Op::Subscribe,
            topics: vec!["ticks.*".into()],
            subscriptions: vec!["ticks.*".into(), "bars.>".into()],
        });
        let bytes = encode(Encoding::MsgPack, &ack).unwrap();
        let p = peek_msgpack(&bytes).unwrap();
        assert_eq!((p.kind, p.seq, p.ts), ("ack", None, None));

        let hb = encode(
            Encoding::MsgPack,
            &ServerMessage::Heartbeat(Heartbeat { ts: 7 }),
        )
        .unwrap();
        let p = peek_msgpack(&hb).unwrap();
        assert_eq!((p.kind, p.seq, p.ts), ("heartbeat", None, Some(7)));
    }

    #[test]
    fn rejects_what_is_not_a_map_and_never_reads_past_the_end() {
        assert_eq!(peek_msgpack(b""), None);
        assert_eq!(peek_msgpack(&[0x93, 1, 2, 3]), None);
        let tick = encode(Encoding::MsgPack, &ServerMessage::Tick(Tick::default())).unwrap();
        for cut in 0..tick.len() {
            // Any prefix either fails or stops early; it must not panic.
            let _ = peek_msgpack(&tick[..cut]);
        }
        // A signed 64-bit ts (as JavaScript encoders write BigInt) still reads.
        let mut js = vec![0x82, 0xa4];
        js.extend_from_slice(b"type");
        js.extend_from_slice(&[0xa4]);
        js.extend_from_slice(b"tick");
        js.extend_from_slice(&[0xa2, b't', b's', 0xd3, 0, 0, 0, 0, 0, 0, 1, 0]);
        let p = peek_msgpack(&js).unwrap();
        assert_eq!((p.kind, p.ts), ("tick", Some(256)));
    }
}
