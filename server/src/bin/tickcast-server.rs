//! `tickcast-server`: the broker and WebSocket server with an embedded market simulator.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use std::io::Write as _;
use tickcast_server::{BarHistory, Config, SlowConsumer, TlsFiles};
use tickcast_simulator::{Arrivals, Preroll, Universe};
use tokio_util::sync::CancellationToken;

/// Live stock-ticker pub/sub over WebSocket (MessagePack frames, protocol v1).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address to listen on. Loopback by default; use 0.0.0.0:PORT to serve the network.
    #[arg(long, env = "TICKCAST_LISTEN", default_value_t = Config::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Seed of the embedded simulator (same seed, same market).
    #[arg(long, env = "TICKCAST_SEED", default_value_t = tickcast_simulator::Config::DEFAULT_SEED)]
    seed: u64,
    /// Aggregate ticks per second of the embedded simulator.
    #[arg(long, env = "TICKCAST_RATE", default_value_t = tickcast_simulator::Config::DEFAULT_RATE)]
    rate: f64,
    /// Trade arrivals: poisson (realistic) or constant (evenly spaced, for benchmarks).
    #[arg(long, env = "TICKCAST_ARRIVALS", value_enum, default_value_t = Arrivals::default())]
    arrivals: Arrivals,
    /// Simulate N synthetic symbols instead of the default 50 US equities.
    #[arg(long, env = "TICKCAST_SYMBOLS", conflicts_with = "universe")]
    symbols: Option<usize>,
    /// Load the traded universe from a TOML or JSON file.
    #[arg(long, env = "TICKCAST_UNIVERSE")]
    universe: Option<PathBuf>,
    /// Random trading halts in the simulated market.
    #[arg(long, env = "TICKCAST_HALTS")]
    halts: bool,
    /// No order books (`book.SYM`) from the embedded simulator.
    #[arg(long, env = "TICKCAST_NO_BOOKS")]
    no_books: bool,
    /// Serve only what publishers send: no embedded simulator.
    #[arg(long, env = "TICKCAST_NO_SIMULATOR")]
    no_simulator: bool,
    /// Market time the embedded simulator has already traded at start (ticks, bars and
    /// session statistics, loaded before the first client): e.g. 6h30m, 90m; 0 = none.
    #[arg(long, env = "TICKCAST_PREROLL", default_value_t = Preroll::new(Config::DEFAULT_PREROLL))]
    preroll: Preroll,
    /// Messages kept per trades topic (and per publisher's topic) for `since`, `rewind`
    /// and GET /history.
    #[arg(long, env = "TICKCAST_HISTORY", default_value_t = Config::DEFAULT_HISTORY)]
    history: usize,
    /// Bars kept per bar topic, per interval (INTERVAL=COUNT,...; unnamed intervals keep
    /// their default).
    #[arg(long, env = "TICKCAST_BAR_HISTORY", default_value_t = BarHistory::DEFAULT)]
    bar_history: BarHistory,
    /// Per-connection outbound queue bound in bytes.
    #[arg(long, env = "TICKCAST_QUEUE_BYTES", default_value_t = Config::DEFAULT_QUEUE_BYTES)]
    queue_bytes: usize,
    /// What to do with a client that cannot keep up.
    #[arg(long, env = "TICKCAST_SLOW_CONSUMER", value_enum, default_value_t = SlowConsumerArg::from(Config::DEFAULT_SLOW_CONSUMER))]
    slow_consumer: SlowConsumerArg,
    /// Concurrent WebSocket connections; more get HTTP 503.
    #[arg(long, env = "TICKCAST_MAX_CONNECTIONS", default_value_t = Config::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Largest inbound message in bytes; larger ones are closed with 1009.
    #[arg(long, env = "TICKCAST_MAX_MESSAGE_BYTES", default_value_t = Config::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// Subscription patterns per connection.
    #[arg(long, env = "TICKCAST_MAX_SUBSCRIPTIONS", default_value_t = Config::DEFAULT_MAX_SUBSCRIPTIONS)]
    max_subscriptions: usize,
    /// Resume positions one connection may hand over (`resume`, `since`) ahead of its
    /// subscribes.
    #[arg(long, env = "TICKCAST_MAX_RESUME_POSITIONS", default_value_t = Config::DEFAULT_MAX_RESUME_POSITIONS)]
    max_resume_positions: usize,
    /// Connections presenting this token may publish (without it, publishing is off).
    #[arg(long, env = "TICKCAST_PUBLISH_TOKEN", hide_env_values = true)]
    publish_token: Option<String>,
    /// Read the publish token from a file (first line).
    #[arg(
        long,
        env = "TICKCAST_PUBLISH_TOKEN_FILE",
        conflicts_with = "publish_token"
    )]
    publish_token_file: Option<PathBuf>,
    /// Require this token to connect (Authorization: Bearer, or ?token=).
    #[arg(long, env = "TICKCAST_SUBSCRIBE_TOKEN", hide_env_values = true)]
    subscribe_token: Option<String>,
    /// Read the subscribe token from a file (first line).
    #[arg(
        long,
        env = "TICKCAST_SUBSCRIBE_TOKEN_FILE",
        conflicts_with = "subscribe_token"
    )]
    subscribe_token_file: Option<PathBuf>,
    /// Accept HS256-signed tokens (claims: exp, optional topics and publish) made with this
    /// secret; connecting then requires a token.
    #[arg(long, env = "TICKCAST_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// Read the token-signing secret from a file (first line).
    #[arg(long, env = "TICKCAST_JWT_SECRET_FILE", conflicts_with = "jwt_secret")]
    jwt_secret_file: Option<PathBuf>,
    /// Origins whose web pages may connect besides this server's own (repeatable; `*` = any).
    #[arg(
        long = "allowed-origin",
        env = "TICKCAST_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// PEM certificate chain: serve wss:// and https:// (needs --tls-key).
    #[arg(long, env = "TICKCAST_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TICKCAST_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Concurrent WebSocket connections from one IP address; more get HTTP 503.
    #[arg(
        long,
        env = "TICKCAST_MAX_CONNECTIONS_PER_IP",
        default_value_t = Config::DEFAULT_MAX_CONNECTIONS_PER_IP
    )]
    max_connections_per_ip: usize,
    /// Inbound messages per second per connection (bursts of 2x); 0 = unlimited.
    #[arg(long, env = "TICKCAST_MAX_INBOUND_RATE", default_value_t = Config::DEFAULT_MAX_INBOUND_RATE)]
    max_inbound_rate: u32,
    /// Kernel send buffer per client socket in bytes (SO_SNDBUF): small keeps a slow
    /// consumer's backlog where it is conflated; 0 = the OS's autotuned default.
    #[arg(long, env = "TICKCAST_SOCKET_SEND_BUFFER", default_value_t = Config::DEFAULT_SOCKET_SEND_BUFFER_BYTES)]
    socket_send_buffer: usize,
    /// Join a cluster through this NATS server (nats://HOST:PORT): topics entering here are
    /// published on NATS, and this node serves every topic of the cluster. Run the embedded
    /// simulator on one node only (the others with --no-simulator), or use tickcast-sim --nats.
    #[arg(long = "broker", env = "TICKCAST_BROKER", value_name = "URL")]
    nats: Option<String>,
    /// With --broker on a NATS with JetStream: replicas of the stream that keeps the
    /// cluster's history (on that many NATS servers), when this node creates it; 3 for a
    /// three-server NATS cluster.
    #[arg(long, env = "TICKCAST_STREAM_REPLICAS", requires = "nats",
          default_value_t = Config::DEFAULT_STREAM_REPLICAS)]
    stream_replicas: usize,
    /// Share the listening port with other tickcast-server processes (SO_REUSEPORT): the
    /// kernel spreads new connections over them. For several cluster nodes on one host.
    #[arg(long, env = "TICKCAST_REUSE_PORT")]
    reuse_port: bool,
    /// Runtime worker threads; 1 runs everything on one thread, which has the lowest
    /// latency when the server has one core. Default: the CPUs this process may use.
    #[arg(long, env = "TICKCAST_THREADS", value_parser = clap::value_parser!(u64).range(1..))]
    threads: Option<u64>,
    /// Quiet milliseconds before a heartbeat; peers silent for 3x this are closed.
    #[arg(long, env = "TICKCAST_HEARTBEAT_MS", default_value_t = whole_ms(Config::DEFAULT_HEARTBEAT), value_parser = clap::value_parser!(u64).range(10..))]
    heartbeat_ms: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SlowConsumerArg {
    Conflate,
    Disconnect,
}

