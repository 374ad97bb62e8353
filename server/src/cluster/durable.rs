//! History that outlives the nodes: the JetStream stream that keeps, per topic, what a
//! node's ring and bar history hold, and this node's reader of it.
//!
//! Every message a source publishes on a kept subject (ticks with their status messages,
//! bars, books) is stored by NATS in the stream [`STREAM`], newest [`per_subject`] per
//! subject. A node reads the stream from its start with one ordered consumer: first what
//! the stream holds (the history of every topic, loaded through the same `ingest` as live
//! messages, so every node keeps the same bytes, `seq`s and epochs), then on without a
//! seam, as the consumer's stream sequence has no hole and no repeat. The node is ready
//! (`/healthz`) once it has read what the stream held when it looked.
//!
//! A NATS server without JetStream: the node says so at start and goes on as before
//! (history from what it receives while up).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt as _;
use tickcast_proto::TopicKind;
use tokio_util::sync::CancellationToken;

use super::health::LinkCounters;
use super::ingest::TakeIn;
use crate::broker::Broker;
use crate::retention::Retention;

/// The stream's name (one per NATS account).
pub(super) const STREAM: &str = "TICKCAST";

/// The subjects the stream keeps: the topics a source stamps, exactly those [`kept`] names.
fn subjects() -> Vec<String> {
    let bars = tickcast_proto::BarInterval::ALL.map(|i| i.topic("*"));
    ["ticks.*".to_owned(), "book.*".to_owned()]
        .into_iter()
        .chain(bars)
        .collect()
}

/// How long the stream's creation may take before the node goes on without it.
const OPEN_LIMIT: Duration = Duration::from_secs(10);

/// Whether the stream keeps `topic` (a node reads such topics from the stream only): the
/// ticks, bars and book of a symbol.
pub(super) fn kept(topic: &str) -> bool {
    !matches!(TopicKind::of(topic), TopicKind::Other)
}

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

/// The stream as a node creates it when it is missing.
fn config(retention: &Retention) -> stream::Config {
    stream::Config {
        name: STREAM.to_owned(),
        subjects: subjects(),
        max_messages_per_subject: per_subject(retention),
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        ..Default::default()
    }
}

/// Waits for the NATS connection, then opens the stream (creating it when missing).
/// `None`: NATS has no JetStream (or refused the stream); the reason is logged.
pub(super) async fn open(
    client: &async_nats::Client,
    retention: &Retention,
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
    let js = jetstream::new(client.clone());
    match tokio::time::timeout(OPEN_LIMIT, js.get_or_create_stream(config(retention))).await {
        Ok(Ok(stream)) => {
            tracing::info!(stream = STREAM, "history is kept in NATS JetStream");
            Some(stream)
        }
        Ok(Err(e)) => {
            tracing::warn!(
                error = &e as &dyn std::error::Error,
                "NATS refused the JetStream stream: this node's history is only what it \
                 receives while up (see ARCHITECTURE.md, \"Scale-out\")"
            );
            None
        }
        Err(_) => {
            tracing::warn!(
                "NATS did not answer for JetStream within {OPEN_LIMIT:?}: this node's \
                 history is only what it receives while up"
            );
            None
        }
    }
}

/// Reads the stream from its start into `broker` until `shutdown`; sets `caught_up` once
/// it has read what the stream held when the reader started.
pub(super) async fn run(
    stream: stream::Stream,
    broker: Broker,
    counters: Arc<LinkCounters>,
    caught_up: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let consumer = match stream
        .create_consumer(consumer::pull::OrderedConfig {
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
    {
        Ok(consumer) => consumer,
        Err(e) => {
            tracing::error!(
                error = &e as &dyn std::error::Error,
                "cannot read the JetStream stream: this node serves only what it had"
            );
            return;
        }
    };
    if consumer.cached_info().num_pending == 0 {
        caught_up.store(true, Relaxed);
    }
    let mut messages = match consumer.messages().await {
        Ok(messages) => messages,
        Err(e) => {
            tracing::error!(error = &e as &dyn std::error::Error, "reading the stream");
            return;
        }
    };
    let mut take_in = TakeIn::new(broker, counters);
    loop {
        let next = tokio::select! {
            next = messages.next() => next,
            () = shutdown.cancelled() => return,
        };
        match next {
            Some(Ok(msg)) => {
                take_in.message(&msg.message);
                if !caught_up.load(Relaxed) && msg.info().is_ok_and(|i| i.pending == 0) {
                    tracing::info!("history loaded from the stream: serving");
                    caught_up.store(true, Relaxed);
                }
            }
            // The ordered consumer recreates itself from the last sequence it delivered.
            Some(Err(e)) => tracing::warn!(error = &e as &dyn std::error::Error, "the stream"),
            None => {
                tracing::warn!("the stream's reader ended");
                return;
            }
        }
    }
}
