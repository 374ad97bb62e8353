//! One WebSocket connection's lifecycle: it greets the client, runs a reader and a
//! writer until either ends, parks while it is idle, and closes cleanly.
//!
//! A connection is a [`Conn`]: everything it owns, the socket included. While it has
//! work, one task runs its reader and writer as two futures joined by one `select!`. The
//! reader (`reader`, built on [`FrameReader`]) holds no buffer while the client is idle
//! and hands complete messages to `requests`. Everything the reader must send (pongs,
//! answers, close) goes through the outbox, so the writer (`writer`) is the only code
//! that touches the socket's write half. Heartbeats, pings, the idle timeout, token
//! expiry and the shutdown notice come from the server's one keepalive sweeper
//! (`crate::keepalive`) through the outbox too; the inbound token bucket is `rate_limit`.
//!
//! A quiet connection (`park`) ends its task and leaves only the `Conn` behind, waiting
//! on its socket and outbox with a waker of its own, the way uWebSockets keeps one small
//! struct per idle socket; the next client frame or outbox push starts a task for it
//! again.

mod park;
mod rate_limit;
mod reader;
mod requests;
mod stream;
mod writer;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use tickcast_proto::{Encoding, PROTOCOL_VERSION, ServerMessage, Welcome, close};
use tokio::time::timeout;

use crate::App;
use crate::auth::Grant;
use crate::broker::Peer;
use crate::http::ConnectionSlot;
use crate::outbox::Outbox;
use crate::unix_ns;
use crate::wsread::FrameReader;
use park::Den;
pub(crate) use park::{Woken, serve_woken};
use reader::ReadState;
pub(crate) use stream::{Duplex, Halves};
use writer::WriteEnd;

/// How long a closing connection waits for the peer's close frame or for the writer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why the reader stopped.
enum ReadEnd {
    /// The peer closed (close frame or EOF) or the socket failed.
    Peer,
    /// The reader asked the writer to close with a code.
    Closing,
}

/// How a turn of a connection's task ended.
enum Turn {
    /// The connection is over; `drain`: swallow what the peer still sends after our close.
    Over { drain: bool },
    /// Nothing to do: park it.
    Quiet,
}

/// One connection: everything it owns, kept by its task or, while parked, by its [`Den`].
pub(crate) struct Conn<S> {
    stream: S,
    frames: FrameReader,
    reading: ReadState,
    peer: Arc<Peer>,
    app: Arc<App>,
    /// Shared: every anonymous connection holds the same one.
    grant: Arc<Grant>,
    /// Its place under the connection limits, given back when the connection is dropped.
    _slot: ConnectionSlot,
}

/// What the HTTP layer settled for an upgraded connection.
pub(crate) struct Accepted {
    pub app: Arc<App>,
    pub encoding: Encoding,
    pub remote: SocketAddr,
    pub grant: Grant,
    /// Its place under the connection limits, held for the connection's life.
    pub slot: ConnectionSlot,
}

/// Serves one upgraded connection until it closes; `early`: bytes the client sent right
/// behind its upgrade request.
pub(crate) async fn serve<S: Duplex>(stream: S, early: Bytes, accepted: Accepted) {
    let Accepted {
        app,
        encoding,
        remote,
        grant,
        slot,
    } = accepted;
    let config = &app.config;
    let id = app.next_connection_id.fetch_add(1, Relaxed);
    let peer = Arc::new(Peer::new(
        id,
        Outbox::new(encoding, config.queue_bytes, config.slow_consumer),
    ));
    if let Some(exp_ns) = grant.expires_at_ns {
        peer.liveness.expire_at(exp_ns);
    }
    // Later lines name the connection by `id` alone: an address per connection is 32
    // bytes it would keep for them.
    tracing::debug!(%remote, id, encoding = encoding.subprotocol(), "connected");
    if !config.echo {
        peer.push_message(&welcome(&app));
    }
    let den = Den::new();
    if !app.broker.connect(&peer) {
        crate::keepalive::announce_shutdown(&peer);
    }
    let conn = Conn {
        stream,
        frames: FrameReader::new(config.max_message_bytes, &early),
        reading: ReadState::new(&app, &grant),
        peer,
        app: app.clone(),
        grant: shared_grant(grant),
        _slot: slot,
    };
    // Copied into the reader: the `Bytes` would keep hyper's whole read buffer alive.
    drop(early);
    run(conn, den).await;
}

