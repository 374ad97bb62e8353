//! A local order book of one `book.SYM` topic ([`OrderBook`]): started from a `book`,
//! patched by each `book_update` whose `prev_seq` chains to it, kept to its depth, and
//! checked against the server's CRC-32 after every message ([`BookFault`] when it is not
//! right).

use tickcast_proto::{
    Book, BookUpdate,
    book::{self, Level},
};

/// Why a book can no longer be trusted: the client re-subscribes its topic for a fresh
/// `book` ([`crate::ClientEvent::BookResync`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookFault {
    /// An update's `prev_seq` is not the `seq` of the last message applied (`have`;
    /// `None`: no book yet): changes were lost in between.
    Chain { have: Option<u64>, prev_seq: u64 },
    /// The book's checksum after the message (`computed`) is not the message's
    /// `checksum` (`expected`).
    Checksum { expected: u32, computed: u32 },
}

impl std::fmt::Display for BookFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Chain {
                have: Some(have),
                prev_seq,
            } => write!(f, "update after seq {prev_seq}, but the book is at {have}"),
            Self::Chain {
                have: None,
                prev_seq,
            } => write!(f, "update after seq {prev_seq}, but no book yet"),
            Self::Checksum { expected, computed } => {
                write!(f, "checksum {computed} where the server has {expected}")
            }
        }
    }
}

/// Which side of the book: bids are best when highest, asks when lowest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Bids,
    Asks,
}

/// The book of one symbol to a subscription's depth, best level first on each side.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBook {
    topic: String,
    symbol: String,
    epoch: u64,
    seq: u64,
    ts: u64,
    tick_size: f64,
    depth: u32,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

impl OrderBook {
    /// The book a `book` message gives (its levels sorted best first and kept to its
    /// depth, whatever order they came in).
    pub fn from_book(msg: &Book) -> Self {
        let mut book = Self {
            topic: msg.topic.clone(),
            symbol: msg.symbol.clone(),
            epoch: msg.epoch,
            seq: msg.seq,
            ts: msg.ts,
            tick_size: msg.tick_size,
            depth: msg.depth,
            bids: Vec::with_capacity(msg.bids.len()),
            asks: Vec::with_capacity(msg.asks.len()),
        };
        book.apply_levels(Side::Bids, &msg.bids);
        book.apply_levels(Side::Asks, &msg.asks);
        book
    }

    /// Whether the book's checksum is `expected` (a `book`'s or an update's `checksum`).
    pub fn verify(&self, expected: u32) -> Result<(), BookFault> {
        let computed = self.checksum();
        if computed == expected {
            Ok(())
        } else {
            Err(BookFault::Checksum { expected, computed })
        }
    }

    /// Applies an update: it must chain to this book (`prev_seq` equal to [`Self::seq`];
    /// otherwise nothing changes), and the result must have the update's checksum. After
    /// a [`BookFault::Checksum`] the book is wrong: replace it with a fresh `book`.
    pub fn apply(&mut self, update: &BookUpdate) -> Result<(), BookFault> {
        if update.prev_seq != self.seq {
            return Err(BookFault::Chain {
                have: Some(self.seq),
                prev_seq: update.prev_seq,
            });
        }
        self.apply_levels(Side::Bids, &update.bids);
        self.apply_levels(Side::Asks, &update.asks);
        self.seq = update.seq;
        self.ts = update.ts;
        self.verify(update.checksum)
    }

