//! Command-line options of `tickcast-bench`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Load generator for tickcast (and any server that sends tickcast msgpack ticks):
/// opens N subscribers, measures delivered msgs/s, fairness, end-to-end latency from
/// each tick's `ts`, disconnects, and the server's RSS and CPU.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve WebSocket clients pre-framed ticks as fast as the sockets take them: measures
    /// how many msgs/s the bench itself can parse (its ceiling), not any server.
    Blast {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: SocketAddr,
        /// Tick frames per write.
        #[arg(long, default_value_t = 512)]
        frames_per_write: usize,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// WebSocket URL of the server: ws://HOST[:PORT]/PATH, or wss:// for TLS (rustls,
    /// a full handshake per connection; trusts Mozilla's roots and --ca-cert). Loopback is
    /// what the bench is for.
    #[arg(long, default_value = "ws://127.0.0.1:8080/ws")]
    pub url: String,
    /// For wss://: also trust the certificates in this PEM file (the server's self-signed
    /// certificate, or the CA that signed it). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub ca_cert: Vec<PathBuf>,
    /// For wss://: accept any server certificate, for any name (no verification; for
    /// throwaway benchmarking certificates when --ca-cert is not at hand).
    #[arg(long, conflicts_with = "ca_cert")]
    pub insecure: bool,
    /// What the server sends: tickcast's MessagePack messages, or the uWebSockets
    /// fan-out peer's frames (`../shared/peers/uws`: 96 bytes, the publish time in ns and
    /// the seq as little-endian u64s, every connection subscribed on connect).
    #[arg(long, value_enum, default_value_t = Wire::Tickcast)]
    pub wire: Wire,
    /// Subscribers to open.
    #[arg(short = 'c', long, default_value_t = 1000)]
    pub connections: usize,
    /// Pattern every client subscribes to. Gap and delivery figures assume one topic.
    #[arg(long, default_value = "ticks.*")]
    pub topic: String,
    /// Seconds of measurement, after the ramp and the warm-up.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of traffic before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds to wait after the last connection before sampling the server's idle RSS.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// New connections per second while ramping up.
    #[arg(long, default_value_t = 5000.0)]
    pub ramp: f64,
    /// Handshakes in flight at once (over all threads).
    #[arg(long, default_value_t = 256)]
    pub max_pending: usize,
    /// Give up on connections still not subscribed after this many seconds of ramp.
    #[arg(long, default_value_t = 120.0)]
    pub connect_timeout: f64,
    /// Loopback source addresses to spread connections over (127.0.0.1, 127.0.0.2, ...),
    /// each with its own ephemeral port range. 0: one per 8,000 connections.
    #[arg(long, default_value_t = 0)]
    pub source_ips: u8,
    /// The first source address is 127.0.0.N: several bench processes (each under its own
    /// open-files limit) use disjoint address ranges so their ephemeral ports never clash.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=254))]
    pub source_ip_first: u8,
    /// Threads, each a current-thread runtime with its share of the connections.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Ticks per second the server was asked to publish: the report then also says what
    /// share of that each reading client received. (`ts` is stamped when a tick is
    /// published, so a server that falls behind its schedule shows it here, not in the
    /// latency.)
    #[arg(long)]
    pub expect_rate: Option<f64>,
    /// Subscribe with `rewind: N`: each topic's latest N messages first. Those are not
    /// measured as live ticks; the report says how long the windows took to arrive.
    #[arg(long, default_value_t = 0)]
    pub rewind: u32,
    /// Fraction of clients that stop reading when the warm-up starts (slow consumers).
    /// They still send a pong every second, so heartbeats do not close them.
    #[arg(long, default_value_t = 0.0)]
    pub stop_reading_fraction: f64,
    /// SO_RCVBUF of the clients that stop reading (default: the OS's, autotuned).
    #[arg(long)]
    pub stalled_rcvbuf: Option<u32>,
    /// Write the JSON report here (`-` for stdout).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// A name for this run in the report.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Start the server under test: the program; its arguments follow `--`.
    #[arg(long)]
    pub spawn_server: Option<PathBuf>,
    /// CPUs to pin the spawned server to (taskset -c LIST), when taskset exists.
    #[arg(long)]
    pub server_cpus: Option<String>,
    /// Sample the RSS and CPU of this already running server; several pids (comma
    /// separated, e.g. the nodes of a cluster) are summed.
    #[arg(long, conflicts_with = "spawn_server", value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Arguments of the spawned server.
    #[arg(last = true)]
    pub server_args: Vec<String>,
}

/// The message format a run reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Wire {
    /// tickcast MessagePack (`subscribe` sent, `ack` awaited).
    Tickcast,
    /// The uWebSockets peer: nothing sent, subscribed once upgraded.
    Uws,
}
