//! The NATS envelope of a tickcast message between cluster members: the header names,
//! and (feature `nats`) the one encoder and decoder of [`Envelope`]. No I/O here.
//!
//! The subject is the topic (`ticks.AAPL`, `bars.1s.AAPL`), the payload is the message's
//! MessagePack map exactly as clients get it ([`crate::encode`] with
//! [`crate::Encoding::MsgPack`]), and two headers carry what the map does not: the
//! topic's epoch and, on ticks, the reference price. `seq`, `ts` and the epoch are
//! assigned once where a message enters the cluster, so every node delivers the same
//! bytes for it. Ticks, bars, status messages and books travel this way; a book as changes
//! (a `book_update` of every changed level, the whole depth) and, now and then and first,
//! whole (a `book` of every level, `depth` 0, with [`BOOK_VIEWS_HEADER`]), from which every
//! node builds the same per-depth updates (`tickcast_proto::book_state`).

/// The topic's epoch (decimal `u64`): a new value starts a new history of the topic.
pub const EPOCH_HEADER: &str = "Tickcast-Epoch";

/// On ticks: the symbol's reference price (previous close), a decimal `f64`, so every
/// node's snapshots carry the same `prev_close`. Absent when the source has none.
pub const PREV_CLOSE_HEADER: &str = "Tickcast-Prev-Close";

/// On a whole `book`: the `seq` of each depth's view (the last change that touched the book
/// to that depth), decimals joined by `,` in the order of [`crate::book::DEPTHS`].
pub const BOOK_VIEWS_HEADER: &str = "Tickcast-Book-Views";

/// The JetStream stream that keeps the cluster's history (one per NATS account): per
/// subject, the newest messages, as many as a node holds of a topic.
pub const STREAM: &str = "TICKCAST";

/// The subjects [`STREAM`] keeps: the topics a source stamps (a symbol's ticks with its
/// status messages, its bars of every interval, its book), exactly those [`kept`] names.
pub fn stream_subjects() -> Vec<String> {
    let bars = crate::BarInterval::ALL.map(|i| i.topic("*"));
    ["ticks.*".to_owned(), "book.*".to_owned()]
        .into_iter()
        .chain(bars)
        .collect()
}

/// Whether [`STREAM`] keeps `topic` (a publisher's own topics are not kept).
pub fn kept(topic: &str) -> bool {
    !matches!(crate::TopicKind::of(topic), crate::TopicKind::Other)
}

/// The `seq`s of a book's views, one per depth of [`crate::book::DEPTHS`].
pub type ViewSeqs = [u64; crate::book::DEPTHS.len()];

#[cfg(feature = "nats")]
pub use envelope::{Envelope, EnvelopeError};

#[cfg(feature = "nats")]
pub mod publisher;

/// [`STREAM`] as a node or `tickcast-sim --nats` creates it when it is missing: file
/// storage on `replicas` NATS servers, the newest `per_subject` messages of each subject.
#[cfg(feature = "nats")]
pub fn stream_config(per_subject: i64, replicas: usize) -> async_nats::jetstream::stream::Config {
    use async_nats::jetstream::stream;
    stream::Config {
        name: STREAM.to_owned(),
        subjects: stream_subjects(),
        max_messages_per_subject: per_subject,
        storage: stream::StorageType::File,
        discard: stream::DiscardPolicy::Old,
        num_replicas: replicas.max(1),
        // Long enough for every republication of a message (publisher::MAX_AGE) to be
        // recognised as a repeat; the ids are held in the NATS servers' memory meanwhile.
        duplicate_window: publisher::MAX_AGE * 3,
        ..Default::default()
    }
}

/// The NATS servers of `urls`, comma-separated (the members of a NATS cluster).
#[cfg(feature = "nats")]
pub fn server_addrs(urls: &str) -> std::io::Result<Vec<async_nats::ServerAddr>> {
    urls.split(',').map(|one| one.trim().parse()).collect()
}

/// Opens [`STREAM`] through `jetstream`, creating it with `config` when missing, retrying
/// for `limit` while a NATS cluster elects its JetStream leader (a moment after it starts,
/// seconds after one dies). The error is the last attempt's.
#[cfg(feature = "nats")]
pub async fn open_stream(
    jetstream: &async_nats::jetstream::Context,
    config: async_nats::jetstream::stream::Config,
    limit: std::time::Duration,
) -> Result<async_nats::jetstream::stream::Stream, String> {
    use std::time::Duration;
    const ATTEMPT: Duration = Duration::from_secs(5);
    const PAUSE: Duration = Duration::from_millis(250);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let error =
            match tokio::time::timeout(ATTEMPT, jetstream.get_or_create_stream(config.clone()))
                .await
            {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no answer within {ATTEMPT:?}"),
            };
        if tokio::time::Instant::now() >= deadline {
            return Err(error);
        }
        tokio::time::sleep(PAUSE).await;
    }
}

