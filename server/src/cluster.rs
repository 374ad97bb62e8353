//! Cluster mode: server nodes share their topics through NATS (`--broker nats://...`).
//!
//! What enters through a node (its embedded simulator, a WebSocket `publish`) is stamped
//! by that node's ingress broker (`seq`, `ts`, bars) and handed, through a bounded queue,
//! to a task that publishes it on NATS: subject = topic, payload = the wire MessagePack
//! map, the topic's epoch (and a tick's reference price) in headers
//! ([`tickcast_proto::nats`]). Every node, the entry node included, subscribes to `>` and
//! ingests what NATS delivers into its local broker, which fans out to its clients and
//! keeps the rings, so every node holds every topic's history and serves `since`.
//!
//! NATS down or slow: the publish path never waits. While the connection is down, or
//! when the queue is full, messages are dropped and counted (`tickcast_nats_dropped_total`);
//! clients see the hole by `seq`. `/healthz` says not-ready until async-nats reconnects
//! (it retries forever and resubscribes by itself).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::{Event, HeaderMap, Subscriber};
use bytes::Bytes;
use futures_util::StreamExt as _;
use tickcast_proto::nats::{EPOCH_HEADER, PREV_CLOSE_HEADER};
use tickcast_proto::{DecodeError, Encoding, ServerMessage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::{Broker, Upstream};
use crate::metrics::Metrics;

/// Messages waiting for the NATS publisher; past this they are dropped (drop-newest).
const QUEUE: usize = 16 * 1024;
/// Most messages handed to async-nats per wakeup of the publisher.
const BATCH: usize = 512;
/// Messages async-nats buffers for our subscription before it drops (slow consumer).
const SUBSCRIPTION_CAPACITY: usize = 256 * 1024;
/// A silent NATS server is declared gone after about two missed pings.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// How long shutdown waits for queued messages to reach NATS.
const FLUSH_GRACE: Duration = Duration::from_millis(500);
/// The one subscription of a node: every topic (see ARCHITECTURE.md, "Scale-out").
const ALL_TOPICS: &str = ">";

/// Why a node could not join the cluster (each message includes its cause).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("bad NATS address {url:?}: {reason}")]
    Url { url: String, reason: std::io::Error },
    #[error("connecting to NATS: {0}")]
    Connect(async_nats::ConnectError),
    #[error("subscribing on NATS: {0}")]
    Subscribe(async_nats::SubscribeError),
}

/// Checks that `url` is a NATS server address (`nats://HOST:PORT`, `HOST:PORT`, ...).
pub fn validate_url(url: &str) -> Result<(), ClusterError> {
    url.parse::<async_nats::ServerAddr>()
        .map(drop)
        .map_err(|reason| ClusterError::Url {
            url: url.to_owned(),
            reason,
        })
}

/// Counters of the NATS link, rendered into `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    published: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    rejected: AtomicU64,
    disconnects: AtomicU64,
    slow_consumer: AtomicU64,
}

/// One message on its way to NATS.
#[derive(Debug)]
struct Outgoing {
    subject: String,
    payload: Bytes,
    epoch: u64,
    prev_close: Option<f64>,
}

/// This node's membership of the cluster: the NATS client, the ingress broker whose
/// upstream is NATS, and the counters.
#[derive(Debug)]
pub struct Cluster {
    client: async_nats::Client,
    ingress: Broker,
    stats: Arc<Stats>,
    /// Reference prices of symbols that enter here, sent with their ticks.
    references: Arc<RwLock<HashMap<String, f64>>>,
}

impl Cluster {
    /// Joins the cluster at `url`: connects (retrying in the background, so nodes start
    /// in any order), subscribes to every topic for `broker`, and starts the publisher
    /// and the subscriber on `tracker` until `shutdown`.
    pub async fn start(
        url: &str,
        broker: Broker,
        max_subscriptions: usize,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, ClusterError> {
        validate_url(url)?;
        let stats = Arc::new(Stats::default());
        let events = stats.clone();
        let client = async_nats::ConnectOptions::new()
            .name(concat!("tickcast-server/", env!("CARGO_PKG_VERSION")))
            .retry_on_initial_connect()
            .ping_interval(PING_INTERVAL)
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                let stats = events.clone();
                async move { on_event(&stats, event) }
            })
            .connect(url)
            .await
            .map_err(ClusterError::Connect)?;
        let subscriber = client
            .subscribe(ALL_TOPICS)
            .await
            .map_err(ClusterError::Subscribe)?;

