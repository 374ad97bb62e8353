//! The publisher's task: keeps a connection with a publisher token open, sends the queued
//! `publish` frames, counts the server's answers into [`PublishStats`] and reports its
//! [`PublisherState`], reconnecting like the subscriber does.
//!
//! The server answers every `publish` in order, with `ack {op:"publish"}` or an `error`,
//! so the task needs no request ids: it counts frames in flight.

use std::{sync::Arc, time::Duration};

use tickcast_proto::{ClientMessage, ErrorCode, Op, Publish, ServerMessage, Welcome, close};
use tokio::{
    sync::{mpsc, watch},
    time::{Instant, sleep, sleep_until},
};
use tokio_util::sync::CancellationToken;

use crate::{
    PublishStats, PublisherConfig, PublisherState,
    attempt::{self, Next, Retry, after_shutdown, closed, dead_after},
    connection::{Connection, Inbound},
    endpoint::Endpoint,
};

/// The publisher was shut down (or dropped).
struct Cancelled;

/// The task behind a [`crate::Publisher`]: its connection attempts, the queue it drains,
/// and the counts and state it reports.
pub(crate) struct PublishWorker {
    config: PublisherConfig,
    endpoint: Endpoint,
    retry: Retry,
    queue: mpsc::Receiver<Publish>,
    stats: Arc<watch::Sender<PublishStats>>,
    state: watch::Sender<PublisherState>,
    cancel: CancellationToken,
}

impl PublishWorker {
    pub fn new(
        config: PublisherConfig,
        endpoint: Endpoint,
        queue: mpsc::Receiver<Publish>,
        stats: Arc<watch::Sender<PublishStats>>,
        state: watch::Sender<PublisherState>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            retry: Retry::new(config.backoff_min, config.backoff_max),
            config,
            endpoint,
            queue,
            stats,
            state,
            cancel,
        }
    }

    pub async fn run(mut self) {
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
