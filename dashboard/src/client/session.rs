//! The client task: connect, subscribe, watch, and reconnect, forever or until told to stop.

use std::time::Duration;

use tickcast_proto::{
    ClientMessage, Pattern, ServerMessage, Subscribe, Unsubscribe, Welcome,
    close::{self, Reconnect},
};
use tokio::{
    sync::mpsc,
    time::{Instant, sleep_until, timeout},
};
use tokio_util::sync::CancellationToken;

use super::{
    ClientConfig, ClientEvent, Command,
    backoff::Backoff,
    connection::{self, Connection, Inbound, Target},
    tracker::{Tracker, Verdict},
};

/// Used when a server announces `heartbeat_ms: 0`.
const FALLBACK_HEARTBEAT: Duration = Duration::from_secs(1);
/// A second "reconnect now" close within this time is treated as "back off".
const NOW_AGAIN_WITHIN: Duration = Duration::from_secs(1);
/// A connection is dead after this many heartbeat intervals without a message.
const DEAD_AFTER_HEARTBEATS: u32 = 3;

/// What to do after a connection (attempt) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Never,
    Now,
    Backoff,
    After(Duration),
}

/// Why the task stops for good.
enum Stop {
    /// `Client::shutdown`, or the `Client` was dropped.
    Cancelled,
    /// Nobody reads the events any more.
    EventsClosed,
}

pub(crate) struct Supervisor {
    config: ClientConfig,
    target: Target,
    patterns: Vec<Pattern>,
    tracker: Tracker,
    backoff: Backoff,
    events: mpsc::Sender<ClientEvent>,
    commands: mpsc::Receiver<Command>,
    /// False once every `Client` handle is gone: stop polling `commands`.
    commands_open: bool,
    cancel: CancellationToken,
}

impl Supervisor {
    pub fn new(
        config: ClientConfig,
        target: Target,
        patterns: Vec<Pattern>,
        events: mpsc::Sender<ClientEvent>,
        commands: mpsc::Receiver<Command>,
        cancel: CancellationToken,
    ) -> Self {
        let backoff = Backoff::new(config.backoff_min, config.backoff_max);
        Self {
            config,
            target,
            patterns,
            tracker: Tracker::new(),
            backoff,
            events,
            commands,
            commands_open: true,
            cancel,
        }
    }

    pub async fn run(mut self) {
        let _ = self.run_inner().await;
    }

    async fn run_inner(&mut self) -> Result<(), Stop> {
        let mut attempt = 0;
        let mut last_now = None;
        loop {
            attempt += 1;
            self.emit(ClientEvent::Connecting { attempt }).await?;
            let (reason, next) = match self.connect().await? {
                Ok((conn, welcome)) => {
                    attempt = 0;
                    self.session(conn, welcome).await?
                }
                Err(failure) => failure,
            };
            // "Reconnect now" twice within a second is a loop: back off instead.
            let now_again = last_now.is_some_and(|t: Instant| t.elapsed() < NOW_AGAIN_WITHIN);
            if next == Next::Now {
                last_now = Some(Instant::now());
            }
            let retry_in = match next {
                Next::Never => None,
                Next::Now if now_again => Some(self.backoff.next_delay()),
                Next::Now => Some(Duration::ZERO),
                Next::Backoff => Some(self.backoff.next_delay()),
                Next::After(after) => Some(self.backoff.after(after)),
            };
            self.emit(ClientEvent::Disconnected {
                reason: reason.clone(),
                retry_in,
            })
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
            Command::Subscribe(add) => self.add_patterns(&add),
            Command::Unsubscribe(drop) => self.drop_patterns(&drop),
        }
    }

    fn add_patterns(&mut self, add: &[Pattern]) {
        for p in add {
            if !self.patterns.contains(p) {
                self.patterns.push(p.clone());
            }
        }
    }

    fn drop_patterns(&mut self, drop: &[Pattern]) {
        self.patterns.retain(|p| !drop.contains(p));
        self.tracker.retain_matching(&self.patterns);
    }

    /// One connection attempt up to `welcome`. The outer `Result` is for stopping.
    async fn connect(&mut self) -> Result<Result<(Connection, Welcome), (String, Next)>, Stop> {
        let attempt = async {
            let mut conn = connection::open(&self.target, self.config.max_message_bytes)
                .await
                .map_err(|e| {
                    let next = if e.retryable() {
                        Next::Backoff
                    } else {
                        Next::Never
                    };
                    (e.to_string(), next)
                })?;
            match conn.inbound.recv().await {
                Some(Inbound::Message(ServerMessage::Welcome(welcome))) => Ok((conn, welcome)),
                Some(Inbound::Message(other)) => {
                    Err((format!("expected welcome, got {other:?}"), Next::Backoff))
                }
                Some(Inbound::Closed { code, reason }) => Err(closed(code, &reason)),
                Some(Inbound::Lost(reason)) => Err((reason, Next::Backoff)),
                None => Err(("connection lost before welcome".to_owned(), Next::Backoff)),
            }
        };
        tokio::select! {
            () = self.cancel.cancelled() => Err(Stop::Cancelled),
            result = timeout(self.config.connect_timeout, attempt) => Ok(match result {
                Ok(r) => r,
                Err(_) => Err((
                    format!("no welcome within {:?}", self.config.connect_timeout),
                    Next::Backoff,
                )),
            }),
        }
    }