        let (queue, outgoing) = mpsc::channel(QUEUE);
        let references = Arc::new(RwLock::new(HashMap::new()));
        let upstream = upstream(queue, references.clone(), stats.clone());
        // The ingress broker only stamps and forwards: no subscribers, no ring.
        let ingress = Broker::with_upstream(
            0,
            max_subscriptions,
            Arc::new(Metrics::default()),
            Some(upstream),
        );
        tracker.spawn(publish(
            client.clone(),
            outgoing,
            stats.clone(),
            shutdown.clone(),
        ));
        tracker.spawn(subscribe(subscriber, broker, stats.clone(), shutdown));
        Ok(Self {
            client,
            ingress,
            stats,
            references,
        })
    }

    /// Where messages enter this node: stamps them and forwards them to NATS.
    pub fn ingress(&self) -> &Broker {
        &self.ingress
    }

    /// Records `symbol`'s reference price (sent on NATS with its ticks) on the ingress.
    pub fn set_reference_price(&self, symbol: &str, price: f64) {
        self.references
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(symbol.to_owned(), price);
        self.ingress.set_reference_price(symbol, price);
    }

    /// True while the NATS connection is up.
    pub fn ready(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// The NATS connection state in words, for `/healthz`.
    pub fn state(&self) -> &'static str {
        match self.client.connection_state() {
            State::Connected => "connected",
            State::Disconnected => "disconnected",
            State::Pending => "connecting",
        }
    }

    /// The NATS link's lines of `/metrics` (Prometheus text format).
    pub fn render_metrics(&self) -> String {
        let s = &self.stats;
        let connected = u64::from(self.ready());
        let lines: [(&str, &str, &str, u64); 7] = [
            (
                "tickcast_nats_connected",
                "gauge",
                "1 while the NATS connection is up.",
                connected,
            ),
            (
                "tickcast_nats_published_total",
                "counter",
                "Messages that entered through this node and were handed to NATS.",
                s.published.load(Relaxed),
            ),
            (
                "tickcast_nats_dropped_total",
                "counter",
                "Messages that entered through this node and were dropped (NATS down or too slow).",
                s.dropped.load(Relaxed),
            ),
            (
                "tickcast_nats_received_total",
                "counter",
                "Messages received from NATS and fanned out here.",
                s.received.load(Relaxed),
            ),
            (
                "tickcast_nats_rejected_total",
                "counter",
                "NATS messages that were not tickcast messages (ignored).",
                s.rejected.load(Relaxed),
            ),
            (
                "tickcast_nats_disconnects_total",
                "counter",
                "Times the NATS connection was lost.",
                s.disconnects.load(Relaxed),
            ),
            (
                "tickcast_nats_slow_consumer_total",
                "counter",
                "Times NATS messages were dropped because this node fell behind.",
                s.slow_consumer.load(Relaxed),
            ),
        ];
        let mut out = String::with_capacity(1024);
        for (name, kind, help, value) in lines {
            crate::metrics::write_series(&mut out, name, kind, help, value);
        }
        out
    }
}

fn on_event(stats: &Stats, event: Event) {
    match event {
        Event::Connected => tracing::info!("NATS connected"),
        Event::Disconnected => {
            stats.disconnects.fetch_add(1, Relaxed);
            tracing::warn!("NATS disconnected; reconnecting");
        }
        Event::SlowConsumer(_) => {
            // One event per dropped message: log the 1st, 2nd, 4th, 8th, ...
            let n = stats.slow_consumer.fetch_add(1, Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(
                    times = n,
                    "NATS dropped messages: this node is not keeping up"
                );
            }
        }
        other => tracing::info!(event = %other, "NATS"),
    }
}

/// The ingress broker's upstream: encodes the message and queues it without waiting
/// (it runs under the topic's lock).
fn upstream(
    queue: mpsc::Sender<Outgoing>,
    references: Arc<RwLock<HashMap<String, f64>>>,
    stats: Arc<Stats>,
) -> Upstream {
    Arc::new(move |msg: &ServerMessage, epoch: u64| {
        let (subject, prev_close) = match msg {
            ServerMessage::Tick(t) => (
                &t.topic,
                references
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(&t.symbol)
                    .copied(),
            ),
            ServerMessage::Bar(b) => (&b.topic, None),
            ServerMessage::Status(s) => (&s.topic, None),
            _ => return,
        };
        let payload = match tickcast_proto::encode(Encoding::MsgPack, msg) {
            Ok(bytes) => Bytes::from(bytes),
            Err(e) => {
                tracing::error!(error = %e, "encoding a message for NATS failed");
                return;
            }
        };
        let out = Outgoing {
            subject: subject.clone(),
            payload,
            epoch,
            prev_close,
        };
        if queue.try_send(out).is_err() {
            stats.dropped.fetch_add(1, Relaxed);
        }
    })
}

