//! `tickcast-dash`: the terminal dashboard. Without `--url` it starts an embedded server
//! and simulator and connects to it over a real WebSocket, like any remote client; a build
//! without the `embedded-server` feature requires `--url`.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Parser;
use tickcast_client::{Client, ClientConfig, DEFAULT_PATTERNS};
use tickcast_dashboard::dash::{self, App, Terminal, theme::Theme};

/// Live stock-ticker dashboard for a tickcast server.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Server to connect to, e.g. ws://127.0.0.1:8080/ws or wss://HOST/ws. Without it, an
    /// embedded server is started (builds without the `embedded-server` feature require it).
    #[arg(long, env = "TICKCAST_URL")]
    #[cfg_attr(not(feature = "embedded-server"), arg(required = true))]
    url: Option<String>,
    /// Topic patterns (comma-separated), each topic starting with its last 200 messages.
    /// The chart subscribes the bars of the selected symbol itself. Default: ticks.*
    #[arg(long, value_delimiter = ',')]
    topics: Vec<String>,
    /// Credentials for servers that require them (Authorization: Bearer + ?token=).
    #[arg(long, env = "TICKCAST_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of a private CA to trust for wss:// (besides the public roots).
    #[arg(long, env = "TICKCAST_CA_CERT")]
    ca_cert: Option<PathBuf>,
}

/// The patterns to follow: the given ones (trimmed, without repeats), else the default.
fn patterns(topics: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in topics.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !out.iter().any(|p| p == t) {
            out.push(t.to_owned());
        }
    }
    if out.is_empty() {
        out = DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect();
    }
    out
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tickcast-dash: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickcast-dash: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (url, embedded) = match &args.url {
        Some(url) => (url.clone(), None),
        None => {
            let server = embedded::start().await?;
            (server.ws_url(), Some(server))
        }
    };
    let patterns = patterns(&args.topics);
    let mut config = ClientConfig::new(url.clone())
        .patterns(patterns.clone())
        .rewind(dash::TICK_REWIND)
        .token(args.token);
    if let Some(ca) = args.ca_cert {
        config = config.ca_cert(ca);
    }
    let (client, mut events) = Client::spawn(config).context("invalid arguments")?;
    let mut app = App::new(url, patterns, Theme::from_env());

    let mut terminal = Terminal::enter().context("cannot set up the terminal")?;
    let result = dash::run(&mut terminal, &mut app, &client, &mut events).await;
    // Restore the terminal before anything else can print.
    drop(terminal);

    let _ = tokio::time::timeout(Duration::from_secs(2), client.shutdown()).await;
    if let Some(server) = embedded {
        let _ = tokio::time::timeout(Duration::from_secs(3), server.shutdown()).await;
    }
    result.context("dashboard failed")
}

/// The in-process server for running without `--url`: a real server on a loopback port,
/// reached over a real WebSocket like any other.
#[cfg(feature = "embedded-server")]
mod embedded {
    use std::net::SocketAddr;

    use anyhow::Context;

    pub async fn start() -> anyhow::Result<tickcast_server::Handle> {
        let config = tickcast_server::Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..tickcast_server::Config::default()
        };
        let server = tickcast_server::spawn(config)
            .await
            .context("cannot start the embedded server")?;
        // The simulator pre-rolls a trading day before the server takes clients, so the
        // first frame shows full charts (well under a second in a release build).
        eprintln!("tickcast-dash: pre-rolling the simulated market...");
        server.ready().await;
        Ok(server)
    }
}

/// Built without the `embedded-server` feature: there is no in-process server, and clap
/// requires `--url`, so [`start`] is never reached.
#[cfg(not(feature = "embedded-server"))]
mod embedded {
    /// A server that cannot exist in this build.
    pub enum NoServer {}

    impl NoServer {
        pub fn ws_url(&self) -> String {
            match *self {}
        }

        pub async fn shutdown(self) {
            match self {}
        }
    }

    pub async fn start() -> anyhow::Result<NoServer> {
        anyhow::bail!(
            "this tickcast-dash was built without the embedded-server feature: give --url"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_patterns_or_the_default() {
        assert_eq!(patterns(&[]), ["ticks.*"]);
        assert_eq!(patterns(&[" ".into()]), ["ticks.*"]);
        assert_eq!(
            patterns(&["ticks.AAPL".into(), " ticks.AAPL".into(), "bars.>".into()]),
            ["ticks.AAPL", "bars.>"]
        );
    }

    #[cfg(feature = "embedded-server")]
    #[test]
    fn without_url_the_embedded_server_is_used() {
        let args = Args::try_parse_from(["tickcast-dash"]).expect("--url is optional");
        assert_eq!(args.url, None);
    }

    #[cfg(not(feature = "embedded-server"))]
    #[test]
    fn without_the_embedded_server_url_is_required() {
        let err = Args::try_parse_from(["tickcast-dash"]).expect_err("--url is required");
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }
}
