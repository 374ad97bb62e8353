//! The market: draws trade arrivals, steps each symbol's price, fires halts, moves the
//! order books (when on), and yields [`Event`]s in virtual-time order as an endless
//! iterator.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, weighted::WeightedAliasIndex};
use tickcast_proto::{MarketState, Status, Tick};

use crate::book::{BookView, Books};
use crate::config::{Arrivals, Config, ConfigError};
use crate::dynamics::{Factor, Params, SymbolState};
use crate::event::Event;
use crate::quote::{Quote, TickGrid, trade_size};
use crate::schedule::{Action, Schedule};
use crate::session_stats::SessionStats;
use crate::universe::Instrument;

/// The least time a random halt lasts, in virtual nanoseconds.
const MIN_HALT_NS: u64 = 1_000_000_000;

/// A simulated market in virtual time. Iterating never ends (only a market halted for
/// good, with nothing scheduled, would stop); the same [`Config`] always
/// yields the same events.
///
/// ```
/// use tickcast_simulator::{Config, Event, Market};
/// let market = Market::new(Config { books: true, ..Config::default() }).unwrap();
/// let ticks: Vec<_> = market.filter_map(|e| match e {
///     Event::Tick(t) => Some(t),
///     Event::Status(_) | Event::Book(_) => None,
/// }).take(3).collect();
/// assert!(ticks.iter().all(|t| t.bid < t.ask && t.seq >= 1));
/// ```
#[derive(Debug, Clone)]
pub struct Market {
    config: Config,
    rng: ChaCha8Rng,
    params: Params,
    factor: Factor,
    clock: Clock,
    topics: Vec<TopicState>,
    states: Vec<SymbolState>,
    session_stats: Vec<SessionStats>,
    schedule: Schedule,
    /// An arrival drawn but not yet used because a scheduled action came first.
    pending: Option<Arrival>,
    /// How many symbols are halted now.
    halted: usize,
    /// The order books, when `config.books` is on.
    books: Option<Books>,
}

/// Names (built once, cloned per tick), price grid and sequence number of one
/// `ticks.SYMBOL` topic.
#[derive(Debug, Clone)]
struct TopicState {
    topic: String,
    symbol: String,
    grid: TickGrid,
    seq: u64,
}

#[derive(Debug, Clone, Copy)]
struct Arrival {
    /// Virtual seconds after the start.
    t: f64,
    /// The same time in nanoseconds.
    at_ns: u64,
    index: usize,
}

/// When the next trade happens and on which symbol.
#[derive(Debug, Clone)]
enum Clock {
    Poisson { t: f64, mean_gap: f64, pick: Pick },
    Constant { n: u64, rate: f64, len: usize },
}

/// Which symbol an event falls on, proportional to its weight (the order flow of the books
/// picks symbols the same way, from its own generator).
#[derive(Debug, Clone)]
pub(crate) enum Pick {
    Uniform(usize),
    Weighted(WeightedAliasIndex<f64>),
}

impl Pick {
    /// Picks proportional to the instruments' weights (uniform when they are all equal).
    pub(crate) fn by_weight(instruments: &[Instrument]) -> Result<Self, ConfigError> {
        let first = instruments[0].weight;
        if instruments.iter().all(|i| i.weight == first) {
            return Ok(Self::Uniform(instruments.len()));
        }
        let weights = instruments.iter().map(|i| i.weight).collect();
        WeightedAliasIndex::new(weights)
            .map(Self::Weighted)
            .map_err(|_| ConfigError::Invalid {
                name: "universe weights",
                value: f64::NAN,
                expected: "weights with a finite positive sum",
            })
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        match self {
            Self::Uniform(n) => rng.random_range(0..*n),
            Self::Weighted(alias) => alias.sample(rng),
        }
    }
}

impl Clock {
    fn new(config: &Config) -> Result<Self, ConfigError> {
        let instruments = config.universe.instruments();
        Ok(match config.arrivals {
            Arrivals::Constant => Self::Constant {
                n: 0,
                rate: config.rate,
                len: instruments.len(),
            },
            Arrivals::Poisson => Self::Poisson {
                t: 0.0,
                mean_gap: 1.0 / config.rate,
                pick: Pick::by_weight(instruments)?,
            },
        })
    }

    /// The virtual time of the last arrival drawn, in ns after the start.
    fn now_ns(&self) -> u64 {
        let t = match self {
            Self::Poisson { t, .. } => *t,
            Self::Constant { n, rate, .. } => *n as f64 / *rate,
        };
        (t * 1e9) as u64
    }

