//! Read-only views of the topics: the `list` request and `GET /topics`.

use tickcast_proto::{ErrorCode, MarketState, Pattern, RequestId, ServerMessage, Topics};

use super::{Broker, Reject};

/// One row of `GET /topics`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopicInfo {
    pub topic: String,
    pub seq: u64,
    pub subscribers: usize,
    pub state: MarketState,
    pub last_price: Option<f64>,
}

impl Broker {
    /// Names of topics that have data, sorted, optionally filtered by a pattern.
    pub fn list(&self, id: Option<RequestId>, pattern: Option<&str>) -> Result<Topics, Reject> {
        let pattern = pattern
            .map(|p| {
                Pattern::parse(p).map_err(|e| {
                    Reject::new(ErrorCode::BadTopic, format!("bad pattern {p:?}: {e}"))
                })
            })
            .transpose()?;
        let mut topics: Vec<String> = self
            .all_topics()
            .iter()
            .filter(|t| pattern.as_ref().is_none_or(|p| p.matches(&t.name)))
            .filter(|t| t.lock().seq > 0)
            .map(|t| t.name.to_string())
            .collect();
        topics.sort_unstable();
        Ok(Topics { id, topics })
    }

    /// A summary of every topic for `GET /topics`.
    pub fn describe(&self) -> Vec<TopicInfo> {
        let mut out: Vec<TopicInfo> = self
            .all_topics()
            .iter()
            .map(|t| {
                let st = t.lock();
                TopicInfo {
                    topic: t.name.to_string(),
                    seq: st.seq,
                    subscribers: st.subscribers.len(),
                    state: st.market,
                    last_price: st.last.as_ref().and_then(|m| match m {
                        ServerMessage::Tick(t) => Some(t.price),
                        ServerMessage::Bar(b) => Some(b.close),
                        _ => None,
                    }),
                }
            })
            .collect();
        out.sort_unstable_by(|a, b| a.topic.cmp(&b.topic));
        out
    }
}
