//! Dashboard state and how client events change it. Drawing lives in `ui`, keys and mouse
//! in `input`; nothing here touches the terminal or the network.

use std::net::SocketAddr;

use tickcast_proto::{ErrorCode, Op, ServerMessage};

use super::{
    follow::ChartTopic,
    ladder::BookTopic,
    model::{AlertHit, Market, Quote},
    stats::Stats,
    theme::Theme,
    timeframe::TimeFrame,
    window::ChartView,
};
use tickcast_client::{ClientEvent, Command};

const SECOND_NS: u64 = 1_000_000_000;
/// How long a notice stays in the status bar.
const NOTICE_NS: u64 = 5 * SECOND_NS;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Symbol,
    ChangePct,
    Volume,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            Self::Symbol => Self::ChangePct,
            Self::ChangePct => Self::Volume,
            Self::Volume => Self::Symbol,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Symbol => "symbol",
            Self::ChangePct => "%chg",
            Self::Volume => "volume",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    Line,
    Candles,
}

/// Which keyboard mode is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    /// `/`: typing a symbol to jump to; Esc goes back to `from`.
    Jump {
        text: String,
        from: Option<String>,
    },
    /// `+`: typing a pattern to subscribe to.
    AddPattern(String),
    /// `-`: picking a pattern to drop (index into `patterns`).
    DropPattern(usize),
    /// `a`: typing an alert price for the selected symbol.
    Alert(String),
}

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Conn {
    Connecting { attempt: u32 },
    Live,
    Reconnecting { at_ns: u64, reason: String },
    Stopped { reason: String },
}

#[derive(Debug, Clone)]
pub struct App {
    pub market: Market,
    /// `p`: the market as it was when frozen; drawn instead of the live one.
    pub frozen: Option<Market>,
    /// Symbols in display order (of the drawn market), refreshed by [`App::prepare`].
    pub order: Vec<String>,
    pub selected: Option<String>,
    /// First watchlist row shown.
    pub offset: usize,
    pub sort: SortKey,
    pub chart: ChartKind,
    pub frame: TimeFrame,
    /// Pan and zoom of the chart; back to live when the symbol or time frame changes.
    pub chart_view: ChartView,
    /// The bar topic subscribed for the chart (see `follow`), and what it was chosen for.
    pub(super) chart_topic: Option<ChartTopic>,
    /// The (symbol, frame) the chart view belongs to.
    pub(super) chart_for: Option<(String, TimeFrame)>,
    /// The chart topic wanted next, and since when (UNIX ns): it is subscribed once the
    /// selection has rested (see `follow`).
    pub(super) chart_next: Option<(Option<ChartTopic>, u64)>,
    /// Enter: the chart takes the whole screen.
    pub focus: bool,
    /// `b`: the depth ladder of the selected symbol is shown next to the chart.
    pub ladder: bool,
    /// The book topic subscribed for the ladder (see `ladder`), at the depth it fits.
    pub(super) book_topic: Option<BookTopic>,
    pub mode: Mode,
    pub conn: Conn,
    pub addr: Option<SocketAddr>,
    pub server: Option<String>,
    pub url: String,
    pub heartbeat_ms: u64,
    pub epoch: Option<u64>,
    /// Ticks stamped before this (server clock, UNIX ns) are history, not latency samples:
    /// the `welcome` time, or the time a pattern with history was added.
    pub(super) live_from_ns: u64,
    pub last_message_ns: u64,
    pub patterns: Vec<String>,
    pub stats: Stats,
    pub theme: Theme,
    /// Wall clock (UNIX ns) of the frame being prepared.
    pub now_ns: u64,
    /// Terminal size, for paging and mouse hit-testing.
    pub size: (u16, u16),
    pub notice: Option<(String, u64)>,
    pub(super) bell: bool,
    pub(super) dirty: bool,
    pub(super) quit: bool,
    pub(super) outbox: Vec<Command>,
    last_second_ns: u64,
}

