//! The tickcast market simulator: realistic, exactly reproducible tick streams.
//!
//! A [`Market`] is an endless iterator of [`Event`]s in virtual time: trades
//! ([`tickcast_proto::Tick`]) and trading-state changes ([`tickcast_proto::Status`]) on
//! `ticks.SYMBOL` topics and, with [`Config::books`] on, order-book changes
//! ([`BookChange`]) on `book.SYMBOL`. It has no clock and no I/O; the same [`Config`]
//! (seed included) always gives the identical sequence, at any speed.
//!
//! # Model
//! - **Arrivals**: one Poisson process per symbol, rates proportional to each
//!   instrument's `weight` and summing to [`Config::rate`] ([`Arrivals::Constant`]:
//!   evenly spaced, round-robin).
//! - **Prices**: log-price diffusion over each symbol's own inter-trade interval, with a
//!   one-factor market correlation `rho`, optional Merton jumps (drift-compensated), and
//!   by default stochastic volatility ([`Model::StochasticVol`]: log-volatility is
//!   mean-reverting, half of it market-wide) giving the stylized facts of real returns:
//!   heavy tails, volatility clustering, autocorrelated absolute returns, volume rising
//!   with volatility. [`Model::Gbm`] is plain geometric Brownian motion. `drift` and
//!   `volatility` are annualised over a 252 x 6.5 h trading year of market time;
//!   [`Config::time_scale`] sets market seconds per virtual second.
//! - **Quotes**: the trade prints at the efficient price on the instrument's tick grid
//!   (`tick_size`, $0.01 by default; never below one tick); `bid <= price <= ask`,
//!   `ask - bid >=` one tick, wider for volatile names.
//!   Sizes are mostly round lots from a log-normal (heavy-tailed) count, scaled up when
//!   volatility is high; `volume` is cumulative per symbol; [`Market::all_session_stats`] keeps
//!   open/high/low/last/previous close.
//! - **Halts** ([`Halts`]): random or scripted; announced with `status` events, no
//!   trades while halted, and a price gap at the resume.
//! - **Order books** ([`Config::books`], off by default): one limit order book per
//!   symbol, in whole ticks and round lots (`lot_size`, 100 by default), [`MIN_LEVELS`] to
//!   [`MAX_LEVELS`] levels a side. Each symbol's first event is its whole book (`full`),
//!   before its first trade. Every trade is followed at once (same `ts`) by the change that
//!   makes the book agree with it: the trade takes `ceil(size / lot)` lots from the touch
//!   of the side it hits (the side its price leans to from the old mid), walking the book
//!   when it is larger than the touch; levels the new quote crosses go, fresh levels fill
//!   where the quote moved away; so the best bid and ask are the trade's `bid` and `ask`
//!   (the quote model decides the spread: one tick most of the time for liquid names).
//!   Between trades, order flow (three changes per trade on average, Poisson, symbols
//!   picked like the trades) adds orders, most often at the touch, and cancels parts of
//!   levels, never inside the spread: the book is live even for a quiet name, and never
//!   crossed or locked. Mean size grows over the first levels away from the touch; sizes
//!   are log-normal (heavy-tailed). Halted books are frozen. The books draw from their
//!   own generator (seeded from `seed`), so trades and statuses are identical with books on
//!   or off; [`Market::book`] is a symbol's whole book now. Book changes have no wire
//!   message of their own ([`Event::into_message`]): encoders skip them.
//!
//! # Drivers
//! Iterate a [`Market`] for virtual time as fast as possible; [`Preroll`] runs the past of a
//! market that has been trading before its feed starts; `realtime::run` (feature
//! `realtime`) paces any event stream to the wall clock at a `speed`; [`Replay`] reads
//! recordings (`tickcast-sim` JSON lines, or CSV trades) instead of the model. A
//! [`Sink`] is where events go ([`WriteSink`]: JSON lines or length-prefixed
//! MessagePack), the seam for a future WebSocket or NATS publisher.
//!
//! # Performance
//! One core of a shared 2-vCPU Intel Xeon VM (other builds running; runs vary by about
//! 10%), measured with
//! `cargo bench -p tickcast-simulator --bench market -- --warm-up-time 1 --measurement-time 3`:
//!
//! | benchmark (`benches/market.rs`)                     | events/s |
//! |------------------------------------------------------|----------|
//! | default: 50 equities, stochastic vol, Poisson        | 10.0 M   |
//! | GBM, constant arrivals                               | 13.1 M   |
//! | 5,000 synthetic symbols, jumps, random halts         | 10.8 M   |
//! | default + JSON-lines encoding ([`WriteSink`])         | 4.3 M    |
//! | default + length-prefixed MessagePack                | 6.0 M    |
//! | default + order books (1 event in 5 a trade)         | 2.6 M \*  |
//!
//! \* Measured later, on a busier machine (load average 4.5 on the 2 vCPUs): the default
//! case gave 4.7 M events/s in the same run, so books cost about 1.8 times as much per
//! event; with a trade every fifth event that is 0.5 M trades/s with their books.
//!
//! The target is 5 M ticks/s on one core. In a `perf` profile of the default
//! case, `exp` takes about a sixth of the time, allocating and freeing each `Tick`'s two
//! `String`s (topic, symbol) an eighth, and the ChaCha8 generator a tenth.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod book;
mod config;
mod dynamics;
mod equities;
mod event;
mod market;
mod preroll;
mod quote;
#[cfg(feature = "realtime")]
pub mod realtime;
mod replay;
mod schedule;
mod session_stats;
mod sink;
mod universe;

pub use book::{BookChange, BookView, MAX_LEVELS, MIN_LEVELS};
pub use config::{
    Arrivals, Config, ConfigError, Halt, Halts, Merton, Model, RandomHalts, StochasticVol,
    TRADING_YEAR_S,
};
pub use event::Event;
pub use market::Market;
pub use preroll::{PastEvents, Preroll};
pub use replay::{Replay, ReplayError, ReplayFormat};
pub use session_stats::SessionStats;
pub use sink::{Format, Sink, SinkError, WriteSink, encode_event};
pub use universe::{Instrument, Universe, UniverseError};
