//! The real-time driver, under tokio's paused clock: pacing by virtual time and speed,
//! batching of due events, and stopping.

use tokio::time::Instant;

use tickcast_simulator::{Arrivals, Config, Event, Market, realtime};

fn market(rate: f64) -> Market {
    Market::new(Config {
        rate,
        arrivals: Arrivals::Constant,
        ..Config::default()
    })
    .expect("valid config")
}

/// Runs `n` events of a constant-rate market; returns (wall seconds, batches, events).
async fn pace(rate: f64, speed: f64, n: usize) -> (f64, usize, usize) {
    let start = Instant::now();
    let (mut batches, mut events) = (0, 0);
    realtime::run_batches(market(rate).take(n), speed, |batch| {
        batches += 1;
        events += batch.len();
        true
    })
    .await;
    (start.elapsed().as_secs_f64(), batches, events)
}

#[tokio::test(start_paused = true)]
async fn paces_virtual_time_at_speed() {
    // 1,001 events at 1,000/s span one virtual second after the first.
    let (wall, _, events) = pace(1_000.0, 1.0, 1_001).await;
    assert_eq!(events, 1_001);
    assert!((1.0..1.01).contains(&wall), "{wall}");
    let (wall, _, _) = pace(1_000.0, 10.0, 1_001).await;
    assert!((0.1..0.11).contains(&wall), "{wall}");
    let (wall, _, _) = pace(1_000.0, 0.0, 1_001).await;
    assert!((1.0..1.01).contains(&wall), "speed 0 means 1: {wall}");
    let (wall, batches, _) = pace(1_000.0, f64::INFINITY, 100_000).await;
    assert!(wall < 0.001 && batches < 100, "{wall} s, {batches} batches");
}

#[tokio::test(start_paused = true)]
async fn due_events_are_batched_at_high_rates() {
    // 200k events/s for half a second: far fewer wake-ups than events.
    let (wall, batches, events) = pace(200_000.0, 1.0, 100_000).await;
    assert!((0.5..0.51).contains(&wall), "{wall}");
    assert!(
        batches * 50 < events,
        "{batches} batches for {events} events"
    );
}

#[test]
fn the_driver_future_can_be_spawned() {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let mut count = 0u64;
    let future = realtime::run(market(10.0), 1.0, move |_| {
        count += 1;
        count < 10
    });
    assert_send(&future);
}

#[tokio::test(start_paused = true)]
async fn sink_false_stops_and_order_is_kept() {
    let mut seen: Vec<Event> = Vec::new();
    realtime::run(market(100.0), 1.0, |e| {
        seen.push(e);
        seen.len() < 250
    })
    .await;
    assert_eq!(seen.len(), 250);
    let expected: Vec<Event> = market(100.0).take(250).collect();
    assert_eq!(seen, expected);
    let mut nothing = 0;
    realtime::run(Vec::new(), 1.0, |_| {
        nothing += 1;
        true
    })
    .await;
    assert_eq!(nothing, 0);
}
