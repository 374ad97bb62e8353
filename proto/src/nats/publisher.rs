//! The one publisher of a source's envelopes (`tickcast-sim --nats`, a node's ingress):
//! into the JetStream stream with acknowledgements once it is known to exist, with core
//! NATS before (or without JetStream).
//!
//! Core NATS loses what is in flight when the NATS server a source is connected to dies.
//! Published through JetStream, every message waits for the stream's acknowledgement; what
//! is not acknowledged (its NATS server died, the stream was electing a leader) is
//! published again, **all unacknowledged messages in their first order, before any new
//! one**, each with its own `Nats-Msg-Id`, so the stream stores each message once (the
//! stream's duplicate window drops a repeat of one it had already stored) and in order.
//! An acknowledgement that is late ([`STALL_AFTER`]: the stream's leader died) holds new
//! messages back and starts the same round, so nothing published after the stream is back
//! overtakes what it missed.
//! A message unacknowledged for [`MAX_AGE`] is given up and counted as lost (nodes announce
//! the hole); while the connection is down new messages are not queued (a late price is
//! not a live one): the caller drops them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, message::PublishMessage};
use futures_util::StreamExt as _;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::{Envelope, kept};

/// A message not acknowledged this long is given up (and counted as lost).
pub const MAX_AGE: Duration = Duration::from_secs(10);
/// How long one publication waits for its acknowledgement before it counts as failed.
const ACK_WAIT: Duration = Duration::from_secs(2);
/// The oldest unacknowledged message published this long ago: the stream is not storing
/// (its leader died; a new one is elected in seconds). New messages then wait, and every
/// unacknowledged one is published again, in order, this often until the stream answers:
/// so no message published after the stream is back is stored before an older one.
const STALL_AFTER: Duration = Duration::from_millis(500);
/// The pause after a refused publication before everything unacknowledged goes again
/// (JetStream refuses while the stream elects a leader).
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// Most messages waiting for their acknowledgement: past this, `send` waits.
const MAX_UNACKED: usize = 8 * 1024;

/// What became of the messages handed to a [`Publisher`], since it started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Handed to NATS (through JetStream: acknowledged by the stream).
    pub published: u64,
    /// Publications again after a failure or a reconnect.
    pub republished: u64,
    /// Given up: not acknowledged within [`MAX_AGE`], or refused by core NATS.
    pub lost: u64,
}

/// A message waiting for the stream's acknowledgement.
#[derive(Debug)]
struct Unacked {
    number: u64,
    subject: String,
    headers: async_nats::HeaderMap,
    payload: bytes::Bytes,
    queued: Instant,
    /// When it was last published.
    sent: Instant,
    /// How often it was published: the awaited acknowledgement answers the last one; 0
    /// while it waits for the ones before it to go again.
    attempt: u32,
    acked: bool,
}

/// An acknowledgement: the message's number, which publication of it, whether stored.
type AckResult = (u64, u32, bool);

/// Publishes [`Envelope`]s in order; see the module's documentation.
pub struct Publisher {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    /// Set once the stream exists: kept subjects go through JetStream from then on.
    stream_ready: Arc<AtomicBool>,
    /// A prefix unique to this publisher, for `Nats-Msg-Id`s.
    id_prefix: String,
    next_number: u64,
    /// In the order they were handed over.
    unacked: VecDeque<Unacked>,
    acks: FuturesUnordered<BoxFuture<'static, AckResult>>,
    /// The client's connection count when the unacknowledged messages were published.
    connects: u64,
    /// Everything unacknowledged goes again, at this time (and once connected).
    again_at: Option<Instant>,
    outcome: Outcome,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("unacked", &self.unacked.len())
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// A publisher on `client`; kept subjects go through JetStream once `stream_ready`.
    pub fn new(client: async_nats::Client, stream_ready: Arc<AtomicBool>) -> Self {
        let jetstream = jetstream::ContextBuilder::new()
            .timeout(ACK_WAIT)
            // Bounded by MAX_UNACKED here; the context's own bound would wait inside a
            // publication for permits that only acknowledgements polled by us give back.
            .max_ack_inflight(usize::MAX >> 4)
            .build(client.clone());
        let connects = client.statistics().connects.load(Relaxed);
        Self {
            client,
            jetstream,
            stream_ready,
            id_prefix: format!("{:x}", crate::clock::unix_ns()),
            next_number: 0,
            unacked: VecDeque::new(),
            acks: FuturesUnordered::new(),
            connects,
            again_at: None,
            outcome: Outcome::default(),
        }
    }

