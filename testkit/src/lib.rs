//! Test support shared by the integration tests of tickcast's crates: a private CA with a
//! server certificate ([`Pki`]), a `nats-server` on a loopback port ([`NatsServer`]), raw
//! client WebSocket frames ([`client_frame`]) and the outside programs a test needs, found or
//! skipped loudly ([`require_tool`]).
//!
//! Test code only: a helper that cannot do its job panics, which fails the calling test.

mod client_frame;
mod nats;
mod pki;
mod tools;

pub use client_frame::client_frame;
pub use nats::{NatsCluster, NatsServer};
pub use pki::Pki;
pub use tools::{nats_server_bin, require_tool, tmux_bin};
