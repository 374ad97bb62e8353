//! Server configuration: every knob of `tickcast-server`, with the CLI defaults.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use crate::retention::{BarHistory, Retention};

/// What to do with a client whose outbound queue passes `queue_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// Keep only the newest message per topic, deliver those when the socket drains,
    /// and tell the client with a `lagged` frame. The default.
    #[default]
    Conflate,
    /// Close the connection with 1008.
    Disconnect,
}

/// Everything the server needs to run. `Default` matches the CLI defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where `spawn` binds. Default: [`Config::DEFAULT_LISTEN`] (loopback only).
    pub listen: SocketAddr,
    /// The embedded market simulator; `None` serves only what clients publish.
    pub simulator: Option<tickcast_simulator::Config>,
    /// Messages kept per trades topic (and per publisher's topic) for `since`, `rewind` and
    /// `GET /history`. Default: [`Config::DEFAULT_HISTORY`].
    pub history: usize,
    /// Bars kept per bar topic, per interval. Default: [`BarHistory::DEFAULT`].
    pub bar_history: BarHistory,
    /// Market time the embedded simulator has already traded when the server starts
    /// (ticks, bars and session statistics loaded before the first client connects);
    /// zero: none. Default: [`Config::DEFAULT_PREROLL`] (a trading day).
    pub preroll: Duration,
    /// Per-connection outbound queue bound in bytes. Default: [`Config::DEFAULT_QUEUE_BYTES`].
    pub queue_bytes: usize,
    /// Slow-consumer policy. Default: [`Config::DEFAULT_SLOW_CONSUMER`].
    pub slow_consumer: SlowConsumer,
    /// Concurrent WebSocket connections. Default: [`Config::DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Largest inbound message (after reassembly). Default: [`Config::DEFAULT_MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
    /// Subscription patterns per connection. Default: [`Config::DEFAULT_MAX_SUBSCRIPTIONS`].
    pub max_subscriptions: usize,
    /// Resume positions (`resume`, `since`) one connection may hand over ahead of its
    /// subscribes. Default: [`Config::DEFAULT_MAX_RESUME_POSITIONS`].
    pub max_resume_positions: usize,
    /// Quiet time before a `heartbeat` frame; peers silent for 3x this are closed.
    /// Default: [`Config::DEFAULT_HEARTBEAT`].
    pub heartbeat: Duration,
    /// Kernel send buffer per client socket (SO_SNDBUF); `None` keeps the OS default
    /// (autotuned, up to several MiB per socket). A small buffer keeps a slow consumer's
    /// backlog in the outbox, where it is conflated to the newest message per topic,
    /// instead of megabytes of stale ticks in the kernel that the server keeps writing;
    /// it also caps kernel memory per connection. 64 KiB carries ~5,000 ticks/s to one
    /// client over a 100 ms round trip. Default: [`Config::DEFAULT_SOCKET_SEND_BUFFER_BYTES`].
    pub socket_send_buffer: Option<usize>,
    /// Time a client gets to send its HTTP request headers (slowloris guard).
    /// Default: [`Config::DEFAULT_HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
    /// Connections with this token may publish. `None`: publishing is off. Default: `None`.
    pub publish_token: Option<String>,
    /// When set, connecting requires this token (or the publish token, or a signed token).
    /// Default: `None` (anyone may subscribe).
    pub subscribe_token: Option<String>,
    /// HMAC secret of signed tokens (HS256 JWT with `exp`, optional `topics` and `publish`).
    /// When set, connecting requires a token. Default: `None`.
    pub jwt_secret: Option<String>,
    /// Origins (e.g. `https://app.example`) whose pages may open WebSockets, besides the
    /// server's own origin; `*` allows any. Default: none (same origin only).
    pub allowed_origins: Vec<String>,
    /// Serve `wss://` and `https://` with this certificate. Default: `None` (plain TCP).
    pub tls: Option<TlsFiles>,
    /// Concurrent WebSocket connections from one IP address.
    /// Default: [`Config::DEFAULT_MAX_CONNECTIONS_PER_IP`].
    pub max_connections_per_ip: usize,
    /// Inbound messages (and pings) per second per connection, with a burst of twice
    /// that; excess gets `rate_limited`, persistent excess close 1008.
    /// Default: [`Config::DEFAULT_MAX_INBOUND_RATE`].
    pub max_inbound_rate: u32,
    /// Cluster mode: a NATS server (`nats://HOST:PORT`) through which this node shares
    /// its topics with the other nodes. `None`: standalone, the in-process broker only.
    /// Default: `None`.
    pub nats: Option<String>,
    /// With a NATS that has JetStream: on how many NATS servers the stream that keeps the
    /// history is replicated, when this node creates it. Default:
    /// [`Config::DEFAULT_STREAM_REPLICAS`].
    pub stream_replicas: usize,
    /// Test-only: `/ws` echoes every message back instead of speaking the protocol
    /// (for Autobahn|Testsuite against the real connection code). Default: false.
    #[doc(hidden)]
    pub echo: bool,
    /// How long shutdown waits for clients to take their close frame.
    /// Default: [`Config::DEFAULT_SHUTDOWN_GRACE`].
    pub shutdown_grace: Duration,
    /// Bind the listener with SO_REUSEPORT, so that several server processes (e.g. cluster
    /// nodes on one host, each under its own open-files limit) share one port and the
    /// kernel spreads connections over them. Default: false.
    pub reuse_port: bool,
}

