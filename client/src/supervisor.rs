//! The subscriber's supervisor: the one task behind a [`crate::Client`] that connects,
//! subscribes (with `since` after a reconnect), watches for a dead server, reports gaps,
//! re-subscribes a book found wrong (see `books`), and reconnects, forever or until told
//! to stop.

use std::time::Duration;

use tickcast_proto::{ClientMessage, Pattern, Resume, ServerMessage, Unsubscribe, Welcome, close};
use tokio::{
    sync::mpsc,
    time::{Instant, sleep_until},
};
use tokio_util::sync::CancellationToken;

use crate::{
    ClientConfig, ClientEvent, Command,
    attempt::{self, Next, Retry, after_shutdown, closed, dead_after},
    books::{Action, Books},
    connection::{Connection, Inbound},
    endpoint::Endpoint,
    subscriptions::{Subscriptions, pieces},
    tracker::{SeqVerdict, Tracker},
};

/// Why the task stops for good.
enum Stop {
    /// `Client::shutdown`, or the `Client` was dropped.
    Cancelled,
    /// Nobody reads the events any more.
    EventsClosed,
}

/// The state of the subscriber task across connections: what to subscribe to, the
/// positions seen, the retry schedule, and the channels to and from the [`crate::Client`].
pub(crate) struct Supervisor {
    config: ClientConfig,
    endpoint: Endpoint,
    subscriptions: Subscriptions,
    tracker: Tracker,
    books: Books,
    /// Book topics to re-subscribe, and when (a resync of a topic whose books keep
    /// failing waits).
    resyncs: Vec<(Instant, String)>,
    retry: Retry,
    events: mpsc::Sender<ClientEvent>,
    commands: mpsc::Receiver<Command>,
    /// The server's `welcome.max_message_bytes` on the current connection.
    max_message_bytes: usize,
    /// False once every `Client` handle is gone: stop polling `commands`.
    commands_open: bool,
    cancel: CancellationToken,
}

impl Supervisor {
    pub fn new(
        config: ClientConfig,
        endpoint: Endpoint,
        patterns: Vec<Pattern>,
        events: mpsc::Sender<ClientEvent>,
        commands: mpsc::Receiver<Command>,
        cancel: CancellationToken,
    ) -> Self {
        let retry = Retry::new(config.backoff_min, config.backoff_max);
        let subscriptions = Subscriptions::new(patterns, config.rewind, config.depth);
        Self {
            books: Books::new(config.verify_books),
            resyncs: Vec::new(),
            config,
            endpoint,
            subscriptions,
            tracker: Tracker::new(),
            retry,
            events,
            commands,
            max_message_bytes: usize::MAX,
            commands_open: true,
            cancel,
        }
    }

    pub async fn run(mut self) {
        let _ = self.run_inner().await;
    }