fn headers(out: &Outgoing) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(EPOCH_HEADER, out.epoch.to_string());
    if let Some(price) = out.prev_close {
        headers.insert(PREV_CLOSE_HEADER, price.to_string());
    }
    headers
}

/// Drains the queue into NATS until `shutdown`; what is queued while the connection is
/// down is dropped (delivering it late would replay stale prices as live ones).
async fn publish(
    client: async_nats::Client,
    mut queue: mpsc::Receiver<Outgoing>,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            n = queue.recv_many(&mut batch, BATCH) => if n == 0 { return },
            () = shutdown.cancelled() => break,
        }
        send(&client, &mut batch, &stats).await;
    }
    // Best effort: what entered before shutdown still reaches the others.
    let _ = tokio::time::timeout(FLUSH_GRACE, async {
        while let Ok(out) = queue.try_recv() {
            batch.push(out);
        }
        send(&client, &mut batch, &stats).await;
        let _ = client.flush().await;
    })
    .await;
}

async fn send(client: &async_nats::Client, batch: &mut Vec<Outgoing>, stats: &Stats) {
    if client.connection_state() != State::Connected {
        stats.dropped.fetch_add(batch.len() as u64, Relaxed);
        batch.clear();
        return;
    }
    for out in batch.drain(..) {
        let headers = headers(&out);
        match client
            .publish_with_headers(out.subject, headers, out.payload)
            .await
        {
            Ok(()) => stats.published.fetch_add(1, Relaxed),
            Err(e) => {
                tracing::debug!(error = %e, "NATS publish failed");
                stats.dropped.fetch_add(1, Relaxed)
            }
        };
    }
}

/// Fans out what NATS delivers to this node's clients until `shutdown`.
async fn subscribe(
    mut subscriber: Subscriber,
    broker: Broker,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    // Reference prices already given to the broker, so it is told only of changes.
    let mut references: HashMap<String, f64> = HashMap::new();
    loop {
        let msg = tokio::select! {
            msg = subscriber.next() => msg,
            () = shutdown.cancelled() => return,
        };
        let Some(msg) = msg else {
            tracing::warn!("NATS subscription ended");
            return;
        };
        let incoming = match decode(&msg.subject, msg.headers.as_ref(), &msg.payload) {
            Ok(incoming) => incoming,
            Err(e) => {
                stats.rejected.fetch_add(1, Relaxed);
                tracing::debug!(subject = %msg.subject, error = %e, "ignoring a NATS message");
                continue;
            }
        };
        if let (ServerMessage::Tick(t), Some(price)) = (&incoming.msg, incoming.prev_close) {
            if references.get(&t.symbol) != Some(&price) {
                references.insert(t.symbol.clone(), price);
                broker.set_reference_price(&t.symbol, price);
            }
        }
        broker.ingest(incoming.msg, incoming.epoch);
        stats.received.fetch_add(1, Relaxed);
    }
}

/// A tickcast message received from NATS.
#[derive(Debug, PartialEq)]
struct Incoming {
    msg: ServerMessage,
    epoch: u64,
    prev_close: Option<f64>,
}

