//! The publisher's public face: [`PublisherConfig`], [`Publisher`] (the handle), its
//! [`PublisherState`] and [`PublishStats`]. The task behind it is `publish_worker`.
//!
//! A publish is sent at most once; one in flight when a connection breaks is counted as
//! unanswered and not resent (the server may already have published it). Publishes queued
//! while disconnected wait for the next connection.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tickcast_proto::Publish;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use crate::{ClientError, endpoint::Endpoint, publish_worker::PublishWorker};

/// How to reach a server as a publisher.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// `ws://HOST:PORT/PATH` or `wss://HOST:PORT/PATH`.
    pub url: String,
    /// The publisher token (`tickcast-server --publish-token`, or a signed token that
    /// allows publishing), sent as `Authorization: Bearer` and the `token` query parameter.
    pub token: String,
    /// PEM files of private CAs trusted for `wss://`, besides the public roots.
    /// Default: none.
    pub ca_certs: Vec<PathBuf>,
    /// First reconnect delay; it doubles per failed attempt. Default: 250 ms.
    pub backoff_min: Duration,
    /// Longest reconnect delay. Default: 10 s.
    pub backoff_max: Duration,
    /// TCP connect + TLS + HTTP upgrade + `welcome` must finish within this. Default: 5 s.
    pub connect_timeout: Duration,
    /// Publishes waiting to be sent (while connecting, or behind a slow socket); past it
    /// [`Publisher::try_publish`] drops and [`Publisher::publish`] waits. Default: 8192.
    pub queue_capacity: usize,
    /// Largest message accepted from the server. Default: 1 MiB.
    pub max_message_bytes: usize,
}

impl PublisherConfig {
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            token: token.into(),
            ca_certs: Vec::new(),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            queue_capacity: 8192,
            max_message_bytes: 1 << 20,
        }
    }

    /// Trusts the CA certificate(s) in this PEM file for `wss://` (read at
    /// [`Publisher::spawn`]).
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certs.push(path.into());
        self
    }
}

/// Where the publisher's connection stands.
#[derive(Debug, Clone, PartialEq)]
pub enum PublisherState {
    /// Attempt number `attempt` (1-based since the last successful connection) started.
    Connecting { attempt: u32 },
    /// `welcome` arrived; queued publishes are being sent.
    Connected { server: String, addr: SocketAddr },
    /// The connection ended. `retry_in: None`: the publisher stopped for good (shut
    /// down, a final close code or TLS error, or the server refused to let it publish).
    Disconnected {
        reason: String,
        retry_in: Option<Duration>,
    },
}

impl PublisherState {
    /// True once the publisher will not connect again.
    pub fn is_stopped(&self) -> bool {
        matches!(self, Self::Disconnected { retry_in: None, .. })
    }
}

/// What became of the publishes so far. Every queued publish ends up acked, rejected,
/// unanswered or discarded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Accepted into the queue by [`Publisher::publish`] or [`Publisher::try_publish`].
    pub queued: u64,
    /// Refused by [`Publisher::try_publish`] because the queue was full (never queued).
    pub dropped: u64,
    /// Written to a connection.
    pub sent: u64,
    /// Acked: the server published them (with its own `seq` and `ts`).
    pub acked: u64,
    /// Answered with an error (`bad_request`, `rate_limited`, ...); see `last_error`.
    pub rejected: u64,
    /// Sent, but the connection ended before the answer: the server may or may not have
    /// published them. Never resent.
    pub unanswered: u64,
    /// Queued but never sent because the publisher stopped.
    pub discarded: u64,
    /// Connections that got as far as `welcome`.
    pub connections: u64,
    /// The latest error answer, as `code: message`.
    pub last_error: Option<String>,
}

impl PublishStats {
    /// True when every queued publish has been sent and answered, or written off.
    pub fn settled(&self) -> bool {
        self.queued == self.sent + self.discarded
            && self.sent == self.acked + self.rejected + self.unanswered
    }
}

