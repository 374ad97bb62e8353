//! `GET /history/{topic}`: what a topic keeps, as JSON, MessagePack or CSV, under the same
//! access rules as the WebSocket (a token when the server requires one; its scopes).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use tickcast_proto::{Encoding, ErrorCode, Pattern, ServerMessage, TopicKind, validate_topic};

use super::{Body, json};
use crate::App;
use crate::broker::{History, HistoryQuery};

/// Messages returned when the request names no `limit`.
pub const DEFAULT_LIMIT: usize = 1000;

/// The path prefix this endpoint answers.
pub const PREFIX: &str = "/history/";

/// The body of every error answer: the protocol's `error` message shape.
#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    code: &'a str,
    message: String,
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<Body> {
    let mut resp = json(&ErrorBody {
        kind: "error",
        code,
        message: message.into(),
    });
    *resp.status_mut() = status;
    resp
}

fn bad_request(message: impl Into<String>) -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest.as_str(),
        message,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    MsgPack,
    Csv,
}

/// Answers `GET /history/{topic}` (`path` is the request path).
pub fn serve<B>(req: &Request<B>, app: &App, path: &str) -> Response<Body> {
    let raw = path.strip_prefix(PREFIX).unwrap_or_default();
    let topic = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
    if let Err(e) = validate_topic(&topic) {
        return error(
            StatusCode::BAD_REQUEST,
            ErrorCode::BadTopic.as_str(),
            format!("bad topic {topic:?}: {e}"),
        );
    }
    let grant = match app.auth.authorize(req.headers(), req.uri().query()) {
        Ok(grant) => grant,
        Err(denied) => {
            let mut resp = error(StatusCode::UNAUTHORIZED, "unauthorized", denied.to_string());
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tickcast\""),
            );
            return resp;
        }
    };
    if !Pattern::parse(&topic).is_ok_and(|p| grant.allows(&p)) {
        return error(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden.as_str(),
            format!("{topic} is outside this token's topics"),
        );
    }
    let (query, format) = match parse_query(req.uri().query().unwrap_or_default()) {
        Ok(parsed) => parsed,
        Err(message) => return bad_request(message),
    };
    let format = format.unwrap_or_else(|| negotiate(req));
    match app.broker.history(&topic, &query) {
        Some(history) => respond(&history, format),
        None => error(
            StatusCode::NOT_FOUND,
            "unknown_topic",
            format!("no topic {topic} on this server"),
        ),
    }
}

/// MessagePack when `Accept` asks for it, else JSON.
fn negotiate<B>(req: &Request<B>) -> Format {
    let wants_msgpack = req
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let media = t.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case("application/msgpack")
                || media.eq_ignore_ascii_case("application/x-msgpack")
        });
    if wants_msgpack {
        Format::MsgPack
    } else {
        Format::Json
    }
}

fn parse_query(query: &str) -> Result<(HistoryQuery, Option<Format>), String> {
    let mut parsed = HistoryQuery {
        limit: DEFAULT_LIMIT,
        from_ns: 0,
        to_ns: u64::MAX,
    };
    let mut format = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match key {
            "limit" => {
                parsed.limit =
                    value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("`limit` must be a positive integer, not {value:?}")
                    })?;
            }
            "from" => parsed.from_ns = parse_time(&value, "from")?,
            "to" => parsed.to_ns = parse_time(&value, "to")?,
            "format" => {
                format = Some(match &*value {
                    "json" => Format::Json,
                    "msgpack" => Format::MsgPack,
                    "csv" => Format::Csv,
                    other => {
                        return Err(format!(
                            "`format` must be json, msgpack or csv, not {other:?}"
                        ));
                    }
                });
            }
            "token" => {} // read by the access check
            other => return Err(format!("unknown query parameter {other:?}")),
        }
    }
    if parsed.from_ns >= parsed.to_ns {
        return Err("`from` must be before `to`".into());
    }
    Ok((parsed, format))
}

/// Nanoseconds since the UNIX epoch, or an RFC 3339 time (`2026-12-03T10:00:00Z`).
fn parse_time(value: &str, name: &str) -> Result<u64, String> {
    if let Ok(ns) = value.parse::<u64>() {
        return Ok(ns);
    }
    let bad = || {
        format!(
            "`{name}` must be nanoseconds since the UNIX epoch or an RFC 3339 time, not {value:?}"
        )
    };
    let at = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    u64::try_from(at.unix_timestamp_nanos()).map_err(|_| bad())
}

fn respond(history: &History, format: Format) -> Response<Body> {
    let (content_type, body) = match format {
        Format::Json => return json(history),
        Format::MsgPack => match tickcast_proto::encode(Encoding::MsgPack, history) {
            Ok(bytes) => ("application/msgpack", bytes),
            Err(e) => {
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::Internal.as_str(),
                    e.to_string(),
                );
            }
        },
        Format::Csv => ("text/csv; charset=utf-8", csv(history).into_bytes()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// One header row, then one message a line. Written by hand rather than with a CSV crate:
/// every field is a number or a symbol, whose grammar has no comma, quote or line break,
/// so nothing ever needs quoting.
fn csv(history: &History) -> String {
    let bars = matches!(TopicKind::of(&history.topic), TopicKind::Bars { .. });
    let mut out = String::from(if bars {
        "seq,ts,interval_ms,symbol,open,high,low,close,volume,trades\n"
    } else {
        "seq,ts,symbol,price,size,bid,ask,volume\n"
    });
    for msg in &history.messages {
        let line = match msg {
            ServerMessage::Tick(t) => format!(
                "{},{},{},{},{},{},{},{}\n",
                t.seq, t.ts, t.symbol, t.price, t.size, t.bid, t.ask, t.volume
            ),
            ServerMessage::Bar(b) => format!(
                "{},{},{},{},{},{},{},{},{},{}\n",
                b.seq,
                b.ts,
                b.interval_ms,
                b.symbol,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.trades
            ),
            _ => continue,
        };
        out.push_str(&line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_nanoseconds_or_rfc3339() {
        assert_eq!(
            parse_time("1764072000000000000", "from"),
            Ok(1_764_072_000_000_000_000)
        );
        assert_eq!(
            parse_time("2025-11-25T12:00:00Z", "from"),
            Ok(1_764_072_000_000_000_000)
        );
        assert_eq!(
            parse_time("2025-11-25T13:00:00.5+01:00", "to"),
            Ok(1_764_072_000_500_000_000)
        );
        assert!(parse_time("1969-12-31T23:59:59Z", "from").is_err());
        assert!(parse_time("yesterday", "from").is_err());
    }

    #[test]
    fn queries_are_checked() {
        let (q, f) = parse_query("limit=5&from=10&to=20&format=csv&token=x").unwrap();
        assert_eq!(
            (q.limit, q.from_ns, q.to_ns, f),
            (5, 10, 20, Some(Format::Csv))
        );
        for bad in [
            "limit=0",
            "limit=-1",
            "format=xml",
            "from=20&to=10",
            "colour=red",
        ] {
            assert!(parse_query(bad).is_err(), "{bad}");
        }
    }
}
