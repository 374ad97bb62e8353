//! `--nats`: feeds a tickcast cluster directly: connects, paces the stamped messages
//! ([`stamp`]) to the wall clock and publishes them, dropping rather than delaying.
//!
//! Each tick keeps the model's `seq` and `volume`, gets `ts` = the wall clock when it is
//! published, and goes to the NATS subject equal to its topic as the wire MessagePack map,
//! with this run's epoch (its start time in µs) and the symbol's reference price in
//! headers ([`tickcast_proto::nats`]). Bars are built here (once for the whole cluster)
//! from those ticks, and closed on a 100 ms clock when a symbol stops trading.
//!
//! In real time a full queue drops messages (counted, and visible to clients as gaps by
//! `seq`) rather than delaying the market; with `--speed inf` publishing waits for room
//! instead. Through JetStream a message waits out a reconnect or a stream-leader election
//! (up to 10 s, `tickcast_proto::nats::publisher`); through core NATS a connection that is
//! down drops it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use tickcast_proto::clock::unix_ns;
use tickcast_proto::nats::publisher::Publisher;
use tickcast_simulator::{Event, realtime};
use tokio::sync::mpsc;

mod stamp;

pub use stamp::Stamper;
use stamp::{MessageKind, Stamped};

/// Messages waiting for NATS; past this, real-time publishing drops the newest.
const QUEUE: usize = 16 * 1024;
/// How often bars whose interval has ended are closed.
const BAR_CLOCK: Duration = Duration::from_millis(100);
/// How long the history stream's creation may take (a NATS cluster elects its JetStream
/// leader a moment after it starts).
const STREAM_OPEN_LIMIT: Duration = Duration::from_secs(30);
/// How long the end of a run waits for queued messages to reach NATS.
const FLUSH_LIMIT: Duration = Duration::from_secs(10);

/// Counts of what this run handed to NATS, and of what it dropped.
#[derive(Default)]
struct Stats {
    ticks: AtomicU64,
    bars: AtomicU64,
    status: AtomicU64,
    books: AtomicU64,
    republished: AtomicU64,
    dropped: AtomicU64,
}

impl Stats {
    fn published(&self, kind: MessageKind) {
        let counter = match kind {
            MessageKind::Tick => &self.ticks,
            MessageKind::Bar => &self.bars,
            MessageKind::Status => &self.status,
            MessageKind::Book => &self.books,
        };
        counter.fetch_add(1, Relaxed);
    }
}

fn lock(stamper: &Mutex<Stamper>) -> MutexGuard<'_, Stamper> {
    stamper.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ticks of a pre-roll sent per topic: a node's default `--history`.
const PAST_TICKS: usize = 1024;
/// Bars of a pre-roll sent per bar topic: at least a node's default `--bar-history` of
/// every interval (3,600 1-second bars; the whole day of coarser ones).
const PAST_BARS: usize = 3600;

/// Stamps the pre-rolled `past` at each event's own time (bars built from it as live),
/// and keeps per topic only what a node keeps by default: the newest [`PAST_TICKS`] ticks,
/// [`PAST_BARS`] bars, and the latest status.
pub fn stamp_past(stamper: &mut Stamper, past: impl Iterator<Item = Event>) -> Vec<Stamped> {
    let mut kept: HashMap<String, VecDeque<Stamped>> = HashMap::new();
    let mut out = Vec::new();
    for event in past {
        let ts = event.ts();
        stamper.stamp(event, ts, &mut out);
        for msg in out.drain(..) {
            let window = match msg.kind {
                MessageKind::Tick => PAST_TICKS,
                MessageKind::Bar => PAST_BARS,
                MessageKind::Status => 1,
                MessageKind::Book => 0, // books start after the pre-roll
            };
            let topic = kept.entry(msg.envelope.topic.clone()).or_default();
            if topic.len() == window {
                topic.pop_front();
            }
            topic.push_back(msg);
        }
    }
    kept.into_values().flatten().collect()
}

/// Where the feed goes: the NATS server, and the replicas of the history stream when this
/// run creates it.
pub struct Target<'a> {
    pub url: &'a str,
    pub stream_replicas: usize,
}

