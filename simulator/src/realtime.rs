//! The real-time driver: paces any event stream (a [`crate::Market`], a replay) to the
//! wall clock with tokio timers, delivering everything that is due in one batch.
//!
//! Event `ts` is virtual time; the first event is delivered at once and every later one
//! `(ts - first ts) / speed` after it. At high rates the driver sleeps once per timer
//! tick and hands over all events due by then, never once per event.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::event::Event;

/// The most events handed over in one batch (the driver yields between batches).
pub const MAX_BATCH: usize = 4096;

/// The longest the driver waits for one event (30 years): keeps instants finite.
const MAX_WAIT: Duration = Duration::from_secs(30 * 365 * 86_400);

/// Paces `events` at `speed` virtual seconds per wall second, calling `sink` for each;
/// returns when the events end or `sink` returns `false`. `speed` = `f64::INFINITY`
/// means no pacing; a `speed` that is not > 0 is taken as 1.
pub async fn run<I>(events: I, speed: f64, mut sink: impl FnMut(Event) -> bool)
where
    I: IntoIterator<Item = Event>,
{
    run_batches(events, speed, |batch| batch.drain(..).all(&mut sink)).await;
}

/// Like [`run`], but hands over every batch of due events at once (in time order), so a
/// sink can fan out under one lock or flush once per batch. The batch is cleared after
/// each call; `false` stops the driver.
pub async fn run_batches<I>(events: I, speed: f64, mut sink: impl FnMut(&mut Vec<Event>) -> bool)
where
    I: IntoIterator<Item = Event>,
{
    let speed = if speed > 0.0 { speed } else { 1.0 };
    let mut events = events.into_iter();
    let mut pending = events.next();
    let Some(origin) = pending.as_ref().map(Event::ts) else {
        return;
    };
    let start = Instant::now();
    let due = |ts: u64| {
        let secs = ts.saturating_sub(origin) as f64 / 1e9 / speed;
        start + Duration::try_from_secs_f64(secs).map_or(MAX_WAIT, |d| d.min(MAX_WAIT))
    };
    let mut batch = Vec::with_capacity(256);
    loop {
        let now = Instant::now();
        while let Some(event) = pending.take() {
            if batch.len() >= MAX_BATCH || due(event.ts()) > now {
                pending = Some(event);
                break;
            }
            batch.push(event);
            pending = events.next();
        }
        if !batch.is_empty() {
            let go_on = sink(&mut batch);
            batch.clear();
            if !go_on {
                return;
            }
        }
        let Some(next) = pending.as_ref() else {
            return;
        };
        let at = due(next.ts());
        if at > Instant::now() {
            sleep_until(at).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}