impl App {
    pub fn new(url: impl Into<String>, patterns: Vec<String>, theme: Theme) -> Self {
        Self {
            market: Market::default(),
            frozen: None,
            order: Vec::new(),
            selected: None,
            offset: 0,
            sort: SortKey::Symbol,
            chart: ChartKind::Line,
            frame: TimeFrame::Ticks,
            chart_view: ChartView::default(),
            chart_topic: None,
            chart_for: None,
            chart_next: None,
            focus: false,
            ladder: false,
            book_topic: None,
            mode: Mode::Normal,
            conn: Conn::Connecting { attempt: 1 },
            addr: None,
            server: None,
            url: url.into(),
            heartbeat_ms: 1000,
            epoch: None,
            live_from_ns: 0,
            last_message_ns: 0,
            patterns,
            stats: Stats::default(),
            theme,
            now_ns: 0,
            size: (80, 24),
            notice: None,
            bell: false,
            dirty: true,
            quit: false,
            outbox: Vec::new(),
            last_second_ns: 0,
        }
    }

    /// The market being drawn: the frozen copy while paused, else the live one.
    pub fn view(&self) -> &Market {
        self.frozen.as_ref().unwrap_or(&self.market)
    }

    pub fn selected_quote(&self) -> Option<&Quote> {
        self.view().quotes.get(self.selected.as_deref()?)
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    pub fn mark_drawn(&mut self) {
        self.dirty = false;
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Whether to ring the terminal bell after this frame (an alert fired).
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.bell)
    }

    /// Subscription changes for the client, in order; the chart's bar topic follows the
    /// selection and time frame first, and the ladder's book topic the selection.
    pub fn take_commands(&mut self) -> Vec<Command> {
        self.follow_chart();
        self.follow_book();
        std::mem::take(&mut self.outbox)
    }

    pub fn notify(&mut self, text: impl Into<String>) {
        self.notice = Some((text.into(), self.now_ns + NOTICE_NS));
        self.dirty = true;
    }

    /// Whether the connection is live but silent for longer than two heartbeats.
    pub fn is_stale(&self) -> bool {
        self.conn == Conn::Live
            && self.last_message_ns > 0
            && self.now_ns.saturating_sub(self.last_message_ns) > 2 * self.heartbeat_ms * 1_000_000
    }

    pub fn on_client(&mut self, event: ClientEvent) {
        self.dirty |= self.frozen.is_none() || !matches!(event, ClientEvent::Message(_));
        match event {
            ClientEvent::Connecting { attempt } => self.conn = Conn::Connecting { attempt },
            ClientEvent::Connected {
                server,
                addr,
                welcome,
            } => {
                if self.epoch.is_some_and(|e| e != welcome.epoch) {
                    self.market.mark_all_gaps();
                    self.notify(
                        "server restarted: history before this point is from its previous run",
                    );
                }
                self.epoch = Some(welcome.epoch);
                self.live_from_ns = welcome.ts;
                self.heartbeat_ms = welcome.heartbeat_ms.max(1);
                self.conn = Conn::Live;
                self.addr = Some(addr);
                self.server = Some(server);
                self.last_message_ns = self.now_ns;
            }
            ClientEvent::Disconnected { reason, retry_in } => {
                self.conn = match retry_in {
                    Some(d) => Conn::Reconnecting {
                        at_ns: self.now_ns + d.as_nanos() as u64,
                        reason,
                    },
                    None => Conn::Stopped { reason },
                };
            }
            ClientEvent::Gap { topic, .. } => {
                self.stats.gaps += 1;
                self.market.mark_gap(&topic);
            }
            ClientEvent::BookResync { topic, fault, .. } => {
                // The client asks for a fresh book; until it comes the ladder waits.
                self.stats.gaps += 1;
                self.market.drop_book(&topic);
                self.notify(format!("{topic}: {fault}; fresh book requested"));
            }
            ClientEvent::Message(msg) => self.on_message(msg),
        }
    }