    /// Moves the clock to `at_ns` (virtual ns after the start) when it is behind: the
    /// arrivals skipped would all have been dropped. Exact for Poisson arrivals, which
    /// have no memory.
    fn skip_to(&mut self, at_ns: u64) {
        let at = at_ns as f64 / 1e9;
        match self {
            Self::Poisson { t, .. } => *t = t.max(at),
            Self::Constant { n, rate, .. } => *n = (*n).max((at * *rate) as u64),
        }
    }

    #[inline]
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Arrival {
        let (t, index) = match self {
            Self::Poisson { t, mean_gap, pick } => {
                *t += rng.sample::<f64, _>(Exp1) * *mean_gap;
                (*t, pick.sample(rng))
            }
            Self::Constant { n, rate, len } => {
                let index = (*n % *len as u64) as usize;
                *n += 1;
                (*n as f64 / *rate, index)
            }
        };
        Arrival {
            t,
            at_ns: (t * 1e9) as u64,
            index,
        }
    }
}

impl Market {
    /// Validates `config` and builds the market at virtual time `config.start_ns`.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let params = Params::new(&config);
        let factor = Factor::new(&params, &mut rng);
        let instruments = config.universe.instruments();
        let states = instruments
            .iter()
            .map(|inst| SymbolState::new(inst, &params, &factor, &mut rng))
            .collect();
        let topics = instruments
            .iter()
            .map(|inst| TopicState {
                topic: format!("ticks.{}", inst.symbol),
                symbol: inst.symbol.clone(),
                grid: TickGrid::new(inst.tick_size),
                seq: 0,
            })
            .collect();
        let session_stats = instruments
            .iter()
            .map(|i| SessionStats::new(i.price))
            .collect();
        let mut schedule = Schedule::new(&config.halts, &config.universe);
        if let Some(random) = schedule.random() {
            let first = exp_ns(&mut rng, random.mean_interval.as_secs_f64());
            schedule.push(first, Action::RandomHalt);
        }
        let books = if config.books {
            Some(Books::new(&config)?)
        } else {
            None
        };
        Ok(Self {
            clock: Clock::new(&config)?,
            config,
            rng,
            params,
            factor,
            topics,
            states,
            session_stats,
            schedule,
            pending: None,
            halted: 0,
            books,
        })
    }

    /// Turns the order books on from now (a market that pre-rolled its past without them:
    /// each symbol's book starts, as a `full` change, before its next trade).
    pub fn start_books(&mut self) -> Result<(), ConfigError> {
        if self.books.is_none() {
            self.config.books = true;
            let mut books = Books::new(&self.config)?;
            // The order flow starts now, not at the market's start: no past flow to catch up.
            books.skip_to(self.clock.now_ns());
            self.books = Some(books);
        }
        Ok(())
    }

    /// The instruments, in the order of [`Market::all_session_stats`].
    pub fn instruments(&self) -> &[Instrument] {
        self.config.universe.instruments()
    }

    /// The configuration this market runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Session statistics of every instrument, in the order of [`Market::instruments`].
    pub fn all_session_stats(&self) -> &[SessionStats] {
        &self.session_stats
    }

    /// Session statistics of one symbol.
    pub fn session_stats(&self, symbol: &str) -> Option<&SessionStats> {
        self.config
            .universe
            .index_of(symbol)
            .map(|i| &self.session_stats[i])
    }

    /// The whole order book of `symbol` as the events yielded so far leave it (its full
    /// book and every change since): `None` when books are off ([`Config::books`]) or the
    /// symbol is unknown.
    pub fn book(&self, symbol: &str) -> Option<BookView> {
        let books = self.books.as_ref()?;
        self.config.universe.index_of(symbol).map(|i| books.view(i))
    }

    /// Runs the next scheduled action; returns the status it announces, if any.
    fn fire_scheduled(&mut self) -> Option<Status> {
        let (at, action) = self.schedule.pop()?;
        match action {
            Action::Halt(i) => self.halt(i, at),
            Action::Resume(i) => self.resume(i, at),
            Action::RandomHalt => {
                let random = self.schedule.random()?;
                let next = exp_ns(&mut self.rng, random.mean_interval.as_secs_f64());
                self.schedule
                    .push(at.saturating_add(next), Action::RandomHalt);
                let i = self.rng.random_range(0..self.states.len());
                if self.states[i].halt_depth > 0 {
                    return None;
                }
                let length =
                    exp_ns(&mut self.rng, random.mean_duration.as_secs_f64()).max(MIN_HALT_NS);
                self.schedule
                    .push(at.saturating_add(length), Action::Resume(i));
                self.halt(i, at)
            }
        }
    }

    fn halt(&mut self, i: usize, at_ns: u64) -> Option<Status> {
        let state = &mut self.states[i];
        state.halt_depth += 1;
        if state.halt_depth > 1 {
            return None;
        }
        self.halted += 1;
        Some(self.status(i, at_ns, MarketState::Halted))
    }

    fn resume(&mut self, i: usize, at_ns: u64) -> Option<Status> {
        let state = &mut self.states[i];
        if state.halt_depth == 0 {
            return None;
        }
        state.halt_depth -= 1;
        if state.halt_depth > 0 {
            return None;
        }
        state.gap_pending = true;
        self.halted -= 1;
        Some(self.status(i, at_ns, MarketState::Open))
    }

    fn status(&mut self, i: usize, at_ns: u64, state: MarketState) -> Status {
        self.session_stats[i].state = state;
        Status {
            topic: self.topics[i].topic.clone(),
            state,
            ts: self.config.start_ns.saturating_add(at_ns),
        }
    }

    /// Steps symbol `a.index` to the arrival time and prints a trade (and queues its book
    /// change).
    #[inline]
    fn trade(&mut self, a: Arrival) -> Tick {
        self.factor.advance(a.t, &self.params, &mut self.rng);
        let state = &mut self.states[a.index];
        let topic = &mut self.topics[a.index];
        let grid = topic.grid;
        let mid = state.step(a.t, &self.factor, &self.params, &mut self.rng);
        let quote = Quote::around(grid.ticks(mid), state.sigma());
        let u: f64 = self.rng.random();
        let z: f64 = self.rng.sample(rand_distr::StandardNormal);
        let size = trade_size(u, z, state.log_vol_ratio());
        let price = grid.dollars(quote.price);
        let volume = self.session_stats[a.index].record(price, size);
        let ts = self.config.start_ns.saturating_add(a.at_ns);
        if let Some(books) = &mut self.books {
            books.on_trade(a.index, quote, size, ts);
        }
        topic.seq += 1;
        Tick {
            topic: topic.topic.clone(),
            seq: topic.seq,
            ts,
            symbol: topic.symbol.clone(),
            price,
            size,
            bid: grid.dollars(quote.bid),
            ask: grid.dollars(quote.ask),
            volume,
        }
    }
}