/// The defaults of `tickcast-server`'s flags, written once: `Config::default()` and the
/// CLI's `default_value_t` both use them.
impl Config {
    /// 127.0.0.1:8080: loopback only.
    pub const DEFAULT_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
    pub const DEFAULT_HISTORY: usize = 1024;
    pub const DEFAULT_STREAM_REPLICAS: usize = 1;
    pub const DEFAULT_PREROLL: Duration = tickcast_simulator::Preroll::DEFAULT;
    pub const DEFAULT_QUEUE_BYTES: usize = 256 * 1024;
    pub const DEFAULT_SLOW_CONSUMER: SlowConsumer = SlowConsumer::Conflate;
    pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024;
    pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1000;
    /// A full equity universe with its bar topics, at some 100 bytes each: 2 MB a connection.
    pub const DEFAULT_MAX_RESUME_POSITIONS: usize = 20_000;
    pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);
    pub const DEFAULT_SOCKET_SEND_BUFFER_BYTES: usize = 64 * 1024;
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
    pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 10_000;
    /// Inbound messages per second per connection.
    pub const DEFAULT_MAX_INBOUND_RATE: u32 = 100;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: Self::DEFAULT_LISTEN,
            simulator: Some(tickcast_simulator::Config {
                books: true,
                ..tickcast_simulator::Config::default()
            }),
            history: Self::DEFAULT_HISTORY,
            bar_history: BarHistory::DEFAULT,
            preroll: Self::DEFAULT_PREROLL,
            queue_bytes: Self::DEFAULT_QUEUE_BYTES,
            slow_consumer: Self::DEFAULT_SLOW_CONSUMER,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            max_subscriptions: Self::DEFAULT_MAX_SUBSCRIPTIONS,
            max_resume_positions: Self::DEFAULT_MAX_RESUME_POSITIONS,
            heartbeat: Self::DEFAULT_HEARTBEAT,
            socket_send_buffer: Some(Self::DEFAULT_SOCKET_SEND_BUFFER_BYTES),
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
            echo: false,
            publish_token: None,
            subscribe_token: None,
            jwt_secret: None,
            allowed_origins: Vec::new(),
            tls: None,
            max_connections_per_ip: Self::DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_inbound_rate: Self::DEFAULT_MAX_INBOUND_RATE,
            nats: None,
            stream_replicas: Self::DEFAULT_STREAM_REPLICAS,
            reuse_port: false,
        }
    }
}

impl Config {
    /// The history bounds of every topic.
    pub fn retention(&self) -> Retention {
        Retention {
            messages: self.history,
            bars: self.bar_history,
        }
    }
}

/// PEM files of the server's TLS certificate chain and private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}
