//! History that outlives the nodes: the JetStream stream that keeps, per topic, what a
//! node's ring and bar history hold, and this node's reader of it.
//!
//! Every message a source publishes on a kept subject (ticks with their status messages,
//! bars, books) is stored by NATS in the stream `TICKCAST`, newest [`per_subject`] per
//! subject. A node reads the stream from its start with one ordered consumer: first what
//! the stream holds (the history of every topic, loaded through the same `ingest` as live
//! messages, so every node keeps the same bytes, `seq`s and epochs), then on without a
//! seam, as the consumer's stream sequence has no hole and no repeat. The node is ready
//! (`/healthz`) once it has read what the stream held when it looked.
//!
//! A NATS server without JetStream: the node says so at start and goes on as before
//! (history from what it receives while up).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt as _;
use tickcast_proto::nats::{STREAM, open_stream, stream_config};
use tokio_util::sync::CancellationToken;

use super::health::LinkCounters;
use super::ingest::TakeIn;
use crate::broker::Broker;
use crate::retention::Retention;

/// How long the stream's creation may take before the node goes on without it.
const OPEN_LIMIT: Duration = Duration::from_secs(30);
/// How long the reader may get nothing before it asks whether the stream went on.
const STALL_CHECK: Duration = Duration::from_secs(2);
/// How long one JetStream request (the stream's state, a new reader) may take.
const REQUEST_LIMIT: Duration = Duration::from_secs(2);
/// How often the stream's state may be asked while catching up.
const ASK_EVERY: Duration = Duration::from_millis(500);

/// Messages the stream keeps per subject: the most that any topic keeps on a node (its
/// trades history, the longest bar history; a book's changes since its last whole book
/// are far fewer).
pub(super) fn per_subject(retention: &Retention) -> i64 {
    let bars = tickcast_proto::BarInterval::ALL
        .into_iter()
        .map(|i| retention.bars.get(i))
        .max()
        .unwrap_or(0);
    i64::try_from(retention.messages.max(bars)).unwrap_or(i64::MAX)
}

/// Waits for the NATS connection, then opens the stream (creating it when missing).
/// `None`: NATS has no JetStream (or refused the stream); the reason is logged.
pub(super) async fn open(
    client: &async_nats::Client,
    retention: &Retention,
    replicas: usize,
    shutdown: &CancellationToken,
) -> Option<stream::Stream> {
    while client.connection_state() != async_nats::connection::State::Connected {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            () = shutdown.cancelled() => return None,
        }
    }
    if !client.server_info().jetstream {
        tracing::warn!(
            "NATS without JetStream: this node's history is only what it receives while up \
             (see ARCHITECTURE.md, \"Scale-out\")"
        );
        return None;
    }
    // Short requests: while JetStream elects a leader (seconds after a NATS server dies)
    // they time out; the reader retries them sooner than async-nats' default of 5 s would.
    let js = jetstream::ContextBuilder::new()
        .timeout(REQUEST_LIMIT)
        .build(client.clone());
    let config = stream_config(per_subject(retention), replicas);
    let opened = tokio::select! {
        opened = open_stream(&js, config.clone(), OPEN_LIMIT) => opened,
        () = shutdown.cancelled() => return None,
    };
    let stream = match opened {
        Ok(stream) => stream,
        Err(error) => {
            tracing::warn!(
                error,
                "NATS refused the JetStream stream: this node's history is only what it \
                 receives while up (see ARCHITECTURE.md, \"Scale-out\")"
            );
            return None;
        }
    };
    tracing::info!(stream = STREAM, "history is kept in NATS JetStream");
    let kept = stream.cached_info().config.max_messages_per_subject;
    if kept >= 0 && kept < config.max_messages_per_subject {
        tracing::warn!(
            kept,
            wanted = config.max_messages_per_subject,
            "the stream keeps fewer messages per topic than this node's history holds \
             (whoever created it had smaller --history/--bar-history): a late node starts \
             with that many"
        );
    }
    Some(stream)
}