impl From<SlowConsumer> for SlowConsumerArg {
    fn from(policy: SlowConsumer) -> Self {
        match policy {
            SlowConsumer::Conflate => Self::Conflate,
            SlowConsumer::Disconnect => Self::Disconnect,
        }
    }
}

impl From<SlowConsumerArg> for SlowConsumer {
    fn from(arg: SlowConsumerArg) -> Self {
        match arg {
            SlowConsumerArg::Conflate => Self::Conflate,
            SlowConsumerArg::Disconnect => Self::Disconnect,
        }
    }
}

/// `duration` in whole milliseconds, for a flag given in ms.
fn whole_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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
                arrivals: self.arrivals,
                books: !self.no_books,
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
            bar_history: self.bar_history,
            preroll: self.preroll.length,
            queue_bytes: self.queue_bytes,
            slow_consumer: self.slow_consumer.into(),
            max_connections: self.max_connections,
            max_message_bytes: self.max_message_bytes,
            max_subscriptions: self.max_subscriptions,
            max_resume_positions: self.max_resume_positions,
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            socket_send_buffer: (self.socket_send_buffer > 0).then_some(self.socket_send_buffer),
            publish_token: secret(self.publish_token, self.publish_token_file.as_deref())?,
            subscribe_token: secret(self.subscribe_token, self.subscribe_token_file.as_deref())?,
            jwt_secret: secret(self.jwt_secret, self.jwt_secret_file.as_deref())?,
            allowed_origins: self.allowed_origins,
            tls: match (self.tls_cert, self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                _ => None,
            },
            max_connections_per_ip: self.max_connections_per_ip,
            max_inbound_rate: self.max_inbound_rate,
            nats: self.nats,
            stream_replicas: self.stream_replicas,
            reuse_port: self.reuse_port,
            ..Config::default()
        })
    }
}