    async fn run_inner(&mut self) -> Result<(), Stop> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.emit(ClientEvent::Connecting { attempt }).await?;
            let (reason, next) = match self.connect().await? {
                Ok((conn, welcome)) => {
                    attempt = 0;
                    self.serve(conn, welcome).await?
                }
                Err(failure) => failure,
            };
            let retry_in = self.retry.delay(next);
            self.emit(ClientEvent::Disconnected { reason, retry_in })
                .await?;
            let Some(delay) = retry_in else {
                return Ok(());
            };
            self.wait(delay).await?;
        }
    }

    async fn emit(&self, event: ClientEvent) -> Result<(), Stop> {
        self.events
            .send(event)
            .await
            .map_err(|_| Stop::EventsClosed)
    }

    /// Sleeps before the next attempt, still accepting commands.
    async fn wait(&mut self, delay: Duration) -> Result<(), Stop> {
        let deadline = Instant::now() + delay;
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return Err(Stop::Cancelled),
                () = sleep_until(deadline) => return Ok(()),
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(cmd) => self.apply_offline(cmd),
                    None => self.commands_open = false,
                },
            }
        }
    }

    fn apply_offline(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe {
                patterns,
                rewind,
                depth,
            } => {
                // Nothing in flight: the next connection subscribes at the new depth.
                self.subscriptions.add(&patterns, rewind, depth);
            }
            Command::Unsubscribe(drop) => self.drop_patterns(&drop, false),
        }
    }

    /// `sent`: an `unsubscribe` goes on the wire (its stragglers are dropped until the
    /// server answers it).
    fn drop_patterns(&mut self, drop: &[Pattern], sent: bool) {
        self.subscriptions.remove(drop, sent);
        let patterns = self.subscriptions.patterns();
        self.tracker.retain_matching(&patterns);
        self.books.retain_matching(&patterns);
    }

    /// One connection attempt up to `welcome`. The outer `Result` is for stopping.
    async fn connect(&mut self) -> Result<Result<(Connection, Welcome), (String, Next)>, Stop> {
        let attempt = attempt::welcomed(
            &self.endpoint,
            self.config.max_message_bytes,
            self.config.connect_timeout,
        );
        tokio::select! {
            () = self.cancel.cancelled() => Err(Stop::Cancelled),
            result = attempt => Ok(result),
        }
    }

    /// Runs one live connection until it ends; returns why and what to do next.
    async fn serve(
        &mut self,
        mut conn: Connection,
        welcome: Welcome,
    ) -> Result<(String, Next), Stop> {
        let epoch = welcome.epoch;
        let max_message_bytes = usize::try_from(welcome.max_message_bytes).unwrap_or(usize::MAX);
        let dead_after = dead_after(&welcome);
        self.emit(ClientEvent::Connected {
            server: welcome.server.clone(),
            addr: conn.addr,
            welcome,
        })
        .await?;
        self.subscriptions.connected();
        self.books.connected();
        // Every book comes fresh with the subscribe: nothing left to re-subscribe.
        self.resyncs.clear();
        let patterns = self.subscriptions.patterns();
        if !self.subscribe(&conn, &patterns, max_message_bytes).await {
            return Ok(("connection lost".to_owned(), Next::Backoff));
        }
        self.max_message_bytes = max_message_bytes;

        let mut reconnect_after = None;
        let mut deadline = Instant::now() + dead_after;
        loop {
            let next_resync = self.resyncs.iter().map(|(at, _)| *at).min();
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    conn.close(close::NORMAL, "client closing").await;
                    return Err(Stop::Cancelled);
                }
                item = conn.inbound.recv() => {
                    deadline = Instant::now() + dead_after;
                    match item {
                        Some(Inbound::Message(msg)) => {
                            if let ServerMessage::Shutdown(s) = &msg {
                                reconnect_after = Some(Duration::from_millis(s.reconnect_after_ms));
                            }
                            if let Some((topic, after)) = self.on_message(epoch, msg).await? {
                                self.resyncs.push((Instant::now() + after, topic));
                            }
                            // Here too, not only on the timer: a busy connection always has
                            // a message ready, and the select is biased towards it.
                            let now = Instant::now();
                            if self.resyncs.iter().any(|(at, _)| *at <= now)
                                && !self.due_resyncs(&conn).await
                            {
                                return Ok(("connection lost".to_owned(), Next::Backoff));
                            }
                        }
                        Some(Inbound::Closed { code, reason }) => {
                            let (reason, next) = closed(code, &reason);
                            return Ok((reason, after_shutdown(next, reconnect_after)));
                        }
                        Some(Inbound::Lost(reason)) => {
                            return Ok((reason, after_shutdown(Next::Backoff, reconnect_after)));
                        }
                        None => return Ok(("connection lost".to_owned(), Next::Backoff)),
                    }
                }
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(cmd) => {
                        if !self.apply_online(&conn, cmd).await {
                            return Ok(("connection lost".to_owned(), Next::Backoff));
                        }
                    }
                    None => self.commands_open = false,
                },
                () = sleep_until(next_resync.unwrap_or(deadline)), if next_resync.is_some() => {
                    if !self.due_resyncs(&conn).await {
                        return Ok(("connection lost".to_owned(), Next::Backoff));
                    }
                }
                () = sleep_until(deadline) => {
                    let reason = format!("no message for {} ms (server presumed dead)", dead_after.as_millis());
                    return Ok((reason, Next::Backoff));
                }
            }
        }
    }

    async fn apply_online(&mut self, conn: &Connection, cmd: Command) -> bool {
        match cmd {
            Command::Subscribe {
                patterns,
                rewind,
                depth,
            } => {
                self.subscriptions.add(&patterns, rewind, depth);
                self.subscribe(conn, &patterns, self.max_message_bytes)
                    .await
            }
            Command::Unsubscribe(drop) => {
                self.drop_patterns(&drop, true);
                let msg = Unsubscribe {
                    id: None,
                    topics: drop.iter().map(|p| p.as_str().to_owned()).collect(),
                };
                conn.send(&ClientMessage::Unsubscribe(msg)).await
            }
        }
    }

    /// Re-subscribes the book topics whose time has come. False when the connection is
    /// gone.
    async fn due_resyncs(&mut self, conn: &Connection) -> bool {
        let now = Instant::now();
        let (due, later) = std::mem::take(&mut self.resyncs)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.resyncs = later;
        for (_, topic) in due {
            if !self.resync(conn, &topic).await {
                return false;
            }
        }
        true
    }

    /// Asks for a fresh `book` of `topic`: a pattern that delivers it is subscribed again
    /// with the same options (PROTOCOL.md section 8, "Order books"; a wildcard's other books
    /// come fresh too, its other topics are already delivered and get nothing). Updates
    /// already on their way are dropped until the book (`books`). False when the
    /// connection is gone.
    async fn resync(&mut self, conn: &Connection, topic: &str) -> bool {
        let Some(pattern) = self.subscriptions.deliverer(topic) else {
            return true;
        };
        for subscribe in self.subscriptions.subscribes(&[pattern]) {
            if !conn.send(&ClientMessage::Subscribe(subscribe)).await {
                return false;
            }
        }
        true
    }

    /// Subscribes to `patterns`, handing over the positions of the topics they match first
    /// (`resume` messages, each within `max_message_bytes`), so every known topic resumes
    /// however many there are; topics without a position get their pattern's `rewind`.
    async fn subscribe(
        &mut self,
        conn: &Connection,
        patterns: &[Pattern],
        max_message_bytes: usize,
    ) -> bool {
        for since in pieces(self.tracker.since(patterns), max_message_bytes / 2) {
            let resume = Resume { id: None, since };
            self.subscriptions.sent_other();
            if !conn.send(&ClientMessage::Resume(resume)).await {
                return false;
            }
        }
        for subscribe in self.subscriptions.subscribes(patterns) {
            if !conn.send(&ClientMessage::Subscribe(subscribe)).await {
                return false;
            }
        }
        true
    }

    /// `server_epoch` (`welcome.epoch`) only stands in for a topic's epoch when the topic's
    /// own messages have not told it yet. Returns the book topic to re-subscribe, and
    /// after how long, if the message showed its book wrong.
    async fn on_message(
        &mut self,
        server_epoch: u64,
        msg: ServerMessage,
    ) -> Result<Option<(String, Duration)>, Stop> {
        let topic = data_topic(&msg);
        if topic.is_some_and(|t| self.subscriptions.unwanted(t)) {
            // Sent before the server took our `unsubscribe`: tracking it would make the
            // history of a later subscribe of the topic look like duplicates.
            return Ok(None);
        }
        let book_action = self.books.on_message(&mut self.tracker, &msg);
        let verdict = match (book_action, topic) {
            (Some(Action::Drop), _) => return Ok(None),
            (Some(Action::Resync { seq, fault, after }), Some(topic)) => {
                let topic = topic.to_owned();
                self.emit(ClientEvent::BookResync {
                    topic: topic.clone(),
                    seq,
                    fault,
                })
                .await?;
                return Ok(Some((topic, after)));
            }
            (Some(Action::Forward(verdict)), Some(topic)) => Some((
                topic.to_owned(),
                self.tracker.epoch_of(topic, server_epoch),
                verdict,
            )),
            _ => self.track(server_epoch, &msg),
        };
        match verdict {
            Some((_, _, SeqVerdict::Duplicate)) => return Ok(None),
            Some((
                topic,
                epoch,
                SeqVerdict::Gap {
                    expected,
                    got,
                    cause,
                },
            )) => {
                self.emit(ClientEvent::Gap {
                    topic,
                    epoch,
                    expected,
                    got,
                    cause,
                })
                .await?;
            }
            _ => {}
        }
        self.emit(ClientEvent::Message(msg)).await?;
        Ok(None)
    }

    /// What a message other than a book's means for its topic's position (and for the
    /// requests in flight).
    fn track(
        &mut self,
        server_epoch: u64,
        msg: &ServerMessage,
    ) -> Option<(String, u64, SeqVerdict)> {
        match msg {
            ServerMessage::Tick(t) => {
                let epoch = self.tracker.epoch_of(&t.topic, server_epoch);
                Some((
                    t.topic.clone(),
                    epoch,
                    self.tracker.on_seq(&t.topic, epoch, t.seq),
                ))
            }
            ServerMessage::Bar(b) => {
                let epoch = match b.epoch {
                    0 => self.tracker.epoch_of(&b.topic, server_epoch),
                    known => known,
                };
                let verdict = match b.recovered {
                    Some(false) => self
                        .tracker
                        .on_snapshot(&b.topic, epoch, b.seq, b.recovered),
                    _ => self.tracker.on_seq(&b.topic, epoch, b.seq),
                };
                Some((b.topic.clone(), epoch, verdict))
            }
            ServerMessage::Snapshot(s) => Some((
                s.topic.clone(),
                s.epoch,
                self.tracker
                    .on_snapshot(&s.topic, s.epoch, s.seq, s.recovered),
            )),
            ServerMessage::Ack(_) => {
                // The server took our subscription: this connection is healthy.
                self.retry.reset();
                self.subscriptions.answered();
                None
            }
            ServerMessage::Error(_) => {
                self.subscriptions.answered();
                None
            }
            _ => None,
        }
    }
}

/// The topic of a message that belongs to one (its seq, or its market state).
fn data_topic(msg: &ServerMessage) -> Option<&str> {
    match msg {
        ServerMessage::Tick(t) => Some(&t.topic),
        ServerMessage::Snapshot(s) => Some(&s.topic),
        ServerMessage::Bar(b) => Some(&b.topic),
        ServerMessage::Status(s) => Some(&s.topic),
        ServerMessage::Book(b) => Some(&b.topic),
        ServerMessage::BookUpdate(u) => Some(&u.topic),
        _ => None,
    }
}