    /// Whether the connection is up: while it is not, callers drop what they would send.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// What became of the messages so far.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Publishes `envelope`, after everything still unacknowledged from before a failure
    /// or a reconnect. Waits while [`MAX_UNACKED`] messages are unacknowledged.
    pub async fn send(&mut self, envelope: Envelope) {
        if !(self.stream_ready.load(Relaxed) && kept(&envelope.topic)) {
            let (subject, headers, payload) = envelope.into_parts();
            match self
                .client
                .publish_with_headers(subject, headers, payload)
                .await
            {
                Ok(()) => self.outcome.published += 1,
                Err(_) => self.outcome.lost += 1,
            }
            return;
        }
        while self.unacked.len() >= MAX_UNACKED {
            self.progress().await;
        }
        let (subject, headers, payload) = envelope.into_parts();
        self.unacked.push_back(Unacked {
            number: self.next_number,
            subject,
            headers,
            payload,
            queued: Instant::now(),
            sent: Instant::now(),
            attempt: 0,
            acked: false,
        });
        self.next_number += 1;
        self.pump().await;
    }

    /// Waits for the next acknowledgement, or for the time to publish the unacknowledged
    /// again, and does what follows; pending forever when nothing waits (for `select!`).
    pub async fn progress(&mut self) {
        if self.acks.is_empty() {
            if self.unacked.is_empty() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        } else if let Ok(Some(ack)) = tokio::time::timeout(STALL_AFTER, self.acks.next()).await {
            self.on_ack(ack);
        }
        self.pump().await;
    }

    /// Until every message is acknowledged or given up, or `limit` passes.
    pub async fn flush(&mut self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            let _ = self.client.flush().await;
            while !self.unacked.is_empty() {
                self.progress().await;
            }
        })
        .await;
    }

    fn on_ack(&mut self, (number, attempt, stored): AckResult) {
        let index = self
            .unacked
            .front()
            .and_then(|front| number.checked_sub(front.number))
            .and_then(|i| usize::try_from(i).ok());
        let Some(message) = index.and_then(|i| self.unacked.get_mut(i)) else {
            return; // acknowledged or given up already
        };
        if message.attempt != attempt {
            return; // answers an earlier publication of it
        }
        if stored {
            message.acked = true;
            self.outcome.published += 1;
            while self.unacked.front().is_some_and(|m| m.acked) {
                self.unacked.pop_front();
            }
        } else if self.again_at.is_none() {
            // It goes again, with every later one, in order.
            self.again_at = Some(Instant::now() + RETRY_PAUSE);
        }
    }

    /// Publishes what waits: everything unacknowledged once it is time to publish it
    /// again, else the new messages; gives up what is too old.
    async fn pump(&mut self) {
        let connects = self.client.statistics().connects.load(Relaxed);
        if connects != self.connects {
            // A reply on the old connection is lost: what it carried goes again, at once.
            self.connects = connects;
            if self.unacked.iter().any(|m| m.attempt > 0 && !m.acked) {
                self.again_at = Some(Instant::now());
            }
        }
        let now = Instant::now();
        let stalled = self
            .unacked
            .iter()
            .find(|m| !m.acked && m.attempt > 0)
            .is_some_and(|m| now.duration_since(m.sent) >= STALL_AFTER);
        if stalled && self.again_at.is_none() {
            self.again_at = Some(now);
        }
        // Oldest first: what is too old is at the front.
        while let Some(front) = self.unacked.front() {
            if !front.acked && now.duration_since(front.queued) < MAX_AGE {
                break;
            }
            if !front.acked {
                self.outcome.lost += 1;
            }
            self.unacked.pop_front();
        }
        let again = match self.again_at {
            Some(at) if at <= now && self.connected() => true,
            Some(_) => return,
            None => false,
        };
        // Again: everything unacknowledged; else what was never published (at the back).
        // Cancel-safe: a message counts as published once JetStream has it, and "again"
        // ends only when all went (a cancelled round starts over: the stream drops repeats).
        let start = if again {
            0
        } else {
            self.unacked
                .iter()
                .rposition(|m| m.attempt > 0)
                .map_or(0, |i| i + 1)
        };
        for index in start..self.unacked.len() {
            let Some(message) = self.unacked.get(index).filter(|m| !m.acked) else {
                continue;
            };
            let again = message.attempt > 0;
            let attempt = message.attempt + 1;
            let ack = publish(&self.jetstream, &self.id_prefix, message, attempt).await;
            self.acks.push(ack);
            if let Some(message) = self.unacked.get_mut(index) {
                message.attempt = attempt;
                message.sent = Instant::now();
            }
            if again {
                self.outcome.republished += 1;
            }
        }
        if again {
            self.again_at = None;
        }
    }
}

/// Hands `message` to JetStream as its publication `attempt` (with the `Nats-Msg-Id`
/// `id_prefix-number`); the future resolves to its acknowledgement.
async fn publish(
    jetstream: &jetstream::Context,
    id_prefix: &str,
    message: &Unacked,
    attempt: u32,
) -> BoxFuture<'static, AckResult> {
    let publish = PublishMessage::build()
        .headers(message.headers.clone())
        .payload(message.payload.clone())
        .message_id(format!("{id_prefix}-{}", message.number));
    let number = message.number;
    let sent = jetstream
        .send_publish(message.subject.clone(), publish)
        .await;
    Box::pin(async move {
        let stored = match sent {
            Ok(ack) => ack.await.is_ok(),
            Err(_) => false,
        };
        (number, attempt, stored)
    })
}