/// Runs `conn` until it closes or parks in `den`.
async fn run<S: Duplex>(mut conn: Conn<S>, den: Arc<Den<S>>) {
    loop {
        match conn.turn().await {
            Turn::Over { drain } => return conn.finish(drain).await,
            Turn::Quiet => match den.park(conn) {
                Some(awake) => conn = awake,
                None => return,
            },
        }
    }
}

impl<S: Duplex> Conn<S> {
    /// Reads and writes until the connection is over or quiet.
    async fn turn(&mut self) -> Turn {
        let Self {
            stream,
            frames,
            reading,
            peer,
            app,
            grant,
            ..
        } = self;
        let (mut read, mut write) = stream.halves();
        let reader = reader::read_loop(&mut read, frames, reading, peer, app, grant);
        let writer = writer::write_loop(&mut write, peer, app);
        tokio::pin!(reader, writer);
        tokio::select! {
            // The reader first: bytes that woke a parked connection are read before the
            // writer can find it quiet again.
            biased;
            end = &mut reader => {
                if let ReadEnd::Peer = end {
                    peer.outbox.close(close::NORMAL, "");
                }
                let _ = Box::pin(timeout(CLOSE_GRACE, &mut writer)).await;
                Turn::Over { drain: matches!(end, ReadEnd::Closing) }
            }
            result = &mut writer => {
                match result {
                    Ok(WriteEnd::Quiet) => return Turn::Quiet,
                    Ok(WriteEnd::Closed) => {}
                    Err(e) => {
                        tracing::debug!(id = peer.id, error = %e, "write side ended");
                    }
                }
                // Let the peer's close frame arrive so it sees a clean close, not a reset.
                let _ = Box::pin(timeout(CLOSE_GRACE, &mut reader)).await;
                Turn::Over { drain: false }
            }
        }
    }

    /// Whether it can be parked now: no message or frame half read. If not, it stays
    /// awake until the next keepalive finds it quiet again.
    fn settle(&mut self) -> bool {
        let idle = self.reading.is_idle() && self.frames.settle();
        if !idle {
            self.peer.outbox.stir();
        }
        idle
    }

    /// Closes down a connection that is over.
    async fn finish(mut self, drain: bool) {
        if drain {
            // We sent a close after an error: swallow what the peer still sends until it
            // closes, so it reads our close frame instead of a connection reset.
            let _ = Box::pin(timeout(
                CLOSE_GRACE,
                tokio::io::copy(&mut self.stream.halves().0, &mut tokio::io::sink()),
            ))
            .await;
        }
        let id = self.peer.id;
        self.app.broker.disconnect(&self.peer);
        tracing::debug!(id, "disconnected");
    }
}

/// `grant` in an `Arc`: the one every anonymous connection shares, or its own.
fn shared_grant(grant: Grant) -> Arc<Grant> {
    static ANONYMOUS: OnceLock<Arc<Grant>> = OnceLock::new();
    if grant == Grant::anonymous() {
        ANONYMOUS
            .get_or_init(|| Arc::new(Grant::anonymous()))
            .clone()
    } else {
        Arc::new(grant)
    }
}

/// The first message of every (non-echo) connection.
fn welcome(app: &App) -> ServerMessage {
    let config = &app.config;
    ServerMessage::Welcome(Welcome {
        protocol: PROTOCOL_VERSION,
        server: format!("tickcast/{}", env!("CARGO_PKG_VERSION")),
        epoch: app.broker.epoch(),
        heartbeat_ms: u64::try_from(config.heartbeat.as_millis()).unwrap_or(u64::MAX),
        max_message_bytes: config.max_message_bytes as u64,
        max_subscriptions: u32::try_from(config.max_subscriptions).unwrap_or(u32::MAX),
        ts: unix_ns(),
    })
}
