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
//! After a failure, a late acknowledgement ([`STALL_AFTER`]: the stream's leader died) or
//! a reconnect, only the oldest unacknowledged message is published (a probe, every
//! [`STALL_AFTER`]) until the stream stores it; then all the others go again, in order.
//! So nothing published while the stream comes back overtakes an older message (publishing
//! them all again each round would: the first ones lost to the leaderless stream, the
//! later ones stored by the new leader).
//! A message unacknowledged for [`MAX_AGE`] is given up and counted as lost (nodes announce
//! the hole); while the connection is down new messages wait for it, within the same
//! bound (through core NATS they are dropped: a late price is not a live one).

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
/// (its leader died; a new one is elected in seconds). Also how often the probe goes.
const STALL_AFTER: Duration = Duration::from_millis(500);
/// The pause after a refused publication before the first probe (JetStream refuses while
/// the stream elects a leader).
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

/// Where the publisher stands with the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The stream answers: new messages go at once.
    Flowing,
    /// A publication failed, an acknowledgement is late or the connection changed: only the
    /// oldest unacknowledged message goes, again at this time, until the stream stores it
    /// (so nothing sent while the stream is half back overtakes an older message).
    Probing(Instant),
    /// The stream is back: every unacknowledged message goes again, in order, then on.
    Again,
}

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
    mode: Mode,
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
            mode: Mode::Flowing,
            outcome: Outcome::default(),
        }
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// What became of the messages so far.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Publishes `envelope`, after everything still unacknowledged from before a failure
    /// or a reconnect. Waits while [`MAX_UNACKED`] messages are unacknowledged. Through
    /// JetStream, a message handed over while the connection is down waits for it (up to
    /// [`MAX_AGE`]); with core NATS it is dropped and counted as lost (a price delivered
    /// late to nodes that keep no order for it would read as a live one).
    pub async fn send(&mut self, envelope: Envelope) {
        if !(self.stream_ready.load(Relaxed) && kept(&envelope.topic)) {
            if !self.connected() {
                self.outcome.lost += 1;
                return;
            }
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
            if matches!(self.mode, Mode::Probing(_)) {
                self.mode = Mode::Again; // the stream stores again
            }
        } else if self.mode == Mode::Flowing {
            self.mode = Mode::Probing(Instant::now() + RETRY_PAUSE);
        }
    }

    /// Publishes what waits, as [`Mode`] says; gives up what is too old.
    async fn pump(&mut self) {
        let now = Instant::now();
        let connects = self.client.statistics().connects.load(Relaxed);
        let published_unacked = self.unacked.iter().find(|m| !m.acked && m.attempt > 0);
        if self.mode == Mode::Flowing {
            // A reply on the old connection is lost; a late one: the stream's leader died.
            let stalled = published_unacked.is_some_and(|m| {
                connects != self.connects || now.duration_since(m.sent) >= STALL_AFTER
            });
            if stalled {
                self.mode = Mode::Probing(now);
            }
        }
        self.connects = connects;
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
        if !self.connected() {
            return;
        }
        // Which messages go: from `start` on, those never published, or all (`again`).
        let (start, end, again) = match self.mode {
            Mode::Probing(at) if at > now => return,
            Mode::Probing(_) => {
                self.mode = Mode::Probing(now + STALL_AFTER);
                (0, self.unacked.len().min(1), true)
            }
            Mode::Again => (0, self.unacked.len(), true),
            Mode::Flowing => {
                let start = self
                    .unacked
                    .iter()
                    .rposition(|m| m.attempt > 0)
                    .map_or(0, |i| i + 1);
                (start, self.unacked.len(), false)
            }
        };
        // Cancel-safe: a message counts as published once JetStream has it, and a round
        // ends only when all went (a cancelled one starts over: the stream drops repeats).
        for index in start..end {
            let Some(message) = self.unacked.get(index).filter(|m| !m.acked) else {
                continue;
            };
            if !again && message.attempt > 0 {
                continue;
            }
            let republished = message.attempt > 0;
            let attempt = message.attempt + 1;
            let ack = publish(&self.jetstream, &self.id_prefix, message, attempt).await;
            self.acks.push(ack);
            if let Some(message) = self.unacked.get_mut(index) {
                message.attempt = attempt;
                message.sent = Instant::now();
            }
            if republished {
                self.outcome.republished += 1;
            }
        }
        if self.mode == Mode::Again {
            self.mode = Mode::Flowing;
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
