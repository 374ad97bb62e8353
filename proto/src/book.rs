//! Order-book depth on `book.SYM`: the book to a subscriber's depth (`book`), the changes
//! after it (`book_update`), and the checksum any client can verify after each of them.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One price level, `[price, size]` on the wire; `size` 0 in an update removes the level.
pub type Level = (f64, u64);

/// Levels the checksum covers on each side.
pub const CHECKSUM_LEVELS: usize = 10;

/// Depths a subscriber may ask for (`subscribe` option `depth`).
pub const DEPTHS: [u32; 4] = [5, 10, 25, 50];

/// The depth of a subscription that names none.
pub const DEFAULT_DEPTH: u32 = 10;

/// The book of one symbol to a depth: `bids` best (highest) first, `asks` best (lowest)
/// first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Book {
    pub topic: String,
    /// The `seq` of the last change this book includes.
    pub seq: u64,
    pub epoch: u64,
    /// When the book was last changed, ns since the UNIX epoch.
    pub ts: u64,
    pub symbol: String,
    pub tick_size: f64,
    /// Levels per side this subscriber gets.
    pub depth: u32,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    /// [`checksum`] of this book.
    pub checksum: u32,
    /// `false` when this book replaces updates the subscriber missed (a resume that could not
    /// be replayed, or a slow reader): its local book must be replaced, not patched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
}

/// Changed levels of a book to the subscriber's depth, after the one of `prev_seq`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BookUpdate {
    pub topic: String,
    pub seq: u64,
    /// The `seq` of the book or update this one applies to: a client that has a different
    /// one has missed something.
    pub prev_seq: u64,
    pub ts: u64,
    pub symbol: String,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    /// [`checksum`] of the book after this update.
    pub checksum: u32,
}

/// The checksum of a book: CRC-32 (IEEE 802.3, as zlib's `crc32`) of the top
/// [`CHECKSUM_LEVELS`] asks from the best upward, `|`, then the top bids from the best
/// downward, each level `{price_ticks}:{size}` with `price_ticks = round(price /
/// tick_size)`, levels joined by `,`.
pub fn checksum(bids: &[Level], asks: &[Level], tick_size: f64) -> u32 {
    crc32fast::hash(checksum_text(bids, asks, tick_size).as_bytes())
}

/// The text [`checksum`] hashes.
pub fn checksum_text(bids: &[Level], asks: &[Level], tick_size: f64) -> String {
    let mut text = String::with_capacity(256);
    let side = |levels: &[Level], text: &mut String| {
        for (i, (price, size)) in levels.iter().take(CHECKSUM_LEVELS).enumerate() {
            if i > 0 {
                text.push(',');
            }
            let ticks = (price / tick_size).round() as i64;
            let _ = write!(text, "{ticks}:{size}");
        }
    };
    side(asks, &mut text);
    text.push('|');
    side(bids, &mut text);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_hashes_the_documented_text() {
        let bids = [(187.22, 300), (187.21, 500), (187.2, 1200)];
        let asks = [(187.24, 200), (187.25, 800)];
        let text = checksum_text(&bids, &asks, 0.01);
        assert_eq!(text, "18724:200,18725:800|18722:300,18721:500,18720:1200");
        assert_eq!(
            checksum(&bids, &asks, 0.01),
            crc32fast::hash(text.as_bytes())
        );
        assert_eq!(checksum_text(&[], &[], 0.01), "|");
    }

    #[test]
    fn only_the_top_ten_count() {
        let bids: Vec<Level> = (0..12)
            .map(|i| (100.0 - f64::from(i) * 0.01, 100))
            .collect();
        let mut more = bids.clone();
        more[11].1 = 999;
        assert_eq!(checksum(&bids, &[], 0.01), checksum(&more, &[], 0.01));
        more[9].1 = 999;
        assert_ne!(checksum(&bids, &[], 0.01), checksum(&more, &[], 0.01));
    }
}
