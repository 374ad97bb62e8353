//! A client's requests: decoding, the token scope check, and the answer to each of
//! `subscribe`, `unsubscribe`, `list`, `ping` and `publish` (with publish validation).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tickcast_proto::{
    Ack, ClientMessage, ErrorCode, Op, Pattern, Pong, Publish, RequestId, ServerMessage, Tick,
    decode_client, validate_topic,
};

use crate::App;
use crate::auth::Grant;
use crate::broker::{Peer, Reject};
use crate::unix_ns;

/// Queues an `error` answer and counts it.
pub(super) fn send_error(
    peer: &Peer,
    app: &App,
    id: Option<RequestId>,
    code: ErrorCode,
    message: String,
) {
    app.metrics.errors_sent.fetch_add(1, Relaxed);
    peer.push_message(&ServerMessage::Error(tickcast_proto::Error {
        id,
        code,
        message,
    }));
}

/// Answers one complete data message (`text`: it came in a text frame) of a non-echo
/// connection. Everything wrong with it is answered with an `error`, never a close.
pub(super) fn handle_request(
    peer: &Arc<Peer>,
    app: &App,
    grant: &Grant,
    text: bool,
    payload: &[u8],
) {
    let encoding = peer.outbox.encoding();
    if text != encoding.is_text() {
        let (got, want) = if text {
            ("text", "binary")
        } else {
            ("binary", "text")
        };
        let message = format!(
            "{got} frame on a {} connection: send {want} frames",
            encoding.subprotocol()
        );
        send_error(peer, app, None, ErrorCode::BadFrame, message);
        return;
    }
    let msg = match decode_client(encoding, payload) {
        Ok(msg) => msg,
        Err(e) => {
            send_error(peer, app, e.id().cloned(), e.code(), e.to_string());
            return;
        }
    };
    let id = msg.id().cloned();
    let result = match msg {
        ClientMessage::Subscribe(req) => match outside_grant(grant, &req.topics) {
            Some(reject) => Err(reject),
            None => app.broker.subscribe(peer, req),
        },
        ClientMessage::Resume(req) => app.broker.resume(peer, req),
        ClientMessage::Unsubscribe(req) => app.broker.unsubscribe(peer, req),
        ClientMessage::List(req) => {
            app.broker
                .list(req.id, req.pattern.as_deref())
                .map(|mut topics| {
                    // A scoped token lists only what it may subscribe to.
                    topics
                        .topics
                        .retain(|t| Pattern::parse(t).is_ok_and(|p| grant.allows(&p)));
                    peer.push_message(&ServerMessage::Topics(topics));
                })
        }
        ClientMessage::Ping(req) => {
            peer.push_message(&ServerMessage::Pong(Pong {
                id: req.id,
                ts: unix_ns(),
            }));
            Ok(())
        }
        ClientMessage::Publish(req) => publish(peer, app, grant, req),
    };
    if let Err(reject) = result {
        send_error(peer, app, id, reject.code, reject.message);
    }
}

/// `forbidden` when a requested pattern reaches beyond the connection's token scope.
/// (Patterns that do not parse are left for the broker to answer with `bad_topic`.)
fn outside_grant(grant: &Grant, topics: &[String]) -> Option<Reject> {
    let denied = topics
        .iter()
        .find(|t| Pattern::parse(t).is_ok_and(|p| !grant.allows(&p)))?;
    Some(Reject::new(
        ErrorCode::Forbidden,
        format!("your token does not allow {denied:?}"),
    ))
}

fn finite_positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Checks a `publish` request: the right to publish, the topic, prices and size. On
/// success, the trade's bid and ask (a missing one is the price).
fn validate_publish(grant: &Grant, req: &Publish) -> Result<(f64, f64), Reject> {
    let bad = |code, message: String| Err(Reject::new(code, message));
    if !grant.publish {
        return bad(
            ErrorCode::Forbidden,
            "this connection may not publish (connect with the publish token)".into(),
        );
    }
    if let Err(e) = validate_topic(&req.topic) {
        return bad(
            ErrorCode::BadTopic,
            format!("bad topic {:?}: {e}", req.topic),
        );
    }
    if req.topic.starts_with("bars.") {
        return bad(
            ErrorCode::BadTopic,
            "bars.* topics are computed by the server from ticks".into(),
        );
    }
    if Pattern::parse(&req.topic).is_ok_and(|p| !grant.allows(&p)) {
        return bad(
            ErrorCode::Forbidden,
            format!("your token does not allow {:?}", req.topic),
        );
    }
    let (bid, ask) = (req.bid.unwrap_or(req.price), req.ask.unwrap_or(req.price));
    if !finite_positive(req.price) || !finite_positive(bid) || !finite_positive(ask) {
        return bad(
            ErrorCode::BadRequest,
            "price, bid and ask must be finite and > 0".into(),
        );
    }
    if bid > ask {
        return bad(
            ErrorCode::BadRequest,
            format!("bid {bid} is above ask {ask}"),
        );
    }
    if req.size == 0 {
        return bad(ErrorCode::BadRequest, "size must be at least 1".into());
    }
    Ok((bid, ask))
}

/// Validates a published trade, lets the ingress broker stamp `seq` and `ts`, and acks it.
fn publish(peer: &Peer, app: &App, grant: &Grant, req: Publish) -> Result<(), Reject> {
    let (bid, ask) = validate_publish(grant, &req)?;
    let symbol = req.topic.rsplit('.').next().unwrap_or_default().to_owned();
    app.ingress.publish_stamped_tick(Tick {
        topic: req.topic.clone(),
        seq: 0,
        ts: req.ts.unwrap_or(0),
        symbol,
        price: req.price,
        size: req.size,
        bid,
        ask,
        volume: 0,
    })?;
    peer.push_message(&ServerMessage::Ack(Ack {
        id: req.id,
        op: Op::Publish,
        topics: vec![req.topic],
        subscriptions: app.broker.subscriptions_of(peer),
    }));
    Ok(())
}
