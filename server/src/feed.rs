//! The embedded market simulator feeding the broker in real time, and the bar clock.

use std::time::Duration;

use tickcast_simulator::{Event, Market, realtime};
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::unix_ns;

/// How often bars whose interval has ended are closed and published.
const BAR_CLOCK: Duration = Duration::from_millis(100);

/// Publishes the market's events as they fall due until `shutdown`. The broker
/// stamps `seq` and `ts` (the moment the tick enters the server).
pub async fn run(broker: Broker, market: Market, shutdown: CancellationToken) {
    for instrument in market.instruments() {
        broker.set_reference_price(&instrument.symbol, instrument.price);
    }
    let publish = realtime::run(market, 1.0, |event| {
        match event {
            Event::Tick(mut tick) => {
                tick.ts = 0;
                broker.publish_tick(tick);
            }
            Event::Status(mut status) => {
                status.ts = 0;
                broker.publish_status(status);
            }
        }
        !shutdown.is_cancelled()
    });
    tokio::select! {
        () = publish => tracing::info!("simulator stopped"),
        () = shutdown.cancelled() => {}
    }
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
