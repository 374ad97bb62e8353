//! The two encodings of protocol v1 (MessagePack and JSON), subprotocol negotiation,
//! and typed decode errors.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::message::{ClientMessage, ErrorCode, RequestId, ServerMessage};

/// How messages are encoded on one connection, chosen by WebSocket subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// One MessagePack map per binary frame (`tickcast.v1.msgpack`). The default.
    #[default]
    MsgPack,
    /// The same maps as JSON text frames (`tickcast.v1.json`), for humans with `websocat`.
    Json,
}

impl Encoding {
    pub const ALL: [Encoding; 2] = [Encoding::MsgPack, Encoding::Json];

    /// The `Sec-WebSocket-Protocol` token for this encoding.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Self::MsgPack => "tickcast.v1.msgpack",
            Self::Json => "tickcast.v1.json",
        }
    }

    /// The encoding named by a subprotocol token, if it is one of ours.
    pub fn from_subprotocol(token: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.subprotocol() == token.trim())
    }

    /// Picks the encoding for a `Sec-WebSocket-Protocol` request header (comma-separated
    /// offers, client's preference first). `None` offered means the default, msgpack.
    pub fn negotiate(offered: Option<&str>) -> Result<Negotiated, UnsupportedSubprotocol> {
        let Some(offered) = offered.filter(|o| !o.trim().is_empty()) else {
            return Ok(Negotiated {
                encoding: Self::MsgPack,
                echo: false,
            });
        };
        offered
            .split(',')
            .find_map(Self::from_subprotocol)
            .map(|encoding| Negotiated {
                encoding,
                echo: true,
            })
            .ok_or_else(|| UnsupportedSubprotocol(offered.to_owned()))
    }

    /// True for encodings carried in text frames.
    pub fn is_text(self) -> bool {
        self == Self::Json
    }
}

/// The outcome of [`Encoding::negotiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub encoding: Encoding,
    /// Whether the server must answer with `Sec-WebSocket-Protocol` (the client offered one).
    pub echo: bool,
}

/// The client offered only subprotocols this server does not speak.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported subprotocol {0:?}; supported: tickcast.v1.msgpack, tickcast.v1.json")]
pub struct UnsupportedSubprotocol(pub String);

/// A message could not be encoded.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("msgpack encode")]
    MsgPack(#[from] rmp_serde::encode::Error),
    #[error("json encode")]
    Json(#[from] serde_json::Error),
}

/// Why received bytes are not a valid message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Not a map in this encoding at all.
    #[error("frame is not a {encoding} map: {reason}")]
    NotAMessage {
        encoding: &'static str,
        reason: String,
    },
    /// A map without a string `type` key.
    #[error("message has no string `type` key")]
    MissingType { id: Option<RequestId> },
    /// A map whose `type` is not a message this side understands.
    #[error("unknown message type {kind:?}")]
    UnknownType { kind: String, id: Option<RequestId> },
    /// A known message with missing or ill-typed fields.
    #[error("invalid {kind}: {reason}")]
    Invalid {
        kind: String,
        reason: String,
        id: Option<RequestId>,
    },
}

impl DecodeError {
    /// The protocol error code a server answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotAMessage { .. } => ErrorCode::BadFrame,
            Self::MissingType { .. } | Self::Invalid { .. } => ErrorCode::BadRequest,
            Self::UnknownType { .. } => ErrorCode::UnknownType,
        }
    }

    /// The request id, when it could be read from the broken message.
    pub fn id(&self) -> Option<&RequestId> {
        match self {
            Self::NotAMessage { .. } => None,
            Self::MissingType { id } | Self::UnknownType { id, .. } | Self::Invalid { id, .. } => {
                id.as_ref()
            }
        }
    }
}

/// A top-level message enum: knows the `type` names it accepts.
pub trait Message: Serialize + DeserializeOwned {
    const TYPES: &'static [&'static str];
}

impl Message for ClientMessage {
    const TYPES: &'static [&'static str] = &[
        "subscribe",
        "resume",
        "unsubscribe",
        "list",
        "ping",
        "publish",
    ];
}

impl Message for ServerMessage {
    const TYPES: &'static [&'static str] = &[
        "welcome",
        "ack",
        "error",
        "topics",
        "pong",
        "tick",
        "snapshot",
        "bar",
        "book",
        "book_update",
        "status",
        "lagged",
        "heartbeat",
        "shutdown",
    ];
}

