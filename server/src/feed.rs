//! The embedded market simulator feeding the broker: its pre-roll (the past loaded at
//! start), then real time; and the bar clock.

use std::time::{Duration, Instant};

use tickcast_simulator::{Event, Market, Preroll, realtime};
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, Past};
use crate::retention::Retention;
use crate::unix_ns;

/// How often bars whose interval has ended are closed and published.
const BAR_CLOCK: Duration = Duration::from_millis(100);

/// A market ready to go live: its pre-roll is loaded, `first` is its first live event.
pub struct Live {
    market: Market,
    first: Option<Event>,
}

/// Sets the reference prices, then loads everything `market` did before now (it was
/// started `preroll` ago: `Preroll::start_ns`) into `broker`, keeping what `window` keeps.
/// CPU-bound: call it off the async workers.
pub fn preroll(broker: &Broker, mut market: Market, window: &Retention) -> Live {
    for instrument in market.instruments() {
        broker.set_reference_price(&instrument.symbol, instrument.price);
    }
    let started = Instant::now();
    let mut past = Preroll::past(&mut market, unix_ns());
    let stats = broker.preroll(
        // Book changes are not served yet: the simulator's books are off here.
        past.by_ref().filter_map(|event| match event {
            Event::Tick(t) => Some(Past::Trade(t)),
            Event::Status(s) => Some(Past::Status(s)),
            Event::Book(_) => None,
        }),
        window,
    );
    let first = past.into_first_live();
    if stats.ticks > 0 {
        tracing::info!(
            ticks = stats.ticks,
            bars = stats.bars,
            kept = stats.kept,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "pre-rolled the market"
        );
    }
    Live { market, first }
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
            // Not served yet (issue #17's server part decides).
            Event::Book(_) => {}
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
