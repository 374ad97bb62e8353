//! `tickcast-bench`: a load generator for WebSocket fan-out servers that speak
//! tickcast protocol v1 (MessagePack), and the reference servers it is compared with.
//!
//! It opens N subscribers (`ws://`, or `wss://` through rustls; ramped, spread over
//! loopback source addresses so N can pass the ephemeral port range), subscribes each
//! to one topic, and reports delivered msgs/s, per-connection fairness, end-to-end
//! latency from every tick's `ts` (HdrHistogram), disconnects, and the server's RSS and
//! CPU when it knows its pid.
//! Frames are parsed in place from a per-thread read buffer, so the client stays far
//! from being the bottleneck (`blast` measures its ceiling). `BENCHMARKS.md` at the
//! repository root has the method and the figures.

mod blast;
mod cli;
mod conn;
mod process;
mod report;
mod run;
mod stats;
mod stream;
mod tls;
mod url;
mod ws;

pub use blast::run as blast;
pub use cli::{Cli, Command, RunArgs};
pub use report::Report;
pub use report::table;
pub use run::run;
