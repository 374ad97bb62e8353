//! Reading what a topic keeps, for `GET /history/{topic}`: its latest messages in a time
//! range, oldest first, with the topic's epoch.

use tickcast_proto::ServerMessage;

use super::Broker;

/// Which of a topic's kept messages to read: the latest `limit` with
/// `from_ns <= ts < to_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    pub limit: usize,
    pub from_ns: u64,
    pub to_ns: u64,
}

/// A topic's messages as they were published (`tick`s, `bar`s), oldest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct History {
    pub topic: String,
    pub epoch: u64,
    pub messages: Vec<ServerMessage>,
}

impl Broker {
    /// What `topic` keeps within `query`; `None` when this server has no such topic.
    pub fn history(&self, topic: &str, query: &HistoryQuery) -> Option<History> {
        let topic = self.find(topic)?;
        let st = topic.lock();
        let in_range = |ts: u64| query.from_ns <= ts && ts < query.to_ns;
        let mut messages: Vec<ServerMessage> = st
            .ring
            .iter()
            .rev()
            .filter(|e| in_range(e.ts))
            .take(query.limit)
            .filter_map(|e| e.msg())
            .collect();
        messages.reverse();
        Some(History {
            topic: topic.name.to_string(),
            epoch: st.epoch,
            messages,
        })
    }
}
