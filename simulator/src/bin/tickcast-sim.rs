//! `tickcast-sim`: writes simulated or replayed ticks to stdout as JSON lines or
//! length-prefixed MessagePack, or publishes them to a server (`--publish`). Glue only:
//! the model, replay, encodings and pacing live in the `tickcast_simulator` library, the
//! publisher in `tickcast_client`.

use std::{
    io::{self, BufWriter},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use tickcast_proto::clock::{unix_ns, unix_us};
use tickcast_simulator::{
    Arrivals, Config, Event, Format, Halts, Market, Model, Preroll, Replay, ReplayError, Sink,
    SinkError, Universe, WriteSink, realtime,
};

// Beside this file, not in src/bin/ (where cargo would take it for a binary).
#[path = "tickcast-sim/nats.rs"]
mod nats;
#[path = "tickcast-sim/publish.rs"]
mod publish;

use publish::publish;

/// Simulated (or replayed) stock ticks on stdout, or published to a server.
///
/// With --count N, writes N ticks in virtual time as fast as possible (status events
/// in between are written too but not counted). Without --count, or with --speed,
/// paces events in real time (virtual seconds per wall second = speed).
///
/// With --publish URL --token T, sends the ticks to a tickcast server as `publish`
/// frames instead, paced in real time (--speed, default 1) with or without --count;
/// the server assigns seq and ts. Status events (halts) are not published.
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
    #[arg(long, env = "TICKCAST_SIM_ARRIVALS", value_enum, default_value_t = Arrivals::default())]
    arrivals: Arrivals,
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
    #[arg(long, env = "TICKCAST_SIM_MODEL", value_enum, default_value_t = ModelArg::from(&Model::default()))]
    model: ModelArg,
    /// Random trading halts (status events; no trades while halted; a gap on resume).
    #[arg(long, env = "TICKCAST_SIM_HALTS")]
    halts: bool,
    /// Market seconds per virtual second (1 = real trading-time volatility).
    #[arg(long, env = "TICKCAST_SIM_TIME_SCALE", default_value_t = Config::DEFAULT_TIME_SCALE, value_parser = positive)]
    time_scale: f64,
    /// Virtual clock origin: ts of the simulation start, in UNIX nanoseconds.
    #[arg(long, env = "TICKCAST_SIM_START_NS", default_value_t = Config::DEFAULT_START_NS)]
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
    /// Publish to this server (ws://HOST:PORT/ws or wss://HOST:PORT/ws) instead of
    /// writing to stdout. Needs --token.
    #[arg(
        long,
        env = "TICKCAST_SIM_PUBLISH",
        value_name = "URL",
        requires = "token",
        conflicts_with = "format"
    )]
    publish: Option<String>,
    /// The server's publisher token (`tickcast-server --publish-token`).
    #[arg(
        long,
        env = "TICKCAST_PUBLISH_TOKEN",
        hide_env_values = true,
        requires = "publish"
    )]
    token: Option<String>,
    /// PEM file of a private CA to trust for wss:// (besides the public roots).
    #[arg(
        long,
        env = "TICKCAST_CA_CERT",
        value_name = "FILE",
        requires = "publish"
    )]
    ca_cert: Option<PathBuf>,
    /// Feed a tickcast cluster: publish on this NATS server (nats://HOST:PORT) what a
    /// server would (seq from the model, ts at publish, bars, this run's epoch), paced in
    /// real time (--speed, default 1). Exactly one source per topic.
    #[arg(long, env = "TICKCAST_SIM_NATS", value_name = "URL",
          conflicts_with_all = ["publish", "format"])]
    nats: Option<String>,
    /// With --nats: no order books (`book.SYM`, on by default as on a server, starting
    /// after the pre-roll).
    #[arg(long, requires = "nats")]
    no_books: bool,
    /// With --nats on a NATS with JetStream: replicas of the stream that keeps the
    /// cluster's history, when this run creates it (3 for a three-server NATS cluster).
    #[arg(
        long,
        env = "TICKCAST_STREAM_REPLICAS",
        requires = "nats",
        default_value_t = 1
    )]
    stream_replicas: usize,
    /// With --nats or --publish: market time already traded when the feed starts (e.g.
    /// 6h30m, 90m; 0 = none), sent first with each message's own time, so charts are full
    /// from the start. --nats: stamped here, each topic's newest messages (as many as a
    /// node keeps by default) published; default a trading day. --publish: every past trade
    /// published with its `ts` (the server builds the bars); default 80m.
    #[arg(long, env = "TICKCAST_SIM_PREROLL", conflicts_with_all = ["start_ns", "replay"])]
    preroll: Option<Preroll>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModelArg {
    Stochastic,
    Gbm,
}

