//! The subscriber's public face: [`ClientConfig`], [`Client`] (the handle), the
//! [`ClientEvent`]s it reports and the [`Command`]s it takes.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use tickcast_proto::{Pattern, ServerMessage, Welcome, book::DEPTHS};
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{BookFault, ClientError, GapCause, endpoint::Endpoint, supervisor::Supervisor};

/// The default subscription: every trades topic. (The dashboard adds the bars of the
/// symbol it charts as it goes.)
pub const DEFAULT_PATTERNS: [&str; 1] = ["ticks.*"];

/// How to reach a server and what to ask it for.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `ws://HOST:PORT/PATH` or `wss://HOST:PORT/PATH`.
    pub url: String,
    /// Patterns to subscribe on every (re)connect.
    pub patterns: Vec<String>,
    /// Sent as `Authorization: Bearer TOKEN` and as the `token` query parameter.
    pub token: Option<String>,
    /// PEM files of private CAs trusted for `wss://`, besides the public roots.
    /// Default: none.
    pub ca_certs: Vec<PathBuf>,
    /// First reconnect delay; it doubles per failed attempt. Default: 250 ms.
    pub backoff_min: Duration,
    /// Longest reconnect delay. Default: 10 s.
    pub backoff_max: Duration,
    /// TCP connect + TLS + HTTP upgrade + `welcome` must finish within this. Default: 5 s.
    pub connect_timeout: Duration,
    /// Capacity of the event channel. Default: 4096.
    pub event_capacity: usize,
    /// Largest message accepted from the server. Default: 1 MiB.
    pub max_message_bytes: usize,
    /// History first: each topic that `patterns` bring starts with up to this many of its
    /// latest messages (the subscribe option `rewind`), then live. Only a topic's first
    /// delivery is rewound; after a reconnect, known topics resume from their position.
    /// Default: none (a topic starts with its latest state).
    pub rewind: Option<u32>,
    /// Levels per side of the books (`book.SYM` topics) that `patterns` bring: 5, 10, 25
    /// or 50 (the subscribe option `depth`). Default: none (the server's, 10).
    pub depth: Option<u32>,
    /// Keep every book and check it after each `book` and `book_update` (the `prev_seq`
    /// chain and the checksum); a wrong one is re-subscribed for a fresh `book` and
    /// reported as [`ClientEvent::BookResync`]. Off: book messages are passed on as they
    /// come, and a broken chain is reported as a [`ClientEvent::Gap`]. Default: on.
    pub verify_books: bool,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            patterns: DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect(),
            token: None,
            ca_certs: Vec::new(),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            event_capacity: 4096,
            max_message_bytes: 1 << 20,
            rewind: None,
            depth: None,
            verify_books: true,
        }
    }

    pub fn patterns<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.patterns = patterns.into_iter().map(Into::into).collect();
        self
    }

    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Starts each topic of `patterns` with up to `messages` of its history (0: none).
    pub fn rewind(mut self, messages: u32) -> Self {
        self.rewind = Some(messages).filter(|&n| n > 0);
        self
    }

    /// Books that `patterns` bring have `depth` levels per side (5, 10, 25 or 50; checked
    /// at [`Client::spawn`]).
    pub fn depth(mut self, depth: u32) -> Self {
        self.depth = Some(depth);
        self
    }

    /// Whether to keep and check every book (see the field `verify_books`; default on).
    pub fn verify_books(mut self, verify: bool) -> Self {
        self.verify_books = verify;
        self
    }

    /// Trusts the CA certificate(s) in this PEM file for `wss://` (read at
    /// [`Client::spawn`]; a missing or bad file is an error there).
    pub fn ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certs.push(path.into());
        self
    }
}

/// Everything the client reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Attempt number `attempt` (1-based since the last successful connection) started.
    Connecting { attempt: u32 },
    /// The WebSocket is open and `welcome` arrived; the subscribe has been sent.
    Connected {
        server: String,
        addr: SocketAddr,
        welcome: Welcome,
    },
    /// A server message (everything except `welcome`, which comes with `Connected`).
    /// Duplicates (already-seen seqs) are dropped before they get here. With
    /// [`ClientConfig::verify_books()`], every `book_update` here has verified (it chains to
    /// the `book` or update before it and its checksum matches), so
    /// [`crate::OrderBook::apply`] takes it; a `book` always replaces the topic's book.
    Message(ServerMessage),
    /// Messages of `topic` were lost to this client and could not be replayed: seqs
    /// `expected..got` of `epoch` (`expected` is `None` when the count is unknown: the
    /// topic restarted at a new epoch). Reported before the message that reveals it.
    Gap {
        topic: String,
        epoch: u64,
        expected: Option<u64>,
        got: u64,
        cause: GapCause,
    },
    /// The book of `topic` was found wrong at `seq` (`fault`): the message that showed it
    /// was dropped, and the client subscribes the topic again (a pattern that delivers it,
    /// with the same options) for a fresh `book`, which comes as a [`ClientEvent::Message`]
    /// and replaces it. Updates of the topic until then are dropped. The first resync of a
    /// topic goes out at once; while its books keep failing, each next one waits longer
    /// (250 ms, doubling, up to 30 s).
    BookResync {
        topic: String,
        seq: u64,
        fault: BookFault,
    },
    /// The connection ended. `retry_in: None` means the client gave up for good (e.g. a
    /// close code that says reconnecting will not help, or a certificate the client does
    /// not trust) and the channel closes next.
    Disconnected {
        reason: String,
        retry_in: Option<Duration>,
    },
}

