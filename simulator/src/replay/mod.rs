//! Playing back recorded streams instead of the model: the JSON lines `tickcast-sim`
//! writes, or CSV trade files (`timestamp,symbol,price,size`) from real data.

mod csv;
mod time;

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use tickcast_proto::{Encoding, ServerMessage};

use crate::event::Event;
use csv::CsvReader;

/// The two replayable file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFormat {
    /// One wire `tick` or `status` JSON map per line (what `tickcast-sim --format jsonl`
    /// writes). Events are replayed exactly as recorded.
    Jsonl,
    /// `timestamp,symbol,price,size` rows, optionally under a header that names the
    /// columns (any order; extra columns ignored). Timestamps: epoch s/ms/us/ns or ISO
    /// 8601. Sequence numbers and cumulative volume are assigned per symbol, and the
    /// quote is one cent either side of the price.
    Csv,
}

impl ReplayFormat {
    /// JSON lines when the first non-blank line starts with `{`, CSV otherwise.
    pub fn sniff(first_line: &str) -> Self {
        if first_line
            .trim_start_matches('\u{feff}')
            .trim_start()
            .starts_with('{')
        {
            Self::Jsonl
        } else {
            Self::Csv
        }
    }
}

/// Why a replay failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot open {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read error")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

/// Events read from a recording, in file order; an iterator of results.
#[derive(Debug)]
pub struct Replay<R> {
    reader: R,
    buf: String,
    line: usize,
    format: Option<ReplayFormat>,
    csv: CsvReader,
    done: bool,
}

impl Replay<BufReader<File>> {
    /// Opens a recording; the format is sniffed from its first line.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReplayError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| ReplayError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::new(BufReader::with_capacity(1 << 16, file)))
    }
}

impl<R: BufRead> Replay<R> {
    /// Reads a recording, sniffing the format from its first non-blank line.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: String::new(),
            line: 0,
            format: None,
            csv: CsvReader::default(),
            done: false,
        }
    }

    /// Reads a recording in a known format.
    pub fn with_format(reader: R, format: ReplayFormat) -> Self {
        Self {
            format: Some(format),
            ..Self::new(reader)
        }
    }

    fn parse_line(&mut self, format: ReplayFormat) -> Result<Option<Event>, String> {
        let text = self.buf.trim_start_matches('\u{feff}').trim();
        match format {
            ReplayFormat::Jsonl => {
                match tickcast_proto::decode_server(Encoding::Json, text.as_bytes())
                    .map_err(|e| e.to_string())?
                {
                    ServerMessage::Tick(t) => Ok(Some(Event::Tick(t))),
                    ServerMessage::Status(s) => Ok(Some(Event::Status(s))),
                    other => Err(format!(
                        "only tick and status messages can be replayed, found {}",
                        kind(&other)
                    )),
                }
            }
            ReplayFormat::Csv => Ok(self.csv.parse(text)?.map(Event::Tick)),
        }
    }
}

fn kind(msg: &ServerMessage) -> &'static str {
    match msg {
        ServerMessage::Welcome(_) => "welcome",
        ServerMessage::Ack(_) => "ack",
        ServerMessage::Error(_) => "error",
        ServerMessage::Topics(_) => "topics",
        ServerMessage::Pong(_) => "pong",
        ServerMessage::Tick(_) => "tick",
        ServerMessage::Snapshot(_) => "snapshot",
        ServerMessage::Bar(_) => "bar",
        ServerMessage::Book(_) => "book",
        ServerMessage::BookUpdate(_) => "book_update",
        ServerMessage::Status(_) => "status",
        ServerMessage::Lagged(_) => "lagged",
        ServerMessage::Heartbeat(_) => "heartbeat",
        ServerMessage::Shutdown(_) => "shutdown",
    }
}

impl<R: BufRead> Iterator for Replay<R> {
    type Item = Result<Event, ReplayError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buf.clear();
            match self.reader.read_line(&mut self.buf) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line += 1;
                    if self.buf.trim_start_matches('\u{feff}').trim().is_empty() {
                        continue;
                    }
                    let format = *self.format.get_or_insert(ReplayFormat::sniff(&self.buf));
                    match self.parse_line(format) {
                        Ok(Some(event)) => return Some(Ok(event)),
                        Ok(None) => continue,
                        Err(reason) => {
                            return Some(Err(ReplayError::Line {
                                line: self.line,
                                reason,
                            }));
                        }
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
        }
        None
    }
}
