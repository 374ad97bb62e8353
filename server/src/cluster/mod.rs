//! Cluster mode: this node's membership of a NATS cluster (`--broker nats://...`): the
//! connection, its errors and the handle the server keeps.
//!
//! What enters through a node (its embedded simulator, a WebSocket `publish`) is stamped
//! by that node's ingress broker (`seq`, `ts`, bars) and handed, through a bounded queue,
//! to a task that publishes it on NATS ([`egress`]) in the one envelope
//! ([`tickcast_proto::nats::Envelope`]). Every node, the entry node included, subscribes
//! to `>` and ingests what NATS delivers into its local broker ([`ingest`]), which fans
//! out to its clients and keeps the rings, so every node holds every topic's history and
//! serves `since`.
//!
//! With JetStream, history outlives the nodes: NATS keeps each topic's newest messages in a
//! stream, and a node that starts reads it before it reports ready ([`durable`]).
//!
//! NATS down or slow: the publish path never waits. While the connection is down, or
//! when the queue is full, messages are dropped and counted (`tickcast_nats_dropped_total`);
//! clients see the hole by `seq`. `/healthz` says not-ready until async-nats reconnects
//! (it retries forever and resubscribes by itself) ([`health`]).

mod durable;
mod egress;
mod health;
mod ingest;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;
use crate::metrics::Metrics;
use crate::retention::Retention;
use health::LinkCounters;

/// Messages async-nats buffers for our subscription before it drops (slow consumer).
const SUBSCRIPTION_CAPACITY: usize = 256 * 1024;
/// A silent NATS server is declared gone after about two missed pings.
const PING_INTERVAL: Duration = Duration::from_secs(5);

/// Why a node could not join the cluster (the cause is in `source()`).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("bad NATS address {url:?}")]
    Url {
        url: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connecting to NATS")]
    Connect(#[source] async_nats::ConnectError),
    #[error("subscribing on NATS")]
    Subscribe(#[source] async_nats::SubscribeError),
}

/// Checks that `url` is a NATS server address (`nats://HOST:PORT`, `HOST:PORT`, ...) or
/// several, comma-separated (the members of a NATS cluster).
pub fn validate_url(url: &str) -> Result<(), ClusterError> {
    server_addrs(url).map(drop)
}

fn server_addrs(url: &str) -> Result<Vec<async_nats::ServerAddr>, ClusterError> {
    tickcast_proto::nats::server_addrs(url).map_err(|source| ClusterError::Url {
        url: url.to_owned(),
        source,
    })
}

/// This node's membership of the cluster: the NATS client, the ingress broker whose
/// upstream is NATS, and the counters.
#[derive(Debug)]
pub struct Cluster {
    client: async_nats::Client,
    ingress: Broker,
    counters: Arc<LinkCounters>,
}

impl Cluster {
    /// Joins the cluster at `url`: connects (retrying in the background, so nodes start
    /// in any order), subscribes to every topic for `broker`, and starts the publisher
    /// and the subscriber on `tracker` until `shutdown`; with JetStream, the stream that
    /// keeps `retention` of every topic is read first.
    pub async fn start(
        url: &str,
        broker: Broker,
        retention: Retention,
        stream_replicas: usize,
        max_subscriptions: usize,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> Result<Self, ClusterError> {
        let addrs = server_addrs(url)?;
        let counters = Arc::new(LinkCounters::default());
        let events = counters.clone();
        let client = async_nats::ConnectOptions::new()
            .name(concat!("tickcast-server/", env!("CARGO_PKG_VERSION")))
            .retry_on_initial_connect()
            .ping_interval(PING_INTERVAL)
            .subscription_capacity(SUBSCRIPTION_CAPACITY)
            .event_callback(move |event| {
                let counters = events.clone();
                async move { health::on_event(&counters, event) }
            })
            .connect(addrs)
            .await
            .map_err(ClusterError::Connect)?;
        let subscriber = client
            .subscribe(ingest::ALL_TOPICS)
            .await
            .map_err(ClusterError::Subscribe)?;

        let (queue, outgoing) = mpsc::channel(egress::QUEUE);
        // The ingress broker only stamps and forwards: no subscribers, no ring.
        let ingress = Broker::with_upstream(
            Retention::NONE,
            max_subscriptions,
            Arc::new(Metrics::default()),
            Some(egress::upstream(queue, counters.clone())),
        );
        // Kept topics go through JetStream (acknowledged) once the stream is open.
        let stream_ready = Arc::new(AtomicBool::new(false));
        tracker.spawn(egress::run(
            client.clone(),
            outgoing,
            counters.clone(),
            stream_ready.clone(),
            shutdown.clone(),
        ));
        let (nats, links) = (client.clone(), counters.clone());
        let tasks = tracker.clone();
        tracker.spawn(async move {
            // The subscription buffers meanwhile: nothing is taken in before the node
            // knows where the kept topics come from.
            let stream = durable::open(&nats, &retention, stream_replicas, &shutdown).await;
            let take_in = ingest::TakeIn::new(broker.clone(), links.clone());
            match stream {
                Some(stream) => {
                    stream_ready.store(true, Relaxed);
                    tasks.spawn(durable::run(stream, broker, links, shutdown.clone()));
                    ingest::run(subscriber, take_in, tickcast_proto::nats::kept, shutdown).await;
                }
                None => {
                    links.plain.store(true, Relaxed);
                    ingest::run(subscriber, take_in, |_| false, shutdown).await;
                }
            }
        });
        Ok(Self {
            client,
            ingress,
            counters,
        })
    }

    /// Where messages enter this node: stamps them and forwards them to NATS.
    pub fn ingress(&self) -> &Broker {
        &self.ingress
    }

    /// Records `symbol`'s reference price on the ingress (sent on NATS with its ticks).
    pub fn set_reference_price(&self, symbol: &str, price: f64) {
        self.ingress.set_reference_price(symbol, price);
    }

    /// True while the NATS connection is up and the history is loaded (with JetStream:
    /// read from the stream up to what it held at the last connection).
    pub fn ready(&self) -> bool {
        health::ready(&self.client) && self.counters.history_loaded()
    }

    /// The NATS connection state in words, for `/healthz`.
    pub fn state(&self) -> &'static str {
        health::state(&self.client)
    }

    /// The NATS link's lines of `/metrics` (Prometheus text format).
    pub fn render_metrics(&self) -> String {
        health::render_metrics(&self.counters, health::ready(&self.client))
    }
}