/// Reads the stream from its start into `broker` until `shutdown`. The history is loaded
/// (`LinkCounters::loaded_through`, so `/healthz` says ready) once the reader has read
/// what the stream held when it looked; after every reconnect to NATS it looks again. A
/// reader that fails (its NATS server died, the stream's leader moved) is made again from
/// the next sequence.
pub(super) async fn run(
    stream: stream::Stream,
    broker: Broker,
    counters: Arc<LinkCounters>,
    shutdown: CancellationToken,
) {
    let mut take_in = TakeIn::new(broker, counters.clone());
    let mut catch_up = CatchUp::new(counters);
    // The stream sequence of the next message to read.
    let mut next_sequence = 1;
    loop {
        let Some(mut messages) = reader(&stream, next_sequence, &shutdown).await else {
            return;
        };
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                () = tokio::time::sleep(STALL_CHECK) => {
                    catch_up.after(&stream, next_sequence - 1).await;
                    // Quiet: a reader whose NATS server died can wait long before it
                    // notices. If the stream went on without it, make a new one.
                    if stream.get_info().await.is_ok_and(|i| i.state.last_sequence >= next_sequence) {
                        tracing::warn!("the stream's reader stalled: reading on from sequence {next_sequence}");
                        break;
                    }
                    continue;
                }
                () = shutdown.cancelled() => return,
            };
            match next {
                Some(Ok(msg)) => {
                    take_in.message(&msg.message);
                    if let Ok(info) = msg.info() {
                        next_sequence = info.stream_sequence + 1;
                    }
                    catch_up.after(&stream, next_sequence - 1).await;
                }
                // The ordered consumer recreates itself from the last sequence it delivered.
                Some(Err(e)) => {
                    tracing::warn!(error = &e as &dyn std::error::Error, "reading the stream");
                }
                None => {
                    tracing::warn!(
                        "the stream's reader ended: reading on from sequence {next_sequence}"
                    );
                    break;
                }
            }
        }
    }
}

/// Whether the reader has read what the stream held when it last looked, once per
/// connection to NATS (what was published while this node was away is read before it
/// says ready again).
struct CatchUp {
    counters: Arc<LinkCounters>,
    /// The stream's last sequence, and the connection (`disconnects`) it was read on.
    target: Option<(u64, u64)>,
    asked: Option<Instant>,
    /// When the target was read.
    since: Instant,
}

impl CatchUp {
    fn new(counters: Arc<LinkCounters>) -> Self {
        Self {
            counters,
            target: None,
            asked: None,
            since: Instant::now(),
        }
    }

    /// Called with the last stream sequence read.
    async fn after(&mut self, stream: &stream::Stream, read_through: u64) {
        let connection = self.counters.disconnects.load(Relaxed);
        if self.counters.loaded_through.load(Relaxed) == connection + 1 {
            return;
        }
        if self.target.is_none_or(|(_, on)| on != connection) {
            if self.asked.is_some_and(|at| at.elapsed() < ASK_EVERY) {
                return;
            }
            self.asked = Some(Instant::now());
            match stream.get_info().await {
                Ok(info) => self.target = Some((info.state.last_sequence, connection)),
                Err(_) => return,
            }
            self.since = Instant::now();
        }
        if let Some((held, on)) = self.target.filter(|&(held, _)| read_through >= held) {
            self.counters.loaded_through.store(on + 1, Relaxed);
            tracing::info!(
                stream_sequence = held,
                elapsed_ms = self.since.elapsed().as_millis() as u64,
                "history loaded from the stream: serving"
            );
        }
    }
}

/// An ordered reader of the stream from `sequence` on, retried until it is made (or
/// `shutdown`).
async fn reader(
    stream: &stream::Stream,
    sequence: u64,
    shutdown: &CancellationToken,
) -> Option<consumer::pull::Ordered> {
    let mut failures = 0u32;
    loop {
        let made = async {
            let consumer = stream
                .create_consumer(consumer::pull::OrderedConfig {
                    deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: sequence,
                    },
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            consumer.messages().await.map_err(|e| e.to_string())
        };
        match made.await {
            Ok(messages) => return Some(messages),
            Err(error) => {
                failures += 1;
                // The 1st, 2nd, 4th, 8th, ... failure in a row.
                if failures.is_power_of_two() {
                    tracing::warn!(error, failures, "cannot read the stream yet; retrying");
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
            () = shutdown.cancelled() => return None,
        }
    }
}