impl From<&Model> for ModelArg {
    fn from(model: &Model) -> Self {
        match model {
            Model::StochasticVol(_) => Self::Stochastic,
            Model::Gbm => Self::Gbm,
        }
    }
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
        arrivals: args.arrivals,
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
    if let Some(path) = &args.replay {
        let mut failure: Option<ReplayError> = None;
        let events = Replay::open(path)?.map_while(|r| r.map_err(|e| failure = Some(e)).ok());
        output(events, args)?;
        if let Some(e) = failure {
            return Err(e).with_context(|| format!("replaying {}", path.display()));
        }
    } else {
        if let Some(url) = &args.nats {
            let preroll = args.preroll.unwrap_or(Preroll::new(Preroll::DEFAULT));
            let now_ns = unix_ns();
            let config = Config {
                start_ns: preroll.start_ns(now_ns),
                ..config(args)?
            };
            let mut market = Market::new(config).context("invalid simulation parameters")?;
            let references = market.instruments().iter();
            let references = references.map(|i| (i.symbol.clone(), i.price)).collect();
            let speed = args.speed.unwrap_or(1.0);
            let mut stamper = nats::Stamper::new(unix_us(), references);
            let mut past = Preroll::past(&mut market, now_ns);
            let stamped_past = nats::stamp_past(&mut stamper, &mut past);
            let first = past.into_first_live();
            if !args.no_books {
                // A book is state: it starts now, each symbol's with its next trade.
                market.start_books().context("starting the order books")?;
            }
            let live = first.into_iter().chain(market);
            let target = nats::Target {
                url,
                stream_replicas: args.stream_replicas,
            };
            return nats::publish(
                stamper,
                stamped_past,
                counted(live, args.count),
                &target,
                speed,
            );
        }
        if let Some(url) = &args.publish {
            // The past goes first, each trade with its own time, as fast as the server
            // takes it; then the market continues live.
            let preroll = args.preroll.unwrap_or(Preroll::new(PUBLISH_PREROLL));
            let now_ns = unix_ns();
            let config = Config {
                start_ns: preroll.start_ns(now_ns),
                ..config(args)?
            };
            let market = Market::new(config).context("invalid simulation parameters")?;
            return publish(market, Some(now_ns), url, args);
        }
        let market = Market::new(config(args)?).context("invalid simulation parameters")?;
        output(market, args)?;
    }
    Ok(())
}

/// `--publish`'s default pre-roll: every past trade is one `publish` (with its `ts`), so a
/// shorter past than the embedded simulator's day, which a server loads in-process: 80
/// 1-minute candles, a chart 160 columns wide (a candle takes two).
const PUBLISH_PREROLL: Duration = Duration::from_secs(80 * 60);

/// Sends `events` to the server of `--publish`, or to stdout.
fn output(events: impl IntoIterator<Item = Event>, args: &Args) -> anyhow::Result<()> {
    if let Some(url) = &args.nats {
        let speed = args.speed.unwrap_or(1.0);
        let stamper = nats::Stamper::new(unix_us(), Default::default());
        let target = nats::Target {
            url,
            stream_replicas: args.stream_replicas,
        };
        return nats::publish(
            stamper,
            Vec::new(),
            counted(events, args.count),
            &target,
            speed,
        );
    }
    match &args.publish {
        Some(url) => publish(events, None, url, args),
        None => {
            let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
            let mut sink = WriteSink::new(out, args.format);
            drive(events, args, &mut sink)
        }
    }
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
    let events = counted(events, args.count);
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

/// `events` up to the `count`th tick (status events in between do not count).
fn counted(
    events: impl IntoIterator<Item = Event>,
    count: Option<u64>,
) -> impl Iterator<Item = Event> {
    let mut ticks_left = count.unwrap_or(u64::MAX);
    events.into_iter().take_while(move |e| {
        if ticks_left == 0 {
            return false;
        }
        if matches!(e, Event::Tick(_)) {
            ticks_left -= 1;
        }
        true
    })
}