    fn on_message(&mut self, msg: ServerMessage) {
        let now = self.now_ns;
        self.last_message_ns = now;
        self.stats.messages += 1;
        self.stats.rate.record(now);
        let hit = match &msg {
            ServerMessage::Tick(t) => {
                if t.ts >= self.live_from_ns {
                    self.stats.latency.record(t.ts, now);
                }
                self.market.apply_tick(t, now)
            }
            ServerMessage::Snapshot(s) => self.market.apply_snapshot(s, now),
            ServerMessage::Bar(b) => {
                self.market.apply_bar(b);
                None
            }
            ServerMessage::Status(s) => {
                self.market.apply_status(s);
                None
            }
            ServerMessage::Book(b) => {
                self.market.apply_book(b);
                None
            }
            ServerMessage::BookUpdate(u) => {
                self.market.apply_book_update(u);
                None
            }
            ServerMessage::Lagged(l) => {
                self.stats.lagged += 1;
                self.stats.lagged_dropped += l.dropped;
                None
            }
            ServerMessage::Ack(ack) => {
                if ack.op == Op::Subscribe || ack.op == Op::Unsubscribe {
                    // The chart's bar topic and the ladder's book topic are not the
                    // user's patterns.
                    self.patterns = ack
                        .subscriptions
                        .iter()
                        .filter(|p| !self.is_chart_pattern(p) && !self.is_book_pattern(p))
                        .cloned()
                        .collect();
                }
                None
            }
            ServerMessage::Error(e) => {
                let text = match e.code {
                    ErrorCode::BadTopic => format!("bad pattern: {}", e.message),
                    code => format!("server error {}: {}", code.as_str(), e.message),
                };
                self.notify(text);
                None
            }
            ServerMessage::Shutdown(s) => {
                self.notify(format!("server shutting down: {}", s.reason));
                None
            }
            _ => None,
        };
        if let Some(AlertHit {
            symbol,
            target,
            price,
        }) = hit
        {
            self.bell = true;
            self.notify(format!(
                "ALERT {symbol} crossed {target:.2} (now {price:.2})"
            ));
        }
    }

    /// Advances the clock: rolls the per-second stats and expires notices. Call before
    /// drawing; it marks the screen dirty when something time-based changed.
    pub fn tick(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
        if now_ns.saturating_sub(self.last_second_ns) >= SECOND_NS {
            self.last_second_ns = now_ns;
            self.stats.rate.roll(now_ns);
            self.stats.latency.update();
            // Countdowns, staleness and rates are shown with one-second resolution.
            self.dirty = true;
        }
        if self
            .notice
            .as_ref()
            .is_some_and(|(_, until)| now_ns >= *until)
        {
            self.notice = None;
            self.dirty = true;
        }
    }

    /// When the next time-based redraw or subscription change is due (UNIX ns): a flash
    /// ending, the chart's topic settling, or the next second.
    pub fn next_wake_ns(&self) -> u64 {
        let second = self.last_second_ns + SECOND_NS;
        [
            self.view().next_flash_end(self.now_ns),
            self.chart_settles_at(),
        ]
        .into_iter()
        .flatten()
        .fold(second, u64::min)
    }

    /// Recomputes the display order and keeps the selection in view.
    pub fn prepare(&mut self) {
        let market = self.frozen.as_ref().unwrap_or(&self.market);
        let mut order: Vec<&Quote> = market.quotes.values().collect();
        match self.sort {
            SortKey::Symbol => {}
            SortKey::ChangePct => order.sort_by(|a, b| {
                let key = |q: &Quote| q.change_pct().unwrap_or(f64::NEG_INFINITY);
                key(b)
                    .total_cmp(&key(a))
                    .then_with(|| a.symbol.cmp(&b.symbol))
            }),
            SortKey::Volume => order.sort_by(|a, b| {
                b.volume
                    .cmp(&a.volume)
                    .then_with(|| a.symbol.cmp(&b.symbol))
            }),
        }
        let order: Vec<String> = order.into_iter().map(|q| q.symbol.clone()).collect();
        self.order = order;
        if self.selected.is_none() {
            self.selected = self.order.first().cloned();
        }
        self.scroll_into_view();
    }

    pub fn selected_index(&self) -> Option<usize> {
        let sel = self.selected.as_deref()?;
        self.order.iter().position(|s| s == sel)
    }

    pub(super) fn scroll_into_view(&mut self) {
        let rows = super::ui::watchlist_rows(self);
        let len = self.order.len();
        self.offset = self.offset.min(len.saturating_sub(rows));
        if let Some(i) = self.selected_index() {
            if i < self.offset {
                self.offset = i;
            } else if rows > 0 && i >= self.offset + rows {
                self.offset = i + 1 - rows;
            }
        }
    }
}