/// Why a NATS message was not taken in.
#[derive(Debug, thiserror::Error)]
enum Rejected {
    #[error("no {EPOCH_HEADER} header")]
    NoEpoch,
    #[error("bad {EPOCH_HEADER} header {0:?}")]
    BadEpoch(String),
    #[error("bad {PREV_CLOSE_HEADER} header {0:?}")]
    BadPrevClose(String),
    #[error("not a tickcast message: {0}")]
    Decode(#[from] DecodeError),
    #[error("a {0} message is not carried between nodes")]
    Kind(&'static str),
    #[error("the message's topic {0:?} is not its subject")]
    Subject(String),
    #[error("bad topic: {0}")]
    Topic(#[from] tickcast_proto::TopicError),
}

/// Checks and decodes one NATS message.
fn decode(
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<Incoming, Rejected> {
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    let epoch = header(EPOCH_HEADER).ok_or(Rejected::NoEpoch)?;
    let epoch = epoch
        .parse::<u64>()
        .map_err(|_| Rejected::BadEpoch(epoch.to_owned()))?;
    let prev_close = header(PREV_CLOSE_HEADER)
        .map(|p| match p.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
            _ => Err(Rejected::BadPrevClose(p.to_owned())),
        })
        .transpose()?;
    let msg = tickcast_proto::decode_server(Encoding::MsgPack, payload)?;
    let topic = match &msg {
        ServerMessage::Tick(t) => &t.topic,
        ServerMessage::Bar(b) => &b.topic,
        ServerMessage::Status(s) => &s.topic,
        _ => return Err(Rejected::Kind(kind_name(&msg))),
    };
    if topic != subject {
        return Err(Rejected::Subject(topic.clone()));
    }
    tickcast_proto::validate_topic(topic)?;
    Ok(Incoming {
        msg,
        epoch,
        prev_close,
    })
}

fn kind_name(msg: &ServerMessage) -> &'static str {
    match msg {
        ServerMessage::Snapshot(_) => "snapshot",
        ServerMessage::Welcome(_) => "welcome",
        _ => "control",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tickcast_proto::Tick;

    fn tick() -> ServerMessage {
        ServerMessage::Tick(Tick {
            topic: "ticks.AAPL".into(),
            seq: 42,
            ts: 1_764_072_005_123_456_789,
            symbol: "AAPL".into(),
            price: 187.32,
            size: 100,
            bid: 187.31,
            ask: 187.33,
            volume: 1_000,
        })
    }

    fn wire(out: &Outgoing) -> (HeaderMap, Vec<u8>) {
        (headers(out), out.payload.to_vec())
    }

    #[test]
    fn what_the_upstream_queues_decodes_to_the_same_message() {
        let (tx, mut rx) = mpsc::channel(4);
        let references = Arc::new(RwLock::new(HashMap::from([("AAPL".to_owned(), 185.5)])));
        let up = upstream(tx, references, Arc::default());
        up(&tick(), 1_764_072_000_000_000);
        let out = rx.try_recv().unwrap();
        assert_eq!(out.subject, "ticks.AAPL");
        assert_eq!(
            out.payload,
            tickcast_proto::encode(Encoding::MsgPack, &tick()).unwrap(),
            "the payload is the client's MessagePack map, unchanged"
        );
        let (headers, payload) = wire(&out);
        let incoming = decode("ticks.AAPL", Some(&headers), &payload).unwrap();
        assert_eq!(
            incoming,
            Incoming {
                msg: tick(),
                epoch: 1_764_072_000_000_000,
                prev_close: Some(185.5),
            }
        );
    }

    #[test]
    fn a_full_queue_drops_the_newest_and_counts_it() {
        let (tx, mut rx) = mpsc::channel(1);
        let stats = Arc::new(Stats::default());
        let up = upstream(tx, Arc::default(), stats.clone());
        up(&tick(), 1);
        up(&tick(), 1);
        assert_eq!(stats.dropped.load(Relaxed), 1);
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn foreign_messages_are_rejected() {
        let payload = tickcast_proto::encode(Encoding::MsgPack, &tick()).unwrap();
        let mut headers = HeaderMap::new();
        assert!(matches!(
            decode("ticks.AAPL", None, &payload),
            Err(Rejected::NoEpoch)
        ));
        headers.insert(EPOCH_HEADER, "soon");
        assert!(matches!(
            decode("ticks.AAPL", Some(&headers), &payload),
            Err(Rejected::BadEpoch(_))
        ));
        headers.insert(EPOCH_HEADER, "7");
        assert!(matches!(
            decode("ticks.MSFT", Some(&headers), &payload),
            Err(Rejected::Subject(_))
        ));
        assert!(matches!(
            decode("ticks.AAPL", Some(&headers), b"hello"),
            Err(Rejected::Decode(_))
        ));
        let mut bad = tick();
        if let ServerMessage::Tick(t) = &mut bad {
            t.topic = "ticks.A$".into();
        }
        let bad = tickcast_proto::encode(Encoding::MsgPack, &bad).unwrap();
        assert!(matches!(
            decode("ticks.A$", Some(&headers), &bad),
            Err(Rejected::Topic(_))
        ));
        headers.insert(PREV_CLOSE_HEADER, "NaN");
        assert!(matches!(
            decode("ticks.AAPL", Some(&headers), &payload),
            Err(Rejected::BadPrevClose(_))
        ));
    }
}
