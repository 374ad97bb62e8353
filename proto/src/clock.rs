//! The one reading of the wall clock that stamps messages (`ts`, epochs, token expiry).

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the UNIX epoch (0 if the clock is before 1970).
pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Microseconds since the UNIX epoch: the unit of epochs (exact in a JavaScript number).
pub fn unix_us() -> u64 {
    unix_ns() / 1_000
}