/// Changes to the subscription, applied now and on every reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Adds patterns. `rewind`: each topic they bring that this client does not follow
    /// yet starts with up to that many of its latest messages, then live (`None` or 0:
    /// with its latest state). `depth`: levels per side of the books they bring (5, 10,
    /// 25 or 50; `None`: the server's default); a pattern subscribed again with another
    /// depth brings its books again, fresh, at the new one.
    Subscribe {
        patterns: Vec<Pattern>,
        rewind: Option<u32>,
        depth: Option<u32>,
    },
    /// Drops patterns, by exact text. Messages of their topics that were already on the
    /// way are dropped too.
    Unsubscribe(Vec<Pattern>),
}

/// A book depth the protocol allows, or the error to report.
pub(crate) fn check_depth(depth: Option<u32>) -> Result<Option<u32>, ClientError> {
    match depth {
        Some(d) if !DEPTHS.contains(&d) => Err(ClientError::BadDepth { depth: d }),
        other => Ok(other),
    }
}

pub(crate) fn parse_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<Vec<Pattern>, ClientError> {
    patterns
        .iter()
        .map(|p| {
            let p = p.as_ref().trim();
            Pattern::parse(p).map_err(|source| ClientError::BadPattern {
                pattern: p.to_owned(),
                source,
            })
        })
        .collect()
}

/// A running client. Dropping it stops the client (closing with 1000).
#[derive(Debug)]
pub struct Client {
    commands: mpsc::Sender<Command>,
    cancel: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Client {
    /// Validates the config (URL, patterns, CA files) and starts the client task on the
    /// current tokio runtime.
    pub fn spawn(config: ClientConfig) -> Result<(Self, mpsc::Receiver<ClientEvent>), ClientError> {
        let endpoint = Endpoint::new(&config.url, config.token.as_deref(), &config.ca_certs)?;
        let patterns = parse_patterns(&config.patterns)?;
        if patterns.is_empty() {
            return Err(ClientError::NoPatterns);
        }
        check_depth(config.depth)?;
        let (event_tx, event_rx) = mpsc::channel(config.event_capacity.max(1));
        let (command_tx, command_rx) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let supervisor = Supervisor::new(
            config,
            endpoint,
            patterns,
            event_tx,
            command_rx,
            cancel.clone(),
        );
        let task = tokio::spawn(supervisor.run());
        Ok((
            Self {
                commands: command_tx,
                cancel,
                task: Some(task),
            },
            event_rx,
        ))
    }

    /// Adds patterns (validated here; the server acks or errors through events).
    pub fn subscribe<S: AsRef<str>>(&self, patterns: &[S]) -> Result<(), ClientError> {
        self.subscribe_rewind(patterns, 0)
    }

    /// Adds patterns whose new topics start with up to `rewind` messages of history.
    pub fn subscribe_rewind<S: AsRef<str>>(
        &self,
        patterns: &[S],
        rewind: u32,
    ) -> Result<(), ClientError> {
        self.command(Command::Subscribe {
            patterns: parse_patterns(patterns)?,
            rewind: Some(rewind).filter(|&n| n > 0),
            depth: None,
        })
    }

    /// Adds patterns whose books (`book.SYM` topics) have `depth` levels per side: 5, 10,
    /// 25 or 50. A pattern already subscribed at another depth is subscribed again at this
    /// one (its books start over with a fresh `book`).
    pub fn subscribe_depth<S: AsRef<str>>(
        &self,
        patterns: &[S],
        depth: u32,
    ) -> Result<(), ClientError> {
        self.command(Command::Subscribe {
            patterns: parse_patterns(patterns)?,
            rewind: None,
            depth: check_depth(Some(depth))?,
        })
    }

    /// Drops patterns (by exact text).
    pub fn unsubscribe<S: AsRef<str>>(&self, patterns: &[S]) -> Result<(), ClientError> {
        self.command(Command::Unsubscribe(parse_patterns(patterns)?))
    }

    /// Queues a command without waiting: never blocks the caller.
    pub fn command(&self, command: Command) -> Result<(), ClientError> {
        self.commands.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ClientError::Busy,
            mpsc::error::TrySendError::Closed(_) => ClientError::Stopped,
        })
    }

    /// Closes the connection (1000) and waits for the client task to end.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
