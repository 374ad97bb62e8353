//! `tickcast-sim`: writes simulated or replayed ticks to stdout as JSON lines or
//! length-prefixed MessagePack. Glue only: the model, replay, encodings and pacing live
//! in the `tickcast_simulator` library.

use std::{
    io::{self, BufWriter},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use tickcast_simulator::{
    Arrivals, Config, Event, Format, Halts, Market, Model, Replay, ReplayError, Sink, SinkError,
    Universe, WriteSink, realtime,
};

/// Simulated (or replayed) stock ticks on stdout.
///
/// With --count N, writes N ticks in virtual time as fast as possible (status events
/// in between are written too but not counted). Without --count, or with --speed,
/// paces events in real time (virtual seconds per wall second = speed).
#[derive(Debug, Parser)]
#[command(name = "tickcast-sim", version, about, long_about)]
struct Args {
    /// Seed of the simulation: the same seed and flags give byte-identical output.
    #[arg(long, env = "TICKCAST_SIM_SEED", default_value_t = Config::DEFAULT_SEED)]
    seed: u64,
    /// Stop after this many ticks.
    #[arg(long, env = "TICKCAST_SIM_COUNT")]
    count: Option<u64>,
    /// Output encoding.
    #[arg(long, env = "TICKCAST_SIM_FORMAT", value_enum, default_value_t = Format::Jsonl)]
    format: Format,
    /// Aggregate trades per virtual second.
    #[arg(long, env = "TICKCAST_SIM_RATE", default_value_t = Config::DEFAULT_RATE, value_parser = positive)]
    rate: f64,
    /// Trade times: Poisson (exponential gaps) or constant (evenly spaced, round-robin).
    #[arg(long, env = "TICKCAST_SIM_ARRIVALS", value_enum, default_value_t = ArrivalsArg::Poisson)]
    arrivals: ArrivalsArg,
    /// Trade N synthetic symbols (SYN0000...) instead of the 50 built-in equities.
    #[arg(long, env = "TICKCAST_SIM_SYMBOLS", conflicts_with = "universe",
          value_parser = clap::value_parser!(u32).range(1..))]
    symbols: Option<u32>,
    /// Universe file: .toml or .json with an "instruments" list (see the crate README).
    #[arg(long, env = "TICKCAST_SIM_UNIVERSE")]
    universe: Option<PathBuf>,
    /// Correlation of any two symbols' returns (0..=1).
    #[arg(long, env = "TICKCAST_SIM_RHO", default_value_t = Config::DEFAULT_RHO)]
    rho: f64,
    /// Add Merton jumps to the diffusion.
    #[arg(long, env = "TICKCAST_SIM_JUMPS")]
    jumps: bool,
    /// Volatility model: stochastic volatility (heavy tails, clustering) or plain GBM.
    #[arg(long, env = "TICKCAST_SIM_MODEL", value_enum, default_value_t = ModelArg::Stochastic)]
    model: ModelArg,
    /// Random trading halts (status events; no trades while halted; a gap on resume).
    #[arg(long, env = "TICKCAST_SIM_HALTS")]
    halts: bool,
    /// Market seconds per virtual second (1 = real trading-time volatility).
    #[arg(long, env = "TICKCAST_SIM_TIME_SCALE", default_value_t = Config::DEFAULT_TIME_SCALE, value_parser = positive)]
    time_scale: f64,
    /// Virtual clock origin: ts of the simulation start, in UNIX nanoseconds.
    #[arg(long, env = "TICKCAST_SIM_START_NS", default_value_t = 0)]
    start_ns: u64,
    /// Play back a recording instead of the model: JSON lines written by this tool, or a
    /// CSV of timestamp,symbol,price,size (header optional).
    #[arg(long, env = "TICKCAST_SIM_REPLAY",
          conflicts_with_all = ["symbols", "universe", "jumps", "halts"])]
    replay: Option<PathBuf>,
    /// Pace in real time at this many virtual seconds per wall second ("inf" = no pacing).
    /// Default without --count: 1.
    #[arg(long, env = "TICKCAST_SIM_SPEED", value_parser = positive)]
    speed: Option<f64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ArrivalsArg {
    Poisson,
    Constant,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModelArg {
    Stochastic,
    Gbm,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not a number > 0")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickcast-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<SinkError>()
            .is_some_and(SinkError::is_broken_pipe)
            || cause
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn config(args: &Args) -> anyhow::Result<Config> {
    let universe = match (&args.universe, args.symbols) {
        (Some(path), _) => Universe::from_file(path)?,
        (None, Some(n)) => Universe::synthetic(n as usize),
        (None, None) => Universe::default_equities(),
    };
    Ok(Config {
        seed: args.seed,
        rate: args.rate,
        arrivals: match args.arrivals {
            ArrivalsArg::Poisson => Arrivals::Poisson,
            ArrivalsArg::Constant => Arrivals::Constant,
        },
        universe,
        rho: args.rho,
        jumps: args.jumps,
        model: match args.model {
            ModelArg::Stochastic => Model::default(),
            ModelArg::Gbm => Model::Gbm,
        },
        halts: if args.halts {
            Halts::random()
        } else {
            Halts::off()
        },
        start_ns: args.start_ns,
        time_scale: args.time_scale,
        ..Config::default()
    })
}

fn run(args: &Args) -> anyhow::Result<()> {
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let mut sink = WriteSink::new(out, args.format);
    if let Some(path) = &args.replay {
        let mut failure: Option<ReplayError> = None;
        let events = Replay::open(path)?.map_while(|r| r.map_err(|e| failure = Some(e)).ok());
        drive(events, args, &mut sink)?;
        if let Some(e) = failure {
            return Err(e).with_context(|| format!("replaying {}", path.display()));
        }
    } else {
        let market = Market::new(config(args)?).context("invalid simulation parameters")?;
        drive(market, args, &mut sink)?;
    }
    Ok(())
}

/// Sends `events` (up to `--count` ticks) to `sink`, paced or as fast as possible.
/// Any [`Sink`] works here: stdout today, a WebSocket or NATS publisher later.
fn drive<S>(
    events: impl IntoIterator<Item = Event>,
    args: &Args,
    sink: &mut S,
) -> anyhow::Result<()>
where
    S: Sink,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let mut ticks_left = args.count.unwrap_or(u64::MAX);
    let events = events.into_iter().take_while(move |e| {
        if ticks_left == 0 {
            return false;
        }
        if matches!(e, Event::Tick(_)) {
            ticks_left -= 1;
        }
        true
    });
    let speed = match (args.speed, args.count) {
        (Some(speed), _) => speed,
        (None, None) => 1.0,
        (None, Some(_)) => f64::INFINITY,
    };
    if speed.is_infinite() {
        for event in events {
            sink.send(event)?;
        }
        return Ok(sink.flush()?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting the timer runtime")?;
    let mut failure: Option<S::Error> = None;
    runtime.block_on(realtime::run_batches(events, speed, |batch| {
        let sent = batch
            .drain(..)
            .try_for_each(|e| sink.send(e))
            .and_then(|()| sink.flush());
        sent.map_err(|e| failure = Some(e)).is_ok()
    }));
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(sink.flush()?),
    }
}
