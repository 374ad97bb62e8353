//! Integration tests of tickcast-simulator (one test binary).

mod arrivals;
mod book;
mod cli;
mod halts;
mod invariants;
mod nats;
mod publish;
mod realtime;
mod replay;
mod reproducible;
mod stats;
mod support;
mod universe;