/// An exponential duration with mean `mean_s` seconds, in nanoseconds.
fn exp_ns(rng: &mut ChaCha8Rng, mean_s: f64) -> u64 {
    (rng.sample::<f64, _>(Exp1) * mean_s * 1e9) as u64
}

impl Iterator for Market {
    type Item = Event;

    /// The next trade, status change or book change. `None` only when every symbol is
    /// halted for good.
    fn next(&mut self) -> Option<Event> {
        if let Some(change) = self.books.as_mut().and_then(Books::take_due) {
            return Some(Event::Book(change));
        }
        loop {
            if self.halted == self.states.len() {
                // Nothing can trade until the next scheduled action: go straight to it.
                let at = self.schedule.peek_at()?;
                if self.pending.is_none_or(|a| a.at_ns < at) {
                    self.pending = None;
                    self.clock.skip_to(at);
                }
                if let Some(books) = &mut self.books {
                    books.skip_to(at);
                }
                if let Some(status) = self.fire_scheduled() {
                    return Some(Event::Status(status));
                }
                continue;
            }
            let arrival = match self.pending.take() {
                Some(a) => a,
                None => self.clock.next(&mut self.rng),
            };
            if let Some(books) = &mut self.books {
                // Order flow strictly before the next trade and the next action goes first;
                // the arrival waits (the market's draws keep their order).
                let flow_ns = books.next_flow_ns();
                if flow_ns < arrival.at_ns && flow_ns < self.schedule.next_at() {
                    self.pending = Some(arrival);
                    let states = &self.states;
                    if let Some(change) = books.flow(|i| states[i].halt_depth > 0) {
                        return Some(Event::Book(change));
                    }
                    continue;
                }
            }
            if self.schedule.next_at() <= arrival.at_ns {
                self.pending = Some(arrival);
                if let Some(status) = self.fire_scheduled() {
                    return Some(Event::Status(status));
                }
                continue;
            }
            if self.states[arrival.index].halt_depth > 0 {
                // A halted symbol does not trade: its arrivals are dropped.
                continue;
            }
            return Some(Event::Tick(self.trade(arrival)));
        }
    }
}
