//! Integration tests: the real server on 127.0.0.1:0, real sockets, bounded in time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bad_input;
mod books;
mod cluster;
mod cluster_books;
mod contract;
mod durable;
mod history_http;
mod hostile;
mod http;
mod lifecycle;
mod park;
mod pubsub;
mod recovery;
mod rewind;
mod security;
mod slow;
mod support;
mod tls;
