//! The publisher: one task that keeps a connection with a publisher token open, sends the
//! queued `publish` frames and counts the server's answers.
//!
//! The server answers every `publish` in order, with `ack {op:"publish"}` or an `error`,
//! so the task needs no request ids: it counts frames in flight. A publish is sent at most
//! once; one in flight when a connection breaks is counted as unanswered and not resent
//! (the server may already have published it). Publishes queued while disconnected wait
//! for the next connection.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use tickcast_proto::{ClientMessage, ErrorCode, Op, Publish, ServerMessage, Welcome, close};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
    time::{Instant, sleep, sleep_until},
};
use tokio_util::sync::CancellationToken;

use crate::{
    ClientError,
    attempt::{self, Next, Retry, after_shutdown, closed, dead_after},
    connection::{Connection, Inbound},
    endpoint::Endpoint,
};

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
        let worker = Worker {
            retry: Retry::new(config.backoff_min, config.backoff_max),
            config,
            endpoint,
            queue: queue_rx,
            stats: stats.clone(),
            state: state_tx,
            cancel: cancel.clone(),
        };
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

/// The publisher was shut down (or dropped).
struct Cancelled;

struct Worker {
    config: PublisherConfig,
    endpoint: Endpoint,
    retry: Retry,
    queue: mpsc::Receiver<Publish>,
    stats: Arc<watch::Sender<PublishStats>>,
    state: watch::Sender<PublisherState>,
    cancel: CancellationToken,
}

impl Worker {
    async fn run(mut self) {
        if self.run_inner().await.is_err() {
            self.state.send_replace(PublisherState::Disconnected {
                reason: "publisher shut down".to_owned(),
                retry_in: None,
            });
        }
        self.queue.close();
        let mut discarded = 0;
        while self.queue.try_recv().is_ok() {
            discarded += 1;
        }
        self.stats.send_modify(|s| s.discarded += discarded);
    }

    async fn run_inner(&mut self) -> Result<(), Cancelled> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.state
                .send_replace(PublisherState::Connecting { attempt });
            let connect = attempt::welcomed(
                &self.endpoint,
                self.config.max_message_bytes,
                self.config.connect_timeout,
            );
            let connected = tokio::select! {
                () = self.cancel.cancelled() => return Err(Cancelled),
                result = connect => result,
            };
            let (reason, next) = match connected {
                Ok((conn, welcome)) => {
                    attempt = 0;
                    self.serve(conn, welcome).await?
                }
                Err(failure) => failure,
            };
            let retry_in = self.retry.delay(next);
            self.state
                .send_replace(PublisherState::Disconnected { reason, retry_in });
            let Some(delay) = retry_in else {
                return Ok(());
            };
            tokio::select! {
                () = self.cancel.cancelled() => return Err(Cancelled),
                () = sleep(delay) => {}
            }
        }
    }

    /// Publishes over one live connection until it ends; returns why and what next.
    async fn serve(
        &mut self,
        mut conn: Connection,
        welcome: Welcome,
    ) -> Result<(String, Next), Cancelled> {
        let dead_after = dead_after(&welcome);
        self.stats.send_modify(|s| s.connections += 1);
        self.state.send_replace(PublisherState::Connected {
            server: welcome.server,
            addr: conn.addr,
        });

        // Sent on this connection and not answered yet.
        let mut in_flight = 0u64;
        // An ack on this connection proves it may publish.
        let mut acked_here = false;
        let mut reconnect_after = None;
        let mut deadline = Instant::now() + dead_after;
        let end = loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    conn.close(close::NORMAL, "publisher closing").await;
                    self.write_off(in_flight);
                    return Err(Cancelled);
                }
                item = conn.inbound.recv() => {
                    deadline = Instant::now() + dead_after;
                    match item {
                        Some(Inbound::Message(ServerMessage::Ack(ack))) if ack.op == Op::Publish => {
                            in_flight = in_flight.saturating_sub(1);
                            self.stats.send_modify(|s| s.acked += 1);
                            if !acked_here {
                                acked_here = true;
                                self.retry.reset();
                            }
                        }
                        Some(Inbound::Message(ServerMessage::Error(error))) => {
                            in_flight = in_flight.saturating_sub(1);
                            let text = format!("{}: {}", error.code.as_str(), error.message);
                            self.stats.send_modify(|s| {
                                s.rejected += 1;
                                s.last_error = Some(text.clone());
                            });
                            // Without the publisher role every publish is refused;
                            // retrying will not change that.
                            if error.code == ErrorCode::Forbidden && !acked_here {
                                break (format!("server refuses to let this connection publish ({text})"), Next::Never);
                            }
                        }
                        Some(Inbound::Message(ServerMessage::Shutdown(s))) => {
                            reconnect_after = Some(Duration::from_millis(s.reconnect_after_ms));
                        }
                        Some(Inbound::Message(_)) => {}
                        Some(Inbound::Closed { code, reason }) => {
                            let (reason, next) = closed(code, &reason);
                            break (reason, after_shutdown(next, reconnect_after));
                        }
                        Some(Inbound::Lost(reason)) => {
                            break (reason, after_shutdown(Next::Backoff, reconnect_after));
                        }
                        None => break ("connection lost".to_owned(), Next::Backoff),
                    }
                }
                publish = self.queue.recv() => {
                    let Some(publish) = publish else {
                        // Every `Publisher` is gone (its drop cancels too).
                        conn.close(close::NORMAL, "publisher closing").await;
                        self.write_off(in_flight);
                        return Err(Cancelled);
                    };
                    in_flight += 1;
                    self.stats.send_modify(|s| s.sent += 1);
                    if !conn.send(&ClientMessage::Publish(publish)).await {
                        break ("connection lost".to_owned(), Next::Backoff);
                    }
                }
                () = sleep_until(deadline) => {
                    let reason = format!("no message for {} ms (server presumed dead)", dead_after.as_millis());
                    break (reason, Next::Backoff);
                }
            }
        };
        self.write_off(in_flight);
        Ok(end)
    }

    /// Publishes in flight when a connection ends will never be answered.
    fn write_off(&self, in_flight: u64) {
        if in_flight > 0 {
            self.stats.send_modify(|s| s.unanswered += in_flight);
        }
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