    /// The protocol's CRC-32 of this book (PROTOCOL.md section 8, "Order books").
    pub fn checksum(&self) -> u32 {
        book::checksum(&self.bids, &self.asks, self.tick_size)
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The `seq` of the last change applied: the next update's `prev_seq`.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When the book last changed, ns since the UNIX epoch.
    pub fn ts(&self) -> u64 {
        self.ts
    }

    pub fn tick_size(&self) -> f64 {
        self.tick_size
    }

    /// Levels per side this book keeps (the subscription's depth).
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// `[price, size]`, highest price first.
    pub fn bids(&self) -> &[Level] {
        &self.bids
    }

    /// `[price, size]`, lowest price first.
    pub fn asks(&self) -> &[Level] {
        &self.asks
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids.first().copied()
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.first().copied()
    }

    /// Best ask minus best bid, when both sides have a level.
    pub fn spread(&self) -> Option<f64> {
        Some(self.best_ask()?.0 - self.best_bid()?.0)
    }

    /// The price on the tick grid, as an integer (how levels are told apart).
    fn ticks(&self, price: f64) -> i64 {
        let tick = if self.tick_size.is_finite() && self.tick_size > 0.0 {
            self.tick_size
        } else {
            // No usable grid (not from a real server): tell prices apart to 1e-9.
            1e-9
        };
        // `as` saturates (and makes NaN 0): no panic on odd input.
        (price / tick).round() as i64
    }

    /// Sets, adds (size > 0) or removes (size 0) each level, then keeps the best `depth`.
    fn apply_levels(&mut self, side: Side, changes: &[Level]) {
        for &(price, size) in changes {
            let key = self.ticks(price);
            // Position of the first level not better than `price`.
            let levels = match side {
                Side::Bids => &self.bids,
                Side::Asks => &self.asks,
            };
            let at = levels.partition_point(|&(p, _)| {
                let p = self.ticks(p);
                match side {
                    Side::Bids => p > key,
                    Side::Asks => p < key,
                }
            });
            let same = levels.get(at).is_some_and(|&(p, _)| self.ticks(p) == key);
            let levels = match side {
                Side::Bids => &mut self.bids,
                Side::Asks => &mut self.asks,
            };
            match (same, size) {
                (true, 0) => {
                    levels.remove(at);
                }
                (true, _) => levels[at] = (price, size),
                (false, 0) => {}
                (false, _) => levels.insert(at, (price, size)),
            }
        }
        let depth = usize::try_from(self.depth).unwrap_or(usize::MAX);
        match side {
            Side::Bids => self.bids.truncate(depth),
            Side::Asks => self.asks.truncate(depth),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The `book` of PROTOCOL.md section 7, at depth 5.
    pub(crate) fn doc_book() -> Book {
        Book {
            topic: "book.AAPL".into(),
            seq: 812,
            epoch: 1_764_072_000_123_456,
            ts: 1_764_072_000_123_456_789,
            symbol: "AAPL".into(),
            tick_size: 0.01,
            depth: 5,
            bids: vec![(187.22, 300), (187.21, 500), (187.2, 1200)],
            asks: vec![(187.24, 200), (187.25, 800)],
            checksum: 2_671_309_628,
            recovered: None,
        }
    }

    /// The `book_update` of PROTOCOL.md section 7, after [`doc_book`].
    pub(crate) fn doc_update() -> BookUpdate {
        BookUpdate {
            topic: "book.AAPL".into(),
            seq: 815,
            prev_seq: 812,
            ts: 1_764_072_000_223_456_789,
            symbol: "AAPL".into(),
            bids: vec![(187.22, 0), (187.19, 400)],
            asks: vec![(187.23, 100)],
            checksum: 922_130_848,
        }
    }

    #[test]
    fn the_documented_book_and_update_verify() {
        let mut book = OrderBook::from_book(&doc_book());
        assert_eq!(book.verify(doc_book().checksum), Ok(()));
        assert_eq!(book.apply(&doc_update()), Ok(()));
        assert_eq!(book.seq(), 815);
        assert_eq!(
            book.bids(),
            [(187.21, 500), (187.2, 1200), (187.19, 400)].as_slice()
        );
        assert_eq!(
            book.asks(),
            [(187.23, 100), (187.24, 200), (187.25, 800)].as_slice()
        );
        assert_eq!(book.best_bid(), Some((187.21, 500)));
        let spread = book.spread().unwrap_or_default();
        assert!((spread - 0.02).abs() < 1e-9, "{spread}");
    }

    #[test]
    fn a_broken_chain_changes_nothing() {
        let mut book = OrderBook::from_book(&doc_book());
        let update = BookUpdate {
            prev_seq: 813,
            ..doc_update()
        };
        assert_eq!(
            book.apply(&update),
            Err(BookFault::Chain {
                have: Some(812),
                prev_seq: 813
            })
        );
        assert_eq!(book, OrderBook::from_book(&doc_book()));
    }

    #[test]
    fn a_crafted_bad_checksum_is_a_fault() {
        let mut book = OrderBook::from_book(&doc_book());
        let update = BookUpdate {
            checksum: 1,
            ..doc_update()
        };
        assert_eq!(
            book.apply(&update),
            Err(BookFault::Checksum {
                expected: 1,
                computed: 922_130_848
            })
        );
        // The same update with a size the server never sent: the checksum catches it.
        let mut book = OrderBook::from_book(&doc_book());
        let mut update = doc_update();
        update.asks[0].1 = 101;
        assert!(matches!(
            book.apply(&update),
            Err(BookFault::Checksum { .. })
        ));
    }

    #[test]
    fn levels_stay_sorted_and_within_depth() {
        let mut msg = doc_book();
        msg.depth = 3;
        // Out of order, and more than the depth.
        msg.bids = vec![(10.0, 1), (10.02, 3), (10.01, 2), (9.99, 4)];
        msg.asks = vec![];
        let mut book = OrderBook::from_book(&msg);
        assert_eq!(book.bids(), [(10.02, 3), (10.01, 2), (10.0, 1)].as_slice());
        // A better level pushes the worst one out; removing one lets nothing in (the
        // server sends the level that enters).
        let update = |bids: Vec<Level>, asks: Vec<Level>, book: &OrderBook| {
            let mut next = book.clone();
            next.apply_levels(Side::Bids, &bids);
            next.apply_levels(Side::Asks, &asks);
            BookUpdate {
                topic: msg.topic.clone(),
                seq: book.seq() + 2,
                prev_seq: book.seq(),
                bids,
                asks,
                checksum: next.checksum(),
                ..BookUpdate::default()
            }
        };
        let u = update(vec![(10.03, 9)], vec![(10.05, 1), (10.04, 2)], &book);
        assert_eq!(book.apply(&u), Ok(()));
        assert_eq!(book.bids(), [(10.03, 9), (10.02, 3), (10.01, 2)].as_slice());
        assert_eq!(book.asks(), [(10.04, 2), (10.05, 1)].as_slice());
        // Prices that differ in the last bits of the f64 are one level on the grid.
        let u = update(vec![(10.020_000_000_000_001, 0)], vec![], &book);
        assert_eq!(book.apply(&u), Ok(()));
        assert_eq!(book.bids(), [(10.03, 9), (10.01, 2)].as_slice());
        // Removing a level that is not there changes nothing.
        let u = update(vec![(5.0, 0)], vec![], &book);
        assert_eq!(book.apply(&u), Ok(()));
        assert_eq!(book.bids().len(), 2);
    }

    #[test]
    fn odd_input_does_not_panic() {
        let msg = Book {
            tick_size: 0.0,
            depth: 0,
            bids: vec![(f64::NAN, 1), (f64::INFINITY, 2)],
            ..doc_book()
        };
        let book = OrderBook::from_book(&msg);
        assert!(book.bids().is_empty(), "depth 0 keeps nothing");
        let _ = book.checksum();
    }
}
