//! The chart's own subscription: the bar topic of the selected symbol in the current time
//! frame, subscribed with history (`rewind`) whenever it changes, the previous one dropped,
//! so every chart is full from its first frame and then follows live. A change waits until
//! the selection has rested a moment: scrolling through symbols asks for the history of
//! the one it stops at, not of every one it passes (each history takes the server's replay
//! room and the link for a while).

use tickcast_client::Command;
use tickcast_proto::{Pattern, TopicKind};

use super::{app::App, model::BAR_HISTORY, window::ChartView};

/// History each trades topic starts with (the watchlist's sparklines, the tick chart): 50
/// symbols x 200 ticks stay well within the server's replay room (2 MiB by default).
pub const TICK_REWIND: u32 = 200;
/// History the chart's bar topic starts with: as many bars as the dashboard keeps, so the
/// chart can pan and zoom out at once.
pub const CHART_REWIND: u32 = BAR_HISTORY as u32;
/// How long the selection and time frame must rest before the chart's topic changes.
pub const SETTLE_NS: u64 = 150_000_000;

/// The bar topic the chart shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartTopic {
    pub topic: String,
    /// Subscribed by the dashboard for the chart. False: one of the user's patterns
    /// delivers it already, so it gets no history of its own and is never dropped here.
    pub owned: bool,
}

impl App {
    /// Brings the chart's subscription in line with the selection and time frame, and
    /// puts the chart back to live when either changed.
    pub(super) fn follow_chart(&mut self) {
        let wanted = self.selected.clone().map(|s| (s, self.frame));
        if wanted != self.chart_for {
            self.chart_view = ChartView::default();
            self.chart_for.clone_from(&wanted);
        }
        let target = wanted.and_then(|(symbol, frame)| {
            let interval = frame.interval()?;
            let topic = interval.topic(&symbol);
            let pattern = Pattern::parse(&topic).ok()?;
            let covered = self
                .patterns
                .iter()
                .filter_map(|p| Pattern::parse(p).ok())
                .any(|p| p.matches(&topic));
            Some((symbol, interval, pattern, covered))
        });
        let desired = target.as_ref().map(|(_, _, pattern, covered)| ChartTopic {
            topic: pattern.as_str().to_owned(),
            owned: !covered,
        });
        if desired == self.chart_topic {
            self.chart_next = None;
            return;
        }
        let since = match &self.chart_next {
            Some((next, since)) if *next == desired => *since,
            _ => {
                self.chart_next = Some((desired, self.now_ns));
                return;
            }
        };
        if self.now_ns < since + SETTLE_NS {
            return;
        }
        self.chart_next = None;
        if let Some(old) = self.chart_topic.take().filter(|c| c.owned) {
            if let Ok(p) = Pattern::parse(&old.topic) {
                self.outbox.push(Command::Unsubscribe(vec![p]));
            }
            // No longer followed: what it has would go stale (unless a user pattern takes
            // the same topic over).
            let kept = desired.as_ref().is_some_and(|d| d.topic == old.topic);
            if let (false, TopicKind::Bars { interval, symbol }) = (kept, TopicKind::of(&old.topic))
            {
                self.market.reset_bars(symbol, interval);
            }
        }
        if let Some((symbol, interval, pattern, false)) = target {
            // The history replaces what we had: nothing stale is left bridging the time
            // the topic was not followed.
            self.market.reset_bars(&symbol, interval);
            self.outbox.push(Command::Subscribe {
                patterns: vec![pattern],
                rewind: Some(CHART_REWIND),
                depth: None,
            });
        }
        self.chart_topic = desired;
    }

    /// When the chart's next topic will have rested long enough (UNIX ns).
    pub(super) fn chart_settles_at(&self) -> Option<u64> {
        self.chart_next.as_ref().map(|(_, since)| since + SETTLE_NS)
    }

    /// Whether `pattern` is the chart's own subscription rather than one of the user's.
    pub(super) fn is_chart_pattern(&self, pattern: &str) -> bool {
        self.chart_topic
            .as_ref()
            .is_some_and(|c| c.owned && c.topic == pattern)
    }
}