#[cfg(feature = "nats")]
mod envelope {
    use async_nats::HeaderMap;
    use bytes::Bytes;

    use super::{BOOK_VIEWS_HEADER, EPOCH_HEADER, PREV_CLOSE_HEADER, ViewSeqs};
    use crate::{DecodeError, EncodeError, Encoding, ServerMessage, TopicError};

    /// One tickcast message as it travels on NATS: what a source publishes and what a
    /// node takes in.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Envelope {
        /// The message's topic, which is also the NATS subject.
        pub topic: String,
        /// The topic's epoch at its source (µs since the UNIX epoch when it started).
        pub epoch: u64,
        /// On ticks: the symbol's reference price, when the source has one.
        pub prev_close: Option<f64>,
        /// On a whole `book`: its views' `seq`s.
        pub book_views: Option<ViewSeqs>,
        /// The message's MessagePack map, as clients get it.
        pub payload: Bytes,
    }

    /// Why a message cannot travel as an [`Envelope`], or a NATS message is not one.
    #[derive(Debug, thiserror::Error)]
    pub enum EnvelopeError {
        #[error("no {EPOCH_HEADER} header")]
        MissingEpoch,
        #[error("bad {EPOCH_HEADER} header {value:?}")]
        BadEpoch {
            value: String,
            #[source]
            source: std::num::ParseIntError,
        },
        #[error("bad {PREV_CLOSE_HEADER} header {value:?}: not a positive, finite price")]
        BadPrevClose { value: String },
        #[error("a whole book without a valid {BOOK_VIEWS_HEADER} header")]
        BadBookViews,
        #[error("the payload is not a tickcast message")]
        Decode(#[from] DecodeError),
        #[error("encoding the message")]
        Encode(#[from] EncodeError),
        #[error("a {kind} message is not carried between nodes")]
        NotCarried { kind: &'static str },
        #[error("the message's topic {topic:?} is not its subject {subject:?}")]
        SubjectMismatch { topic: String, subject: String },
        #[error("bad topic {topic:?}")]
        BadTopic {
            topic: String,
            #[source]
            source: TopicError,
        },
    }

    impl Envelope {
        /// Encodes `msg` (a tick, bar or status) with its topic's `epoch` and, for a tick,
        /// the reference price. A node whose broker has already encoded the map builds
        /// the envelope from those bytes instead.
        pub fn encode(
            msg: &ServerMessage,
            epoch: u64,
            prev_close: Option<f64>,
        ) -> Result<Self, EnvelopeError> {
            let topic = carried_topic(msg)?.to_owned();
            let payload = crate::encode(Encoding::MsgPack, msg)?;
            Ok(Self {
                topic,
                epoch,
                prev_close,
                book_views: None,
                payload: Bytes::from(payload),
            })
        }

        /// The headers that carry the epoch and the reference price.
        pub fn headers(&self) -> HeaderMap {
            let mut headers = HeaderMap::new();
            headers.insert(EPOCH_HEADER, self.epoch.to_string());
            if let Some(price) = self.prev_close {
                headers.insert(PREV_CLOSE_HEADER, price.to_string());
            }
            if let Some(seqs) = self.book_views {
                let seqs: Vec<String> = seqs.iter().map(u64::to_string).collect();
                headers.insert(BOOK_VIEWS_HEADER, seqs.join(","));
            }
            headers
        }

        /// Subject, headers and payload, as `async_nats::Client::publish_with_headers`
        /// takes them.
        pub fn into_parts(self) -> (String, HeaderMap, Bytes) {
            let headers = self.headers();
            (self.topic, headers, self.payload)
        }

        /// Checks and decodes a message received from NATS: the epoch header parses, a
        /// reference price is positive and finite, the payload is a tick, bar or status
        /// whose topic is the subject and obeys the topic grammar.
        pub fn decode(msg: &async_nats::Message) -> Result<(Self, ServerMessage), EnvelopeError> {
            let header = |name: &str| {
                msg.headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str())
            };
            let epoch = header(EPOCH_HEADER).ok_or(EnvelopeError::MissingEpoch)?;
            let epoch = epoch
                .parse::<u64>()
                .map_err(|source| EnvelopeError::BadEpoch {
                    value: epoch.to_owned(),
                    source,
                })?;
            let prev_close = header(PREV_CLOSE_HEADER)
                .map(|value| match value.parse::<f64>() {
                    Ok(price) if price.is_finite() && price > 0.0 => Ok(price),
                    _ => Err(EnvelopeError::BadPrevClose {
                        value: value.to_owned(),
                    }),
                })
                .transpose()?;
            let decoded = crate::decode_server(Encoding::MsgPack, &msg.payload)?;
            let book_views = match (&decoded, header(BOOK_VIEWS_HEADER)) {
                (ServerMessage::Book(_), Some(value)) => {
                    Some(parse_views(value).ok_or(EnvelopeError::BadBookViews)?)
                }
                (ServerMessage::Book(_), None) => return Err(EnvelopeError::BadBookViews),
                _ => None,
            };
            let topic = carried_topic(&decoded)?;
            if topic != msg.subject.as_str() {
                return Err(EnvelopeError::SubjectMismatch {
                    topic: topic.to_owned(),
                    subject: msg.subject.to_string(),
                });
            }
            crate::validate_topic(topic).map_err(|source| EnvelopeError::BadTopic {
                topic: topic.to_owned(),
                source,
            })?;
            let envelope = Self {
                topic: topic.to_owned(),
                epoch,
                prev_close,
                book_views,
                payload: msg.payload.clone(),
            };
            Ok((envelope, decoded))
        }
    }

    /// [`BOOK_VIEWS_HEADER`]'s value: one decimal per depth.
    fn parse_views(value: &str) -> Option<ViewSeqs> {
        let mut seqs = ViewSeqs::default();
        let mut parts = value.split(',');
        for seq in &mut seqs {
            *seq = parts.next()?.trim().parse().ok()?;
        }
        parts.next().is_none().then_some(seqs)
    }

    /// The topic of a message that travels between nodes (tick, bar, status, book).
    fn carried_topic(msg: &ServerMessage) -> Result<&str, EnvelopeError> {
        match msg {
            ServerMessage::Tick(t) => Ok(&t.topic),
            ServerMessage::Bar(b) => Ok(&b.topic),
            ServerMessage::Status(s) => Ok(&s.topic),
            ServerMessage::Book(b) => Ok(&b.topic),
            ServerMessage::BookUpdate(u) => Ok(&u.topic),
            ServerMessage::Snapshot(_) => Err(EnvelopeError::NotCarried { kind: "snapshot" }),
            ServerMessage::Welcome(_) => Err(EnvelopeError::NotCarried { kind: "welcome" }),
            _ => Err(EnvelopeError::NotCarried { kind: "control" }),
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]
        use super::*;
        use crate::{Bar, MarketState, Status, Tick, Welcome};

        fn tick() -> ServerMessage {
            ServerMessage::Tick(Tick {
                topic: "ticks.AAPL".into(),
                seq: 42,
                ts: 1_764_072_005_123_456_789,
                symbol: "AAPL".into(),
                price: 187.32,
                size: 100,
                bid: 187.31,
                ask: 187.33,
                volume: 1_000,
            })
        }

        /// A NATS message as a subscriber receives it.
        fn received(
            subject: &str,
            headers: Option<HeaderMap>,
            payload: &[u8],
        ) -> async_nats::Message {
            async_nats::Message {
                subject: subject.into(),
                reply: None,
                payload: Bytes::copy_from_slice(payload),
                headers,
                status: None,
                description: None,
                length: payload.len(),
            }
        }

        fn published(envelope: Envelope) -> async_nats::Message {
            let (subject, headers, payload) = envelope.into_parts();
            received(&subject, Some(headers), &payload)
        }

        #[test]
        fn an_encoded_tick_decodes_to_the_same_message() {
            let envelope = Envelope::encode(&tick(), 1_764_072_000_000_000, Some(185.5)).unwrap();
            assert_eq!(envelope.topic, "ticks.AAPL");
            assert_eq!(
                envelope.payload,
                crate::encode(Encoding::MsgPack, &tick()).unwrap(),
                "the payload is the client's MessagePack map, unchanged"
            );
            let (decoded, msg) = Envelope::decode(&published(envelope.clone())).unwrap();
            assert_eq!(decoded, envelope);
            assert_eq!(msg, tick());
        }

        #[test]
        fn bars_and_status_travel_without_a_reference_price() {
            for msg in [
                ServerMessage::Bar(Bar {
                    topic: "bars.1s.AAPL".into(),
                    seq: 3,
                    ..Bar::default()
                }),
                ServerMessage::Status(Status {
                    topic: "ticks.AAPL".into(),
                    state: MarketState::Halted,
                    ts: 7,
                }),
            ] {
                let envelope = Envelope::encode(&msg, 9, None).unwrap();
                assert!(envelope.headers().get(PREV_CLOSE_HEADER).is_none());
                let (decoded, back) = Envelope::decode(&published(envelope)).unwrap();
                assert_eq!((decoded.epoch, decoded.prev_close, back), (9, None, msg));
            }
        }

        #[test]
        fn a_whole_book_carries_its_views_seqs_and_needs_them() {
            let whole = ServerMessage::Book(crate::Book {
                topic: "book.AAPL".into(),
                seq: 40,
                symbol: "AAPL".into(),
                tick_size: 0.01,
                bids: vec![(187.31, 100)],
                asks: vec![(187.33, 200)],
                ..crate::Book::default()
            });
            let mut envelope = Envelope::encode(&whole, 9, None).unwrap();
            envelope.book_views = Some([12, 15, 40, 40]);
            assert_eq!(
                envelope
                    .headers()
                    .get(BOOK_VIEWS_HEADER)
                    .map(|v| v.as_str()),
                Some("12,15,40,40")
            );
            let (decoded, back) = Envelope::decode(&published(envelope.clone())).unwrap();
            assert_eq!((decoded.book_views, back), (Some([12, 15, 40, 40]), whole));
            for bad in [
                None,
                Some("12,15,40"),
                Some("12,15,40,40,1"),
                Some("a,b,c,d"),
            ] {
                let mut envelope = envelope.clone();
                envelope.book_views = None;
                let mut msg = published(envelope);
                if let (Some(value), Some(headers)) = (bad, msg.headers.as_mut()) {
                    headers.insert(BOOK_VIEWS_HEADER, value);
                }
                assert!(
                    matches!(Envelope::decode(&msg), Err(EnvelopeError::BadBookViews)),
                    "{bad:?}"
                );
            }
        }

        #[test]
        fn only_ticks_bars_status_and_books_are_carried() {
            let welcome = ServerMessage::Welcome(Welcome::default());
            assert!(matches!(
                Envelope::encode(&welcome, 1, None),
                Err(EnvelopeError::NotCarried { kind: "welcome" })
            ));
            let payload = crate::encode(Encoding::MsgPack, &welcome).unwrap();
            let mut headers = HeaderMap::new();
            headers.insert(EPOCH_HEADER, "7");
            assert!(matches!(
                Envelope::decode(&received("ticks.AAPL", Some(headers), &payload)),
                Err(EnvelopeError::NotCarried { .. })
            ));
        }

        #[test]
        fn foreign_messages_are_rejected() {
            let payload = crate::encode(Encoding::MsgPack, &tick()).unwrap();
            let decode = |subject: &str, headers: Option<&HeaderMap>, payload: &[u8]| {
                Envelope::decode(&received(subject, headers.cloned(), payload))
            };
            let mut headers = HeaderMap::new();
            assert!(matches!(
                decode("ticks.AAPL", None, &payload),
                Err(EnvelopeError::MissingEpoch)
            ));
            headers.insert(EPOCH_HEADER, "soon");
            assert!(matches!(
                decode("ticks.AAPL", Some(&headers), &payload),
                Err(EnvelopeError::BadEpoch { .. })
            ));
            headers.insert(EPOCH_HEADER, "7");
            assert!(matches!(
                decode("ticks.MSFT", Some(&headers), &payload),
                Err(EnvelopeError::SubjectMismatch { .. })
            ));
            assert!(matches!(
                decode("ticks.AAPL", Some(&headers), b"hello"),
                Err(EnvelopeError::Decode(_))
            ));
            let mut bad = tick();
            if let ServerMessage::Tick(t) = &mut bad {
                t.topic = "ticks.A$".into();
            }
            let bad = crate::encode(Encoding::MsgPack, &bad).unwrap();
            assert!(matches!(
                decode("ticks.A$", Some(&headers), &bad),
                Err(EnvelopeError::BadTopic { .. })
            ));
            headers.insert(PREV_CLOSE_HEADER, "NaN");
            assert!(matches!(
                decode("ticks.AAPL", Some(&headers), &payload),
                Err(EnvelopeError::BadPrevClose { .. })
            ));
        }

        #[test]
        fn each_cause_is_printed_once() {
            let mut headers = HeaderMap::new();
            headers.insert(EPOCH_HEADER, "soon");
            let payload = crate::encode(Encoding::MsgPack, &tick()).unwrap();
            let err =
                Envelope::decode(&received("ticks.AAPL", Some(headers), &payload)).unwrap_err();
            let source = std::error::Error::source(&err).unwrap().to_string();
            assert!(!err.to_string().contains(&source), "{err}: {source}");
        }
    }
}
