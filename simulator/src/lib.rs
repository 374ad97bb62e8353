//! The tickcast market simulator: realistic, exactly reproducible tick streams.
//!
//! A [`Market`] is an endless iterator of [`Event`]s in virtual time: trades
//! ([`tickcast_proto::Tick`]) and trading-state changes ([`tickcast_proto::Status`]) on
//! `ticks.SYMBOL` topics. It has no clock and no I/O; the same [`Config`] (seed included)
//! always gives the identical sequence, at any speed.
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
//! - **Quotes**: the trade prints at the efficient price on the $0.01 grid (never below
//!   $0.01); `bid <= price <= ask`, `ask - bid >= $0.01`, wider for volatile names.
//!   Sizes are mostly round lots from a log-normal (heavy-tailed) count, scaled up when
//!   volatility is high; `volume` is cumulative per symbol; [`Market::all_session_stats`] keeps
//!   open/high/low/last/previous close.
//! - **Halts** ([`Halts`]): random or scripted; announced with `status` events, no
//!   trades while halted, and a price gap at the resume.
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
//!
//! The target is 5 M ticks/s on one core. In a `perf` profile of the default
//! case, `exp` takes about a sixth of the time, allocating and freeing each `Tick`'s two
//! `String`s (topic, symbol) an eighth, and the ChaCha8 generator a tenth.
#![cfg_attr(docsrs, feature(doc_cfg))]

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
