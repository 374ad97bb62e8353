//! tickcast's terminal side: the dashboard ([`dash`]) that `tickcast-dash` runs, and the
//! output formats of `tickcast-sub` ([`sub`]). Both binaries connect with the
//! `tickcast-client` crate.
//!
//! The dashboard talks to a server only over WebSocket; it links the server crate only to
//! start an embedded one, and only with the `embedded-server` feature (on by default).

pub mod dash;
pub mod sub;