/// A running publisher. Dropping it stops the publisher (closing with 1000) without
/// waiting for answers; call [`Publisher::flush`] first to wait for them.
#[derive(Debug)]
pub struct Publisher {
    queue: mpsc::Sender<Publish>,
    stats: Arc<watch::Sender<PublishStats>>,
    state: watch::Receiver<PublisherState>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Publisher {
    /// Validates the config (URL, token, CA files) and starts the publisher task on the
    /// current tokio runtime.
    pub fn spawn(config: PublisherConfig) -> Result<Self, ClientError> {
        let endpoint = Endpoint::new(&config.url, Some(&config.token), &config.ca_certs)?;
        let (queue_tx, queue_rx) = mpsc::channel(config.queue_capacity.max(1));
        let stats = Arc::new(watch::Sender::new(PublishStats::default()));
        let (state_tx, state_rx) = watch::channel(PublisherState::Connecting { attempt: 1 });
        let cancel = CancellationToken::new();
        let worker = PublishWorker::new(
            config,
            endpoint,
            queue_rx,
            stats.clone(),
            state_tx,
            cancel.clone(),
        );
        let task = tokio::spawn(worker.run());
        Ok(Self {
            queue: queue_tx,
            stats,
            state: state_rx,
            cancel,
            task: Some(task),
        })
    }

    /// Queues a publish, waiting while the queue is full. Fails only when the publisher
    /// has stopped.
    pub async fn publish(&self, publish: Publish) -> Result<(), ClientError> {
        self.stats.send_modify(|s| s.queued += 1);
        self.queue.send(publish).await.map_err(|_| {
            self.stats.send_modify(|s| s.queued -= 1);
            ClientError::Stopped
        })
    }

    /// Queues a publish without waiting. A full queue drops it (counted in
    /// [`PublishStats::dropped`]) and answers [`ClientError::Busy`]: market data that
    /// cannot keep up is better dropped than delivered late.
    pub fn try_publish(&self, publish: Publish) -> Result<(), ClientError> {
        self.stats.send_modify(|s| s.queued += 1);
        self.queue.try_send(publish).map_err(|e| {
            let full = matches!(e, mpsc::error::TrySendError::Full(_));
            self.stats.send_modify(|s| {
                s.queued -= 1;
                if full {
                    s.dropped += 1;
                }
            });
            if full {
                ClientError::Busy
            } else {
                ClientError::Stopped
            }
        })
    }

    /// The counts so far.
    pub fn stats(&self) -> PublishStats {
        self.stats.borrow().clone()
    }

    /// The connection state, to watch for changes.
    pub fn state(&self) -> watch::Receiver<PublisherState> {
        self.state.clone()
    }

    /// Waits until every queued publish has been sent and answered (or written off,
    /// when the publisher stopped), and returns the counts. Bound it with a timeout: a
    /// publisher that cannot reach its server waits for the next connection.
    pub async fn flush(&self) -> PublishStats {
        let mut stats = self.stats.subscribe();
        let mut state = self.state.clone();
        loop {
            {
                let now = stats.borrow_and_update();
                if now.settled() {
                    return now.clone();
                }
            }
            tokio::select! {
                changed = stats.changed() => if changed.is_err() { break },
                // The task is gone (it writes everything off first, so this is a panic).
                changed = state.changed() => if changed.is_err() { break },
            }
        }
        self.stats()
    }

    /// Closes the connection (1000) and waits for the task to end. Publishes still queued
    /// are discarded and those in flight count as unanswered.
    pub async fn shutdown(mut self) -> PublishStats {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.stats()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settled_means_everything_is_accounted_for() {
        let mut s = PublishStats {
            queued: 5,
            sent: 4,
            acked: 3,
            rejected: 1,
            ..PublishStats::default()
        };
        assert!(!s.settled(), "one is still queued");
        s.discarded = 1;
        assert!(s.settled());
        s.sent += 1;
        s.discarded = 0;
        assert!(!s.settled(), "one is in flight");
        s.unanswered = 1;
        assert!(s.settled());
    }

    #[tokio::test]
    async fn a_bad_url_or_empty_token_fails_at_spawn() {
        assert!(matches!(
            Publisher::spawn(PublisherConfig::new("http://h/ws", "t")),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Publisher::spawn(PublisherConfig::new("ws://h/ws", "")),
            Err(ClientError::InvalidUrl { .. })
        ));
    }
}
