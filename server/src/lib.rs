//! The tickcast server: a topic broker and a WebSocket fan-out on hyper + fastwebsockets.
//!
//! [`run`] serves a listener the caller bound (tests bind `127.0.0.1:0`) until a
//! cancellation token fires; [`spawn`] does the binding and returns a [`Handle`], which
//! is how the dashboard embeds a server. Each message is encoded and framed once per
//! encoding and the same `Bytes` goes to every subscriber's outbox; each connection's
//! writer drains its outbox with one vectored write per wakeup.

mod assets;
mod auth;
#[doc(hidden)]
pub mod bench_api;
mod broker;
mod cluster;
mod config;
mod connection;
mod feed;
mod frame;
mod http;
mod keepalive;
mod metrics;
mod outbox;
mod retention;
mod tls;
mod wsread;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use broker::{BookDelta, Broker, TopicInfo};
pub use cluster::ClusterError;
pub use config::{Config, SlowConsumer, TlsFiles};
pub use metrics::Metrics;
pub use retention::{BadBarHistory, BarHistory, Retention};
pub use tls::TlsError;

pub use tickcast_proto::clock::unix_ns;

/// Why the server could not run. (The cause is `source()`, not repeated in the message,
/// so that error chains print it once.)
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("the simulator's pre-roll failed: {0}")]
    Preroll(String),
    #[error("simulator configuration")]
    Simulator(#[from] tickcast_simulator::ConfigError),
    #[error("TLS")]
    Tls(#[from] TlsError),
    #[error("cluster")]
    Cluster(#[from] ClusterError),
    #[error("cannot bind {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct App {
    config: Config,
    /// Fans out to this node's clients and keeps the rings.
    broker: Broker,
    /// Where messages enter (embedded simulator, `publish`): stamps `seq`, `ts` and bars.
    /// The same broker when standalone; in a cluster, a broker whose upstream is the
    /// cluster (what enters here reaches `broker` on every node through it).
    ingress: Broker,
    /// Cluster mode (`config.nats`): the NATS link, whose state `/healthz` reports.
    cluster: Option<cluster::Cluster>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// The runtime a parked connection's task is started on when it wakes.
    runtime: tokio::runtime::Handle,
    next_connection_id: AtomicU64,
    started: Instant,
    auth: auth::Auth,
    /// Parked connections woken since the servicer last looked.
    woken: connection::Woken,
    /// Open WebSocket connections per client IP (`max_connections_per_ip`).
    per_ip: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// Serves `listener` until `shutdown` is cancelled; then stops accepting, sends every
/// client `shutdown` and close 1001, and returns once they are gone (bounded by
/// `config.shutdown_grace`).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    serve(listener, config, shutdown, watch::channel(false).0).await
}

/// [`run`], telling `ready` when the pre-roll is loaded and clients are accepted.
async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
    ready: watch::Sender<bool>,
) -> Result<(), ServerError> {
    let market = match config.simulator.clone() {
        Some(sim) => Some(tickcast_simulator::Market::new(
            tickcast_simulator::Config {
                start_ns: feed::start_ns(config.preroll),
                // Books start after the pre-roll (`feed::preroll`): a book is state.
                books: false,
                ..sim
            },
        )?),
        None => None,
    };
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let metrics = Arc::new(Metrics::default());
    let broker = Broker::new(
        config.retention(),
        config.max_subscriptions,
        metrics.clone(),
    );
    broker.set_max_resume_positions(config.max_resume_positions);
    let grace = config.shutdown_grace;
    let tracker = TaskTracker::new();
    let cluster = match &config.nats {
        Some(url) => Some(
            cluster::Cluster::start(
                url,
                broker.clone(),
                config.retention(),
                config.stream_replicas,
                config.max_subscriptions,
                shutdown.clone(),
                &tracker,
            )
            .await?,
        ),
        None => None,
    };
    let ingress = cluster.as_ref().map_or(&broker, |c| c.ingress()).clone();
    if let (Some(cluster), Some(market)) = (&cluster, &market) {
        tracing::warn!(
            "the embedded simulator feeds the cluster: run it on one node only \
             (the others with --no-simulator), or use `tickcast-sim --nats`"
        );
        for instrument in market.instruments() {
            cluster.set_reference_price(&instrument.symbol, instrument.price);
        }
    }
    let app = Arc::new(App {
        broker: broker.clone(),
        ingress,
        cluster,
        metrics,
        shutdown: shutdown.clone(),
        tracker,
        runtime: tokio::runtime::Handle::current(),
        next_connection_id: AtomicU64::new(1),
        started: Instant::now(),
        auth: auth::Auth::new(&config),
        woken: Default::default(),
        per_ip: Default::default(),
        config,
    });
    app.tracker.spawn(keepalive::sweep(app.clone()));
    app.tracker.spawn(connection::serve_woken(app.clone()));
    let ingress = app.ingress.clone();
    if let Some(market) = market {
        // The pre-roll is loaded before the first client is accepted.
        let (broker, window) = (ingress.clone(), app.config.retention());
        let books = app.config.simulator.as_ref().is_some_and(|s| s.books);
        let live =
            tokio::task::spawn_blocking(move || feed::preroll(&broker, market, &window, books))
                .await
                .map_err(|e| ServerError::Preroll(e.to_string()))?;
        app.tracker
            .spawn(feed::run(ingress.clone(), live, shutdown.clone()));
    }
    app.tracker
        .spawn(feed::bar_clock(ingress, shutdown.clone()));
    ready.send_replace(true);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    http::tune_socket(&stream, &app.config);
                    match &tls {
                        None => {
                            app.tracker.spawn(http::serve_conn(stream, peer, app.clone()));
                        }
                        Some(acceptor) => {
                            let (acceptor, app2) = (acceptor.clone(), app.clone());
                            app.tracker.spawn(async move {
                                let timeout = app2.config.handshake_timeout;
                                match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                                    Ok(Ok(tls)) => http::serve_conn(tls, peer, app2).await,
                                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    app.tracker.close();
    if tokio::time::timeout(grace + Duration::from_secs(1), app.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close within the shutdown grace period");
    }
    Ok(())
}

/// A server running in the background of the current runtime.
#[derive(Debug)]
pub struct Handle {
    addr: SocketAddr,
    tls: bool,
    shutdown: CancellationToken,
    ready: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Handle {
    /// Waits until the server accepts clients: the embedded simulator's pre-roll is loaded
    /// (connections made before wait for it). Returns at once when the server has stopped.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|&r| r).await;
    }

    /// The bound address (the real port when `listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://ADDR/ws`, or `wss://ADDR/ws` with TLS.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.addr)
    }

    /// Shuts the server down gracefully and waits for it.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        match self.task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "server task failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// Checks what can be checked before serving: the simulator settings and the TLS files.
pub fn validate(config: &Config) -> Result<(), ServerError> {
    if let Some(sim) = &config.simulator {
        tickcast_simulator::Market::new(sim.clone())?;
    }
    if let Some(files) = &config.tls {
        tls::acceptor(files)?;
    }
    if let Some(url) = &config.nats {
        cluster::validate_url(url)?;
    }
    Ok(())
}

/// Binds `config.listen` as [`spawn`] does (SO_REUSEADDR, and SO_REUSEPORT with
/// `config.reuse_port`), for callers of [`run`]. Needs a Tokio runtime.
pub fn bind(config: &Config) -> Result<TcpListener, ServerError> {
    listen_on(config.listen, config.reuse_port).map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })
}

fn listen_on(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        #[cfg(unix)]
        socket.set_reuseport(true)?;
        #[cfg(not(unix))]
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "SO_REUSEPORT needs a Unix system",
        ));
    }
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Binds `config.listen` and runs the server in a background task.
pub async fn spawn(config: Config) -> Result<Handle, ServerError> {
    let listener = bind(&config)?;
    let addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.listen,
        source,
    })?;
    // Fail here, not in the background, when the config is unusable.
    validate(&config)?;
    let tls = config.tls.is_some();
    let shutdown = CancellationToken::new();
    let (ready_tx, ready) = watch::channel(false);
    let task = tokio::spawn(serve(listener, config, shutdown.clone(), ready_tx));
    Ok(Handle {
        addr,
        tls,
        shutdown,
        ready,
        task,
    })
}