/// Publishes the stamped `past` (waiting for NATS to take it), then `events` on the NATS
/// server at `url` at `speed` (virtual seconds per wall second; infinite: as fast as NATS
/// takes them) until they end or Ctrl-C, then prints a summary on stderr. With JetStream,
/// the stream that keeps the history is created first when it is missing, so what this
/// run publishes is kept even before any node runs.
pub fn publish(
    stamper: Stamper,
    past: Vec<Stamped>,
    events: impl Iterator<Item = Event>,
    target: &Target<'_>,
    speed: f64,
) -> anyhow::Result<()> {
    let url = target.url;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let client = async_nats::ConnectOptions::new()
            .name(concat!("tickcast-sim/", env!("CARGO_PKG_VERSION")))
            .event_callback(|event| async move {
                if !matches!(event, async_nats::Event::Closed) {
                    eprintln!("tickcast-sim: NATS {event}");
                }
            })
            .connect(
                tickcast_proto::nats::server_addrs(url)
                    .with_context(|| format!("bad NATS address {url:?}"))?,
            )
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        let stream_ready = Arc::new(AtomicBool::new(
            ensure_stream(&client, target.stream_replicas).await?,
        ));
        eprintln!(
            "tickcast-sim: publishing to {url} with epoch {}",
            stamper.epoch()
        );
        let stamper = Arc::new(Mutex::new(stamper));
        let stats = Arc::new(Stats::default());
        let (queue, outgoing) = mpsc::channel(QUEUE);
        let sender = tokio::spawn(send(
            Publisher::new(client.clone(), stream_ready),
            outgoing,
            stats.clone(),
        ));
        let past_len = past.len();
        for msg in past {
            if queue.send(msg).await.is_err() {
                break;
            }
        }
        if past_len > 0 {
            // Live messages are dropped when the queue is full (never delayed): let the past
            // reach NATS first, so the first live ones are not lost behind it.
            while queue.capacity() < QUEUE {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let _ = tokio::time::timeout(FLUSH_LIMIT, client.flush()).await;
            eprintln!("tickcast-sim: pre-rolled {past_len} messages");
        }

        let clock = tokio::spawn(bar_clock(stamper.clone(), queue.clone(), stats.clone()));
        tokio::select! {
            () = pace(events, speed, &stamper, &queue, &stats) => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        clock.abort();
        drop(queue);
        if tokio::time::timeout(FLUSH_LIMIT * 2, sender).await.is_err() {
            eprintln!("tickcast-sim: NATS did not take everything within {FLUSH_LIMIT:?}");
        }
        eprintln!(
            "tickcast-sim: published {} ticks, {} bars, {} status messages, {} book \
             messages ({} published again after a NATS failure); {} dropped (NATS down or \
             too slow)",
            stats.ticks.load(Relaxed),
            stats.bars.load(Relaxed),
            stats.status.load(Relaxed),
            stats.books.load(Relaxed),
            stats.republished.load(Relaxed),
            stats.dropped.load(Relaxed),
        );
        Ok(())
    })
}

/// Creates the history stream when NATS has JetStream and the stream is missing; true
/// when the stream is there (what this run publishes on kept topics is then acknowledged).
async fn ensure_stream(client: &async_nats::Client, replicas: usize) -> anyhow::Result<bool> {
    if !client.server_info().jetstream {
        eprintln!("tickcast-sim: NATS without JetStream: nodes keep only what they receive");
        return Ok(false);
    }
    let per_subject = i64::try_from(PAST_BARS.max(PAST_TICKS)).unwrap_or(i64::MAX);
    let config = tickcast_proto::nats::stream_config(per_subject, replicas);
    let jetstream = async_nats::jetstream::new(client.clone());
    tickcast_proto::nats::open_stream(&jetstream, config, STREAM_OPEN_LIMIT)
        .await
        .map_err(anyhow::Error::msg)
        .context("opening the JetStream stream that keeps the history")?;
    eprintln!(
        "tickcast-sim: the history is kept in the JetStream stream {}",
        tickcast_proto::nats::STREAM
    );
    Ok(true)
}

async fn pace(
    events: impl Iterator<Item = Event>,
    speed: f64,
    stamper: &Mutex<Stamper>,
    queue: &mpsc::Sender<Stamped>,
    stats: &Stats,
) {
    let mut out = Vec::new();
    if speed.is_infinite() {
        for event in events {
            lock(stamper).stamp(event, unix_ns(), &mut out);
            for msg in out.drain(..) {
                if queue.send(msg).await.is_err() {
                    return;
                }
            }
        }
        return;
    }
    realtime::run_batches(events, speed, |batch| {
        let now = unix_ns();
        let mut stamper = lock(stamper);
        for event in batch.drain(..) {
            stamper.stamp(event, now, &mut out);
        }
        drop(stamper);
        for msg in out.drain(..) {
            if queue.try_send(msg).is_err() {
                stats.dropped.fetch_add(1, Relaxed);
            }
        }
        true
    })
    .await;
}

async fn bar_clock(stamper: Arc<Mutex<Stamper>>, queue: mpsc::Sender<Stamped>, stats: Arc<Stats>) {
    let mut interval = tokio::time::interval(BAR_CLOCK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut out = Vec::new();
    loop {
        interval.tick().await;
        lock(&stamper).close_due(unix_ns(), &mut out);
        for msg in out.drain(..) {
            if queue.try_send(msg).is_err() {
                stats.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// Hands queued messages to NATS (through JetStream with acknowledgements when the stream
/// is there: [`Publisher`], which also says what becomes of them while the connection is
/// down).
async fn send(mut publisher: Publisher, mut queue: mpsc::Receiver<Stamped>, stats: Arc<Stats>) {
    loop {
        let msg = tokio::select! {
            msg = queue.recv() => msg,
            () = publisher.progress() => continue,
        };
        let Some(msg) = msg else { break };
        stats.published(msg.kind);
        publisher.send(msg.envelope).await;
    }
    publisher.flush(FLUSH_LIMIT).await;
    let outcome = publisher.outcome();
    stats.dropped.fetch_add(outcome.lost, Relaxed);
    stats.republished.store(outcome.republished, Relaxed);
}
