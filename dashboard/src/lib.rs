//! tickcast's terminal side: the WebSocket [`client`] shared by both binaries, and the
//! dashboard ([`dash`]) that `tickcast-dash` runs. `tickcast-sub` formats with [`sub`].
//!
//! The dashboard talks to a server only over WebSocket; it links the server crate only to
//! start an embedded one.

pub mod client;
pub mod dash;
pub mod sub;