    /// Runs one live connection until it ends; returns why and what to do next.
    async fn session(
        &mut self,
        mut conn: Connection,
        welcome: Welcome,
    ) -> Result<(String, Next), Stop> {
        let epoch = welcome.epoch;
        let heartbeat = match welcome.heartbeat_ms {
            0 => FALLBACK_HEARTBEAT,
            ms => Duration::from_millis(ms),
        };
        let dead_after = heartbeat * DEAD_AFTER_HEARTBEATS;
        self.emit(ClientEvent::Connected {
            server: welcome.server.clone(),
            addr: conn.addr,
            welcome,
        })
        .await?;
        let since = self.tracker.since(&self.patterns);
        let subscribe = Subscribe {
            topics: self
                .patterns
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            since: (!since.is_empty()).then_some(since),
            // `Subscribe::default()` has `snapshot: false`; the protocol default is true.
            snapshot: true,
            ..Subscribe::default()
        };
        if !conn.send(&ClientMessage::Subscribe(subscribe)).await {
            return Ok(("connection lost".to_owned(), Next::Backoff));
        }

        let mut reconnect_after = None;
        let mut deadline = Instant::now() + dead_after;
        loop {
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
                            self.on_message(epoch, msg).await?;
                        }
                        Some(Inbound::Closed { code, reason }) => {
                            let (reason, next) = closed(code, &reason);
                            let next = match (next, reconnect_after) {
                                (Next::Backoff, Some(after)) => Next::After(after),
                                (next, _) => next,
                            };
                            return Ok((reason, next));
                        }
                        Some(Inbound::Lost(reason)) => {
                            return Ok((reason, reconnect_after.map_or(Next::Backoff, Next::After)));
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
                () = sleep_until(deadline) => {
                    let reason = format!("no message for {} ms (server presumed dead)", dead_after.as_millis());
                    return Ok((reason, Next::Backoff));
                }
            }
        }
    }

    async fn apply_online(&mut self, conn: &Connection, cmd: Command) -> bool {
        match cmd {
            Command::Subscribe(add) => {
                self.add_patterns(&add);
                let since = self.tracker.since(&add);
                let msg = Subscribe {
                    topics: add.iter().map(|p| p.as_str().to_owned()).collect(),
                    since: (!since.is_empty()).then_some(since),
                    snapshot: true,
                    ..Subscribe::default()
                };
                conn.send(&ClientMessage::Subscribe(msg)).await
            }
            Command::Unsubscribe(drop) => {
                self.drop_patterns(&drop);
                let msg = Unsubscribe {
                    id: None,
                    topics: drop.iter().map(|p| p.as_str().to_owned()).collect(),
                };
                conn.send(&ClientMessage::Unsubscribe(msg)).await
            }
        }
    }

    async fn on_message(&mut self, epoch: u64, msg: ServerMessage) -> Result<(), Stop> {
        let verdict = match &msg {
            ServerMessage::Tick(t) => {
                Some((t.topic.clone(), self.tracker.on_seq(&t.topic, epoch, t.seq)))
            }
            ServerMessage::Bar(b) => {
                Some((b.topic.clone(), self.tracker.on_seq(&b.topic, epoch, b.seq)))
            }
            ServerMessage::Snapshot(s) => Some((
                s.topic.clone(),
                self.tracker
                    .on_snapshot(&s.topic, s.epoch, s.seq, s.recovered),
            )),
            ServerMessage::Ack(_) => {
                // The server took our subscription: this connection is healthy.
                self.backoff.reset();
                None
            }
            _ => None,
        };
        match verdict {
            Some((_, Verdict::Duplicate)) => return Ok(()),
            Some((topic, Verdict::Gap { expected, got })) => {
                self.emit(ClientEvent::Gap {
                    topic,
                    expected,
                    got,
                })
                .await?;
            }
            _ => {}
        }
        self.emit(ClientEvent::Message(msg)).await
    }
}

/// The reason text and advice for a close frame.
fn closed(code: u16, reason: &str) -> (String, Next) {
    let text = if reason.is_empty() {
        format!("closed by server ({code})")
    } else {
        format!("closed by server ({code} {reason})")
    };
    let next = match close::advice(code) {
        Reconnect::Never => Next::Never,
        Reconnect::Now => Next::Now,
        Reconnect::Backoff => Next::Backoff,
    };
    (text, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_advice() {
        assert_eq!(closed(1001, "bye").1, Next::Backoff);
        assert_eq!(closed(4001, "").1, Next::Never);
        assert_eq!(closed(1009, "").1, Next::Never);
        assert_eq!(closed(4200, "").1, Next::Now);
        assert_eq!(closed(4100, "idle").0, "closed by server (4100 idle)");
    }
}
