//! `--publish`: feeds a tickcast server through `tickcast_client`'s [`Publisher`], the
//! pre-roll first (each past trade with its `ts`), then paced in real time.

use std::time::Duration;

use anyhow::Context as _;
use tickcast_client::{Publisher, PublisherConfig, PublisherState};
use tickcast_proto::{Publish, Tick};
use tickcast_simulator::{Event, realtime};

use super::{Args, counted};

/// How long `--publish` waits for the server's answers after the last tick.
const FLUSH_LIMIT: Duration = Duration::from_secs(10);
/// ... and after Ctrl-C.
const INTERRUPTED_FLUSH_LIMIT: Duration = Duration::from_secs(1);

/// `--publish`: paces the ticks in real time (`--speed`, default 1; "inf" = as fast as
/// the server acks) into a [`Publisher`], then waits for the answers and prints a summary
/// on stderr. Fails when the publisher gave up for good (bad token, untrusted
/// certificate, ...).
pub fn publish(
    events: impl IntoIterator<Item = Event>,
    past_until_ns: Option<u64>,
    url: &str,
    args: &Args,
) -> anyhow::Result<()> {
    let token = args.token.clone().context("--publish needs --token")?;
    let mut config = PublisherConfig::new(url, token);
    if let Some(ca) = &args.ca_cert {
        config = config.ca_cert(ca);
    }
    let speed = args.speed.unwrap_or(1.0);
    let mut events = events.into_iter().peekable();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let publisher = Publisher::spawn(config).context("invalid --publish settings")?;
        let notes = tokio::spawn(report(publisher.state(), url.to_owned()));
        if let Some(until) = past_until_ns {
            let mut sent = 0u64;
            while let Some(event) = events.next_if(|e| e.ts() < until) {
                if let Event::Tick(tick) = event {
                    let ts = tick.ts;
                    let past = Publish {
                        ts: Some(ts),
                        ..publish_of(tick)
                    };
                    if publisher.publish(past).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
            }
            eprintln!("tickcast-sim: pre-rolled {sent} trades");
        }
        let events = counted(events, args.count);
        let interrupted = tokio::select! {
            () = pace(events, speed, &publisher) => false,
            _ = tokio::signal::ctrl_c() => true,
        };
        let limit = if interrupted {
            INTERRUPTED_FLUSH_LIMIT
        } else {
            FLUSH_LIMIT
        };
        let _ = tokio::time::timeout(limit, publisher.flush()).await;
        let state = publisher.state().borrow().clone();
        let stats = publisher.shutdown().await;
        notes.abort();
        eprintln!(
            "tickcast-sim: published {} ticks: {} acked, {} rejected, {} unanswered, {} dropped \
             (queue full), {} not sent",
            stats.queued + stats.dropped,
            stats.acked,
            stats.rejected,
            stats.unanswered,
            stats.dropped,
            stats.discarded,
        );
        if let Some(error) = &stats.last_error {
            eprintln!("tickcast-sim: last error from the server: {error}");
        }
        match state {
            PublisherState::Disconnected {
                reason,
                retry_in: None,
            } => {
                anyhow::bail!("publishing to {url} failed: {reason}")
            }
            _ => Ok(()),
        }
    })
}

/// Feeds the ticks of `events` to `publisher` at `speed`; ends with the events or when the
/// publisher stops for good.
async fn pace(events: impl Iterator<Item = Event>, speed: f64, publisher: &Publisher) {
    if speed.is_infinite() {
        // No clock: as fast as the queue drains (`publish` waits for room).
        for tick in events.filter_map(into_tick) {
            if publisher.publish(publish_of(tick)).await.is_err() {
                return;
            }
        }
        return;
    }
    // In real time a full queue drops ticks (counted) rather than delaying the market.
    realtime::run_batches(events, speed, |batch| {
        batch.drain(..).filter_map(into_tick).all(|tick| {
            !matches!(
                publisher.try_publish(publish_of(tick)),
                Err(tickcast_client::ClientError::Stopped)
            )
        })
    })
    .await;
}

fn into_tick(event: Event) -> Option<Tick> {
    match event {
        Event::Tick(t) => Some(t),
        Event::Status(_) | Event::Book(_) => None,
    }
}

/// The trade of `tick`; the server stamps `seq`, `ts` and the volume itself.
fn publish_of(tick: Tick) -> Publish {
    Publish {
        id: None,
        topic: tick.topic,
        price: tick.price,
        size: tick.size,
        // A replayed penny stock can have a zero bid; the server then quotes the price.
        bid: (tick.bid > 0.0).then_some(tick.bid),
        ask: (tick.ask > 0.0).then_some(tick.ask),
        ts: None,
    }
}

/// Connection notes on stderr while publishing (the final failure is reported by
/// [`publish`]).
async fn report(mut state: tokio::sync::watch::Receiver<PublisherState>, url: String) {
    while state.changed().await.is_ok() {
        let note = match &*state.borrow_and_update() {
            PublisherState::Connected { server, addr } => {
                format!("publishing to {url} ({server} at {addr})")
            }
            PublisherState::Disconnected {
                reason,
                retry_in: Some(d),
            } => format!(
                "disconnected: {reason}; reconnecting in {} ms",
                d.as_millis()
            ),
            _ => continue,
        };
        eprintln!("tickcast-sim: {note}");
    }
}