/// Appends the encoding of `msg` to `out`.
pub fn encode_into<T: Serialize + ?Sized>(
    encoding: Encoding,
    msg: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    match encoding {
        Encoding::MsgPack => {
            msg.serialize(&mut rmp_serde::Serializer::new(out).with_struct_map())?
        }
        Encoding::Json => serde_json::to_writer(out, msg)?,
    }
    Ok(())
}

/// Encodes `msg` as one message payload.
pub fn encode<T: Serialize + ?Sized>(encoding: Encoding, msg: &T) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(128);
    encode_into(encoding, msg, &mut out)?;
    Ok(out)
}

/// Decodes exactly one value that fills `bytes` (trailing bytes are an error in both
/// encodings: one message per frame).
fn from_bytes<T: DeserializeOwned>(encoding: Encoding, bytes: &[u8]) -> Result<T, String> {
    match encoding {
        Encoding::MsgPack => {
            let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
            let value = T::deserialize(&mut de).map_err(|e| e.to_string())?;
            let used = de.get_ref().position();
            match bytes.len() as u64 - used {
                0 => Ok(value),
                extra => Err(format!(
                    "{extra} bytes after the map (one message per frame)"
                )),
            }
        }
        Encoding::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

/// The keys used to classify a message that failed to decode.
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "type")]
    kind: Option<Kind>,
}

/// A `type` value: a name (a string: in MessagePack `str`, never `bin`), or anything else
/// (which counts as no `type`).
enum Kind {
    Name(String),
    Other,
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl<'de> serde::de::Visitor<'de> for KindVisitor {
            type Value = Kind;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a message type")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Kind, E> {
                Ok(Kind::Name(v.to_owned()))
            }
            fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Kind, E> {
                Ok(Kind::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Kind::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Kind::Other)
            }
        }
        deserializer.deserialize_any(KindVisitor)
    }
}

/// True when `bytes` start with a map: messages are maps, never positional arrays.
fn starts_with_map(encoding: Encoding, bytes: &[u8]) -> bool {
    match encoding {
        Encoding::MsgPack => matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf)),
        Encoding::Json => bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<RequestId>,
}

/// Decodes one message payload, telling malformed bytes, unknown types and invalid
/// fields apart.
pub fn decode<T: Message>(encoding: Encoding, bytes: &[u8]) -> Result<T, DecodeError> {
    let not_a_message = |reason| DecodeError::NotAMessage {
        encoding: match encoding {
            Encoding::MsgPack => "MessagePack",
            Encoding::Json => "JSON",
        },
        reason,
    };
    if !starts_with_map(encoding, bytes) {
        return Err(not_a_message("not a map".to_owned()));
    }
    let decoded = match (encoding, from_bytes::<T>(encoding, bytes)) {
        // A JSON tag can only be a string.
        (Encoding::Json, Ok(msg)) => return Ok(msg),
        (_, decoded) => decoded,
    };
    // The frame is one map with a string `type`: serde's tag reader also takes MessagePack
    // `bin`, so the type's wire form is checked here.
    let probe = from_bytes::<TypeProbe>(encoding, bytes).map_err(not_a_message)?;
    let reason = match (decoded, &probe.kind) {
        (Ok(msg), Some(Kind::Name(_))) => return Ok(msg),
        (Ok(_), _) => String::new(),
        (Err(reason), _) => reason,
    };
    let id = from_bytes::<IdOnly>(encoding, bytes)
        .ok()
        .and_then(|i| i.id);
    match probe.kind {
        None | Some(Kind::Other) => Err(DecodeError::MissingType { id }),
        Some(Kind::Name(kind)) if !T::TYPES.contains(&kind.as_str()) => {
            Err(DecodeError::UnknownType { kind, id })
        }
        Some(Kind::Name(kind)) => Err(DecodeError::Invalid { kind, reason, id }),
    }
}

/// Decodes a message sent by a client.
pub fn decode_client(encoding: Encoding, bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
    decode(encoding, bytes)
}

/// Decodes a message sent by a server.
pub fn decode_server(encoding: Encoding, bytes: &[u8]) -> Result<ServerMessage, DecodeError> {
    decode(encoding, bytes)
}
