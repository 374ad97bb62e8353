//! Pre-roll: a market that has already been trading when its feed starts. A driver starts
//! the market `preroll` before now ([`Preroll::start_ns`]), hands everything that happened
//! before now to its sink at once ([`Preroll::past`]), then paces the rest to the wall
//! clock. The same seed and the same `now` give the same past, event for event.

use std::time::Duration;

use crate::event::Event;
use crate::market::Market;

/// How much market time has passed when a feed starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preroll {
    pub length: Duration,
}

/// `6h30m`, `90m`, `0` (none): a duration as humantime writes it.
impl std::str::FromStr for Preroll {
    type Err = humantime::DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim()).map(Self::new)
    }
}

impl std::fmt::Display for Preroll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", humantime::format_duration(self.length))
    }
}

impl Preroll {
    /// A trading day (6 h 30 min): a 1-minute chart 390 bars wide, every coarser interval
    /// a whole session, 3,600 1-second bars and a full tick history from the first frame.
    pub const DEFAULT: Duration = Duration::from_secs(6 * 3600 + 30 * 60);

    pub const fn new(length: Duration) -> Self {
        Self { length }
    }

    /// The virtual clock origin (`Config::start_ns`) for a market whose pre-roll ends at
    /// `now_ns`.
    pub fn start_ns(self, now_ns: u64) -> u64 {
        let length_ns = u64::try_from(self.length.as_nanos()).unwrap_or(u64::MAX);
        now_ns.saturating_sub(length_ns)
    }

    /// The events of `market` before `until_ns`, in order, as fast as they are made; then
    /// [`PastEvents::into_first_live`] gives the first event at or after `until_ns`.
    pub fn past(market: &mut Market, until_ns: u64) -> PastEvents<'_> {
        PastEvents {
            market,
            until_ns,
            first_live: None,
        }
    }
}

/// A market's events before a moment (see [`Preroll::past`]).
#[derive(Debug)]
pub struct PastEvents<'a> {
    market: &'a mut Market,
    until_ns: u64,
    first_live: Option<Event>,
}

impl PastEvents<'_> {
    /// The first event at or after the end of the past (`None` when the market ended
    /// before it), once the past has been iterated to its end.
    pub fn into_first_live(self) -> Option<Event> {
        self.first_live
    }
}

impl Iterator for PastEvents<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.first_live.is_some() {
            return None;
        }
        let event = self.market.next()?;
        if event.ts() >= self.until_ns {
            self.first_live = Some(event);
            return None;
        }
        Some(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    const NOW_NS: u64 = 1_764_072_000_000_000_000;

    fn past(seed: u64) -> (Vec<Event>, Option<Event>) {
        let preroll = Preroll::new(Duration::from_secs(60));
        let config = Config {
            seed,
            start_ns: preroll.start_ns(NOW_NS),
            ..Config::default()
        };
        let mut market = Market::new(config).unwrap();
        let mut past = Preroll::past(&mut market, NOW_NS);
        let events: Vec<Event> = past.by_ref().collect();
        assert_eq!(past.next(), None, "the past stays ended");
        (events, past.into_first_live())
    }

    #[test]
    fn covers_the_length_before_now_and_hands_over_the_first_live_event() {
        let (events, first_live) = past(7);
        // 60 s at 200 trades/s.
        assert!((10_000..14_000).contains(&events.len()), "{}", events.len());
        let start = NOW_NS - 60_000_000_000;
        assert!(events.iter().all(|e| (start..NOW_NS).contains(&e.ts())));
        assert!(events.windows(2).all(|w| w[0].ts() <= w[1].ts()));
        assert!(first_live.is_some_and(|e| e.ts() >= NOW_NS));
    }

    #[test]
    fn the_same_seed_and_now_give_the_same_past() {
        assert_eq!(past(7), past(7));
        assert_ne!(past(7).0, past(8).0);
    }

    #[test]
    fn parses_and_prints_durations() {
        let day: Preroll = "6h 30m".parse().unwrap();
        assert_eq!(day.length, Preroll::DEFAULT);
        assert_eq!(day.to_string().parse(), Ok(day));
        assert_eq!("0".parse(), Ok(Preroll::new(Duration::ZERO)));
        assert!("soon".parse::<Preroll>().is_err());
    }

    #[test]
    fn books_started_after_the_past_trade_at_once_with_no_past_flow() {
        let preroll = Preroll::new(Duration::from_secs(3600));
        let mut market = Market::new(Config {
            start_ns: preroll.start_ns(NOW_NS),
            ..Config::default()
        })
        .unwrap();
        let mut past = Preroll::past(&mut market, NOW_NS);
        past.by_ref().for_each(drop);
        let first = past.into_first_live();
        market.start_books().unwrap();
        // Trades keep coming at the market's rate: the first thousand events after the start
        // are mostly book changes around trades, none of them from the past.
        let events: Vec<Event> = first
            .into_iter()
            .chain(market.by_ref().take(1000))
            .collect();
        let trades = events
            .iter()
            .filter(|e| matches!(e, Event::Tick(_)))
            .count();
        assert!(trades >= 50, "{trades} trades in 1,000 events");
        // (Each symbol's first, `full`, change carries the books' creation time.)
        let early: Vec<_> = events
            .iter()
            .filter(|e| !e.as_book().is_some_and(|b| b.full) && e.ts() < NOW_NS - 1_000_000_000)
            .map(|e| (e.topic().to_owned(), e.ts()))
            .take(3)
            .collect();
        assert!(early.is_empty(), "no order flow from the past: {early:?}");
    }

    #[test]
    fn a_zero_preroll_starts_now() {
        assert_eq!(Preroll::new(Duration::ZERO).start_ns(NOW_NS), NOW_NS);
        assert_eq!(Preroll::new(Duration::MAX).start_ns(NOW_NS), 0);
    }
}
