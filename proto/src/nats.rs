//! How tickcast messages travel on NATS between cluster members (no I/O here: names only).
//!
//! The subject is the topic (`ticks.AAPL`, `bars.1s.AAPL`), the payload is the message's
//! MessagePack map exactly as clients get it ([`crate::encode`] with
//! [`crate::Encoding::MsgPack`]), and two headers carry what the map does not: the
//! topic's epoch and, on ticks, the reference price. `seq`, `ts` and the epoch are
//! assigned once where a message enters the cluster, so every node delivers the same
//! bytes for it.

/// The topic's epoch (decimal `u64`): a new value starts a new history of the topic.
pub const EPOCH_HEADER: &str = "Tickcast-Epoch";

/// On ticks: the symbol's reference price (previous close), a decimal `f64`, so every
/// node's snapshots carry the same `prev_close`. Absent when the source has none.
pub const PREV_CLOSE_HEADER: &str = "Tickcast-Prev-Close";
