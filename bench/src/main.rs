//! `tickcast-bench`: see `BENCHMARKS.md`.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Parser as _;
use tickcast_bench::{Cli, Command};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Blast {
        listen,
        frames_per_write,
    }) = cli.command
    {
        return tickcast_bench::blast(listen, frames_per_write);
    }
    let report = tickcast_bench::run(&cli.run)?;
    let json = serde_json::to_string_pretty(&report).context("serializing the report")?;
    match cli.run.json.as_deref() {
        Some(path) if path.as_os_str() == "-" => println!("{json}"),
        Some(path) => {
            std::fs::write(path, format!("{json}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        None => {}
    }
    // The table goes to stdout unless the JSON does.
    let table = tickcast_bench::table(&report);
    if cli
        .run
        .json
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-")
    {
        write!(std::io::stderr().lock(), "{table}")?;
    } else {
        write!(std::io::stdout().lock(), "{table}")?;
    }
    Ok(())
}
