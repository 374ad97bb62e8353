//! `tickcast-server`: the broker and WebSocket server with an embedded market simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use std::io::Write as _;
use tickcast_server::{Config, SlowConsumer};
use tickcast_simulator::{Arrivals, Universe};
use tokio_util::sync::CancellationToken;

/// Live stock-ticker pub/sub over WebSocket (MessagePack frames, protocol v1).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on. Loopback by default; use 0.0.0.0:PORT to serve the network.
    #[arg(long, env = "TICKCAST_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seed of the embedded simulator (same seed, same market).
    #[arg(long, env = "TICKCAST_SEED", default_value_t = 1)]
    seed: u64,
    /// Aggregate ticks per second of the embedded simulator.
    #[arg(long, env = "TICKCAST_RATE", default_value_t = tickcast_simulator::Config::default().rate)]
    rate: f64,
    /// Trade arrivals: poisson (realistic) or constant (evenly spaced, for benchmarks).
    #[arg(long, env = "TICKCAST_ARRIVALS", value_enum, default_value_t = ArrivalsArg::Poisson)]
    arrivals: ArrivalsArg,
    /// Simulate N synthetic symbols instead of the default 50 US equities.
    #[arg(long, env = "TICKCAST_SYMBOLS", conflicts_with = "universe")]
    symbols: Option<usize>,
    /// Load the traded universe from a TOML or JSON file.
    #[arg(long, env = "TICKCAST_UNIVERSE")]
    universe: Option<PathBuf>,
    /// Random trading halts in the simulated market.
    #[arg(long, env = "TICKCAST_HALTS")]
    halts: bool,
    /// Serve only what publishers send: no embedded simulator.
    #[arg(long, env = "TICKCAST_NO_SIMULATOR")]
    no_simulator: bool,
    /// Messages kept per topic for `since` recovery.
    #[arg(long, env = "TICKCAST_HISTORY", default_value_t = 1024)]
    history: usize,
    /// Per-connection outbound queue bound in bytes.
    #[arg(long, env = "TICKCAST_QUEUE_BYTES", default_value_t = 256 * 1024)]
    queue_bytes: usize,
    /// What to do with a client that cannot keep up.
    #[arg(long, env = "TICKCAST_SLOW_CONSUMER", value_enum, default_value_t = SlowConsumerArg::Conflate)]
    slow_consumer: SlowConsumerArg,
    /// Concurrent WebSocket connections; more get HTTP 503.
    #[arg(long, env = "TICKCAST_MAX_CONNECTIONS", default_value_t = 100_000)]
    max_connections: usize,
    /// Largest inbound message in bytes; larger ones are closed with 1009.
    #[arg(long, env = "TICKCAST_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    max_message_bytes: usize,
    /// Subscription patterns per connection.
    #[arg(long, env = "TICKCAST_MAX_SUBSCRIPTIONS", default_value_t = 1000)]
    max_subscriptions: usize,
    /// Kernel send buffer per client socket in bytes (SO_SNDBUF); default: the OS's.
    #[arg(long, env = "TICKCAST_SOCKET_SEND_BUFFER")]
    socket_send_buffer: Option<usize>,
    /// Quiet milliseconds before a heartbeat; peers silent for 3x this are closed.
    #[arg(long, env = "TICKCAST_HEARTBEAT_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    heartbeat_ms: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SlowConsumerArg {
    Conflate,
    Disconnect,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ArrivalsArg {
    Poisson,
    Constant,
}

impl Cli {
    fn into_config(self) -> anyhow::Result<Config> {
        let simulator = if self.no_simulator {
            None
        } else {
            let universe = match (&self.universe, self.symbols) {
                (Some(path), _) => Universe::from_file(path)
                    .with_context(|| format!("loading universe {}", path.display()))?,
                (None, Some(n)) => Universe::synthetic(n),
                (None, None) => Universe::default_equities(),
            };
            let mut sim = tickcast_simulator::Config {
                seed: self.seed,
                rate: self.rate,
                universe,
                arrivals: match self.arrivals {
                    ArrivalsArg::Poisson => Arrivals::Poisson,
                    ArrivalsArg::Constant => Arrivals::Constant,
                },
                ..tickcast_simulator::Config::default()
            };
            if self.halts {
                sim.halts = tickcast_simulator::Halts::random();
            }
            Some(sim)
        };
        Ok(Config {
            listen: self.listen,
            simulator,
            history: self.history,
            queue_bytes: self.queue_bytes,
            slow_consumer: match self.slow_consumer {
                SlowConsumerArg::Conflate => SlowConsumer::Conflate,
                SlowConsumerArg::Disconnect => SlowConsumer::Disconnect,
            },
            max_connections: self.max_connections,
            max_message_bytes: self.max_message_bytes,
            max_subscriptions: self.max_subscriptions,
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            socket_send_buffer: self.socket_send_buffer,
            ..Config::default()
        })
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn wait_for_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
    token.cancel();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Cli::parse().into_config()?;
    let listen = config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    {
        // The first stdout line is for scripts: flush it before anything else happens.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on ws://{addr}/ws")?;
        stdout.flush()?;
    }
    tracing::info!(%addr, "web page at http://{addr}/");
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    tickcast_server::run(listener, config, shutdown)
        .await
        .context("server failed")?;
    Ok(())
}
