//! One WebSocket connection's lifecycle: it greets the client, runs a reader and a
//! writer until either ends, and closes cleanly.
//!
//! The reader and writer are two futures of one task, joined by a single `select!`
//! created once. The reader (`reader`, built on [`FrameReader`]) holds no buffer while
//! the client is idle and hands complete messages to `requests`. Everything the reader
//! must send (pongs, answers, close) goes through the outbox, so the writer (`writer`)
//! is the only code that touches the socket's write half. Heartbeats, pings, the idle
//! timeout, token expiry and the shutdown notice come from the server's one keepalive
//! sweeper (`crate::keepalive`) through the outbox too; the inbound token bucket is
//! `rate_limit`.

mod rate_limit;
mod reader;
mod requests;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tickcast_proto::{Encoding, PROTOCOL_VERSION, ServerMessage, Welcome, close};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;

use crate::App;
use crate::auth::Grant;
use crate::broker::Peer;
use crate::outbox::Outbox;
use crate::unix_ns;
use crate::wsread::FrameReader;

/// How long a closing connection waits for the peer's close frame or for the writer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Why the reader stopped.
enum ReadEnd {
    /// The peer closed (close frame or EOF) or the socket failed.
    Peer,
    /// The reader asked the writer to close with a code.
    Closing,
}

/// Serves one upgraded connection from `remote` until it closes.
pub async fn serve<R, W>(
    read: R,
    write: W,
    app: Arc<App>,
    encoding: Encoding,
    remote: SocketAddr,
    grant: Grant,
) where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let config = &app.config;
    let id = app.next_connection_id.fetch_add(1, Relaxed);
    let peer = Arc::new(Peer::new(
        id,
        Outbox::new(encoding, config.queue_bytes, config.slow_consumer),
    ));
    if let Some(exp_ns) = grant.expires_at_ns {
        peer.liveness.expire_at(exp_ns);
    }
    tracing::debug!(%remote, id, encoding = encoding.subprotocol(), "connected");
    if !config.echo {
        peer.push_message(&welcome(&app));
    }
    app.connections.add(&peer);

    let mut frames = FrameReader::new(read, config.max_message_bytes);
    let drain = {
        let reader = reader::read_loop(&mut frames, &peer, &app, &grant);
        let writer = writer::write_loop(write, &peer, &app);
        tokio::pin!(reader, writer);
        tokio::select! {
            end = &mut reader => {
                if let ReadEnd::Peer = end {
                    peer.outbox.close(close::NORMAL, "");
                }
                let _ = Box::pin(timeout(CLOSE_GRACE, &mut writer)).await;
                matches!(end, ReadEnd::Closing)
            }
            result = &mut writer => {
                if let Err(e) = result {
                    tracing::debug!(%remote, id, error = %e, "write side ended");
                }
                // Let the peer's close frame arrive so it sees a clean close, not a reset.
                let _ = Box::pin(timeout(CLOSE_GRACE, &mut reader)).await;
                false
            }
        }
    };
    if drain {
        // We sent a close after an error: swallow what the peer still sends until it
        // closes, so it reads our close frame instead of a connection reset.
        let _ = Box::pin(timeout(
            CLOSE_GRACE,
            tokio::io::copy(frames.get_mut(), &mut tokio::io::sink()),
        ))
        .await;
    }
    app.connections.remove(id);
    app.broker.disconnect(id);
    tracing::debug!(%remote, id, "disconnected");
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
