//! The embedded market simulator feeding the broker: its pre-roll (the past loaded at
//! start), then real time, with order books when they are on; and the bar clock.

use std::time::{Duration, Instant};

use tickcast_simulator::{Event, Market, Preroll, realtime};
use tokio_util::sync::CancellationToken;

use crate::broker::{BookDelta, Broker, Past, PrerollStats};
use crate::retention::Retention;
use crate::unix_ns;

/// Rounds of catching up with the clock after the pre-roll, at most.
const CATCH_UP_ROUNDS: usize = 4;
/// A round shorter than this leaves nothing worth catching up.
const CAUGHT_UP: Duration = Duration::from_millis(20);

/// How often bars whose interval has ended are closed and published.
const BAR_CLOCK: Duration = Duration::from_millis(100);

/// A market ready to go live: its pre-roll is loaded, `first` is its first live event.
pub struct Live {
    market: Market,
    first: Option<Event>,
}

/// Sets the reference prices, then loads everything `market` did before now (it was
/// started `preroll` ago: `Preroll::start_ns`) into `broker`, keeping what `window` keeps;
/// then turns the order books on (`books`): a book is state, so its past is not replayed,
/// and each symbol's book starts with its next trade. CPU-bound: call it off the async
/// workers.
pub fn preroll(broker: &Broker, mut market: Market, window: &Retention, books: bool) -> Live {
    for instrument in market.instruments() {
        broker.set_reference_price(&instrument.symbol, instrument.price);
    }
    let started = Instant::now();
    let mut first = None;
    let mut stats = PrerollStats::default();
    // Time passes while the past is loaded: catch up with what fell due meanwhile, so live
    // trading continues from now without a quiet stretch (a few rounds, each far shorter).
    for _ in 0..CATCH_UP_ROUNDS {
        let round = Instant::now();
        let mut past = Preroll::past(&mut market, unix_ns());
        let events = first.take().into_iter().chain(past.by_ref());
        stats += broker.preroll(events.filter_map(past_of), window);
        first = past.into_first_live();
        if round.elapsed() < CAUGHT_UP || first.is_none() {
            break;
        }
    }
    if stats.ticks > 0 {
        tracing::info!(
            ticks = stats.ticks,
            bars = stats.bars,
            kept = stats.kept,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "pre-rolled the market"
        );
    }
    if books {
        if let Err(e) = market.start_books() {
            tracing::warn!(error = %e, "order books are off: the simulator cannot start them");
        }
    }
    Live { market, first }
}

fn past_of(event: Event) -> Option<Past> {
    match event {
        Event::Tick(t) => Some(Past::Trade(t)),
        Event::Status(s) => Some(Past::Status(s)),
        Event::Book(_) => None,
    }
}

/// Publishes the market's events as they fall due until `shutdown`. The broker
/// stamps `seq` and `ts` (the moment the tick enters the server).
pub async fn run(broker: Broker, live: Live, shutdown: CancellationToken) {
    let events = live.first.into_iter().chain(live.market);
    let publish = realtime::run(events, 1.0, |event| {
        match event {
            Event::Tick(mut tick) => {
                tick.ts = 0;
                broker.publish_tick(tick);
            }
            Event::Status(mut status) => {
                status.ts = 0;
                broker.publish_status(status);
            }
            Event::Book(change) => broker.publish_book(&BookDelta {
                topic: change.topic,
                symbol: change.symbol,
                ts: unix_ns(),
                tick_size: change.tick_size,
                full: change.full,
                bids: change.bids,
                asks: change.asks,
            }),
        }
        !shutdown.is_cancelled()
    });
    tokio::select! {
        () = publish => tracing::info!("simulator stopped"),
        () = shutdown.cancelled() => {}
    }
}

/// The virtual clock origin of a simulator whose pre-roll of `length` ends now.
pub fn start_ns(length: Duration) -> u64 {
    Preroll::new(length).start_ns(unix_ns())
}

/// Closes bars on time even when a symbol stops trading.
pub async fn bar_clock(broker: Broker, shutdown: CancellationToken) {
    let mut interval = tokio::time::interval(BAR_CLOCK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = interval.tick() => broker.close_due_bars(unix_ns()),
            () = shutdown.cancelled() => return,
        }
    }
}
