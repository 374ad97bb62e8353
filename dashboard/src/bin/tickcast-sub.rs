//! `tickcast-sub`: subscribe and print one message per line (JSON, or `--pretty`), with
//! the same reconnect and `since` recovery as the dashboard; `--rewind N` prints each
//! topic's history first; `--depth N` sets the depth of order books, and `--verify-books`
//! keeps and checks them. Connection events, gaps and books found wrong go to stderr so
//! stdout stays machine-readable.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use clap::Parser;
use tickcast_client::{Client, ClientConfig, ClientEvent};
use tickcast_dashboard::sub;

/// Subscribe to tickcast topics and print each message on its own line.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server to connect to (ws:// or wss://).
    #[arg(long, env = "TICKCAST_URL", default_value = "ws://127.0.0.1:8080/ws")]
    url: String,
    /// Topic patterns, e.g. 'ticks.AAPL' 'bars.1m.*'.
    #[arg(required = true)]
    patterns: Vec<String>,
    /// A compact human format instead of JSON.
    #[arg(long)]
    pretty: bool,
    /// Also print acks and heartbeats.
    #[arg(long)]
    all: bool,
    /// Start each topic with up to N of its latest messages (the history the server holds:
    /// for a trades topic a `snapshot` standing for the first of them, then ticks), then
    /// live. After a reconnect, topics resume where they were instead.
    #[arg(long, value_name = "N")]
    rewind: Option<u32>,
    /// Levels per side of the order books (`book.SYM`) the patterns bring: 5, 10, 25 or 50
    /// (default: the server's, 10).
    #[arg(long, value_name = "N", value_parser = depth)]
    depth: Option<u32>,
    /// Keep every order book and check it after each `book` and `book_update` (the
    /// `prev_seq` chain and the checksum): a wrong one is reported on stderr as a JSON line
    /// (`{"type":"book_resync","topic",...,"fault":"checksum"|"chain",...}`) and subscribed
    /// again for a fresh `book`. Without it, book messages are printed as they come.
    #[arg(long)]
    verify_books: bool,
    /// Exit after printing this many messages.
    #[arg(long)]
    count: Option<u64>,
    /// No connection, gap or book notes on stderr. (Gaps are JSON lines there,
    /// `{"type":"gap","topic",...}`, or a human line with --pretty.)
    #[arg(long, short)]
    quiet: bool,
    /// Credentials for servers that require them (Authorization: Bearer + ?token=).
    #[arg(long, env = "TICKCAST_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of a private CA to trust for wss:// (besides the public roots).
    #[arg(long, env = "TICKCAST_CA_CERT")]
    ca_cert: Option<PathBuf>,
}

/// `--depth`: one of the depths the protocol allows.
fn depth(text: &str) -> Result<u32, String> {
    let depths = tickcast_proto::book::DEPTHS;
    match text.parse::<u32>() {
        Ok(d) if depths.contains(&d) => Ok(d),
        _ => Err(format!("must be one of {depths:?}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tickcast-sub: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickcast-sub: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = ClientConfig::new(args.url.clone())
        .patterns(args.patterns.clone())
        .rewind(args.rewind.unwrap_or(0))
        .verify_books(args.verify_books)
        .token(args.token.clone());
    if let Some(depth) = args.depth {
        config = config.depth(depth);
    }
    if let Some(ca) = &args.ca_cert {
        config = config.ca_cert(ca);
    }
    let (client, mut events) = Client::spawn(config).context("invalid arguments")?;
    let result = print_events(&args, &mut events).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), client.shutdown()).await;
    match result {
        // `| head` closed stdout: that is how scripts say "enough".
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

async fn print_events(
    args: &Args,
    events: &mut tokio::sync::mpsc::Receiver<ClientEvent>,
) -> anyhow::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut printed = 0u64;
    let note = |text: String| {
        if !args.quiet {
            eprintln!("tickcast-sub: {text}");
        }
    };
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(event) = event else {
            anyhow::bail!("the client stopped");
        };
        match event {
            ClientEvent::Connecting { attempt } if attempt > 1 => {
                note(format!("connecting to {} (attempt {attempt})", args.url));
            }
            ClientEvent::Connecting { .. } => {}
            ClientEvent::Connected { server, addr, .. } => {
                note(format!("connected to {server} at {addr}"));
            }
            ClientEvent::Disconnected {
                reason,
                retry_in: Some(d),
            } => {
                note(format!(
                    "disconnected: {reason}; reconnecting in {} ms",
                    d.as_millis()
                ));
            }
            ClientEvent::Disconnected {
                reason,
                retry_in: None,
            } => {
                anyhow::bail!("disconnected: {reason}; not reconnecting");
            }
            ClientEvent::Gap {
                topic,
                epoch,
                expected,
                got,
                cause,
            } => {
                if !args.quiet {
                    let gap = sub::Gap {
                        topic: &topic,
                        epoch,
                        expected,
                        received: got,
                        cause,
                    };
                    if args.pretty {
                        eprintln!("tickcast-sub: {}", gap.pretty_line());
                    } else {
                        eprintln!("{}", gap.json_line());
                    }
                }
            }
            ClientEvent::BookResync { topic, seq, fault } => {
                if !args.quiet {
                    let resync = sub::BookResync {
                        topic: &topic,
                        seq,
                        fault,
                    };
                    if args.pretty {
                        eprintln!("tickcast-sub: {}", resync.pretty_line());
                    } else {
                        eprintln!("{}", resync.json_line());
                    }
                }
            }
            ClientEvent::Message(msg) => {
                if !args.all && !sub::is_data(&msg) {
                    continue;
                }
                let line = if args.pretty {
                    sub::pretty_line(&msg)
                } else {
                    sub::json_line(&msg)?
                };
                writeln!(out, "{line}")?;
                printed += 1;
                if args.count.is_some_and(|n| printed >= n) {
                    out.flush()?;
                    return Ok(());
                }
                // Flush when no more messages are waiting, so a quiet stream is not held back.
                if events.is_empty() {
                    out.flush()?;
                }
            }
        }
    }
}