/// A secret given inline or as a file (its first line, trimmed).
fn secret(
    inline: Option<String>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<Option<String>> {
    let value = match file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .lines()
            .next()
            .map(|l| l.trim().to_owned()),
        None => inline,
    };
    match value {
        Some(v) if v.is_empty() => anyhow::bail!("a token must not be empty"),
        v => Ok(v),
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let threads = cli.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| usize::try_from(n).unwrap_or(1),
    );
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(cli))
}

async fn serve(cli: Cli) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // async-nats logs every event (one per dropped message) at info; ours summarize.
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = cli.into_config()?;
    tickcast_server::validate(&config).context("invalid configuration")?;
    let scheme = if config.tls.is_some() { "wss" } else { "ws" };
    // The error names the address.
    let listener = tickcast_server::bind(&config)?;
    let addr = listener.local_addr().context("reading the bound address")?;
    {
        // The first stdout line is for scripts: flush it before anything else happens.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {scheme}://{addr}/ws")?;
        stdout.flush()?;
    }
    let web = if scheme == "wss" { "https" } else { "http" };
    tracing::info!(%addr, "web page at {web}://{addr}/");
    let shutdown = CancellationToken::new();
    tokio::spawn(wait_for_signal(shutdown.clone()));
    tickcast_server::run(listener, config, shutdown)
        .await
        .context("server failed")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_defaults_are_config_default() {
        let cli = Cli::try_parse_from(["tickcast-server"]).expect("no flags parse");
        let from_cli = cli.into_config().expect("the defaults make a config");
        assert_eq!(format!("{from_cli:?}"), format!("{:?}", Config::default()));
    }
}
