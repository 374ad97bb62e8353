//! proptest strategies for every message of protocol v1, with arbitrary strings, any u64,
//! any finite f64 and optional fields both present and absent.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use tickcast_proto::{
    Ack, Bar, ClientMessage, Error, ErrorCode, Heartbeat, Lagged, List, MarketState, Op, Ping,
    Pong, Publish, RequestId, Resume, ServerMessage, Shutdown, Snapshot, Status, Subscribe, Tick,
    Topics, Unsubscribe, Welcome,
};

/// Any string, including ones that are not valid topics: the codec does not validate topics.
pub fn text() -> impl Strategy<Value = String> {
    any::<String>()
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..4)
}

/// Any finite f64 of either sign: normal, subnormal or zero.
pub fn finite() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

fn request_id() -> impl Strategy<Value = Option<RequestId>> {
    option::of(prop_oneof![
        any::<u64>().prop_map(RequestId::Num),
        text().prop_map(RequestId::Text),
    ])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Subscribe),
        Just(Op::Unsubscribe),
        Just(Op::Publish)
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        Just(ErrorCode::BadFrame),
        Just(ErrorCode::BadRequest),
        Just(ErrorCode::UnknownType),
        Just(ErrorCode::BadTopic),
        Just(ErrorCode::Forbidden),
        Just(ErrorCode::TooManySubscriptions),
        Just(ErrorCode::RateLimited),
        Just(ErrorCode::Internal),
        Just(ErrorCode::Unknown),
    ]
}

fn market_state() -> impl Strategy<Value = MarketState> {
    prop_oneof![
        Just(MarketState::Open),
        Just(MarketState::Halted),
        Just(MarketState::Closed),
        Just(MarketState::Unknown),
    ]
}

prop_compose! {
    pub fn subscribe()(
        id in request_id(),
        topics in texts(),
        snapshot in any::<bool>(),
        since in option::of(btree_map(text(), any::<(u64, u64)>(), 0..4)),
        max_rate in option::of(any::<u32>()),
        rewind in option::of(any::<u32>()),
        depth in option::of(any::<u32>()),
    ) -> Subscribe {
        Subscribe { id, topics, snapshot, since, max_rate, rewind, depth }
    }
}

prop_compose! {
    pub fn resume()(
        id in request_id(),
        since in btree_map(text(), any::<(u64, u64)>(), 0..4),
    ) -> Resume {
        Resume { id, since }
    }
}

prop_compose! {
    pub fn unsubscribe()(id in request_id(), topics in texts()) -> Unsubscribe {
        Unsubscribe { id, topics }
    }
}

prop_compose! {
    pub fn list()(id in request_id(), pattern in option::of(text())) -> List {
        List { id, pattern }
    }
}

prop_compose! {
    pub fn ping()(id in request_id()) -> Ping {
        Ping { id }
    }
}

prop_compose! {
    pub fn publish()(
        id in request_id(),
        topic in text(),
        price in finite(),
        size in any::<u64>(),
        bid in option::of(finite()),
        ask in option::of(finite()),
        ts in option::of(any::<u64>()),
    ) -> Publish {
        Publish { id, topic, price, size, bid, ask, ts }
    }
}

prop_compose! {
    pub fn welcome()(
        protocol in any::<u32>(),
        server in text(),
        epoch in any::<u64>(),
        heartbeat_ms in any::<u64>(),
        max_message_bytes in any::<u64>(),
        max_subscriptions in any::<u32>(),
        ts in any::<u64>(),
    ) -> Welcome {
        Welcome { protocol, server, epoch, heartbeat_ms, max_message_bytes, max_subscriptions, ts }
    }
}

prop_compose! {
    pub fn ack()(id in request_id(), op in op(), topics in texts(), subscriptions in texts()) -> Ack {
        Ack { id, op, topics, subscriptions }
    }
}

prop_compose! {
    pub fn error()(id in request_id(), code in error_code(), message in text()) -> Error {
        Error { id, code, message }
    }
}

prop_compose! {
    pub fn topics()(id in request_id(), topics in texts()) -> Topics {
        Topics { id, topics }
    }
}

prop_compose! {
    pub fn pong()(id in request_id(), ts in any::<u64>()) -> Pong {
        Pong { id, ts }
    }
}

prop_compose! {
    pub fn tick()(
        topic in text(),
        seq in any::<u64>(),
        ts in any::<u64>(),
        symbol in text(),
        price in finite(),
        size in any::<u64>(),
        bid in finite(),
        ask in finite(),
        volume in any::<u64>(),
    ) -> Tick {
        Tick { topic, seq, ts, symbol, price, size, bid, ask, volume }
    }
}

prop_compose! {
    pub fn snapshot()(
        tick in tick(),
        epoch in any::<u64>(),
        recovered in option::of(any::<bool>()),
        (open, high, low, prev_close) in (finite(), finite(), finite(), finite()),
        state in market_state(),
    ) -> Snapshot {
        let Tick { topic, seq, ts, symbol, price, size, bid, ask, volume } = tick;
        Snapshot {
            topic, epoch, seq, recovered, ts, symbol, price, size, bid, ask, volume,
            open, high, low, prev_close, state,
        }
    }
}

prop_compose! {
    pub fn bar()(
        (topic, seq, ts, interval_ms, symbol) in (text(), any::<u64>(), any::<u64>(), any::<u64>(), text()),
        (open, high, low, close) in (finite(), finite(), finite(), finite()),
        (volume, trades, epoch) in any::<(u64, u64, u64)>(),
        recovered in proptest::option::of(any::<bool>()),
    ) -> Bar {
        Bar { topic, seq, ts, interval_ms, symbol, open, high, low, close, volume, trades, epoch, recovered }
    }
}

prop_compose! {
    pub fn status()(topic in text(), state in market_state(), ts in any::<u64>()) -> Status {
        Status { topic, state, ts }
    }
}

prop_compose! {
    pub fn lagged()(topics in texts(), dropped in any::<u64>()) -> Lagged {
        Lagged { topics, dropped }
    }
}

prop_compose! {
    pub fn heartbeat()(ts in any::<u64>()) -> Heartbeat {
        Heartbeat { ts }
    }
}

prop_compose! {
    pub fn shutdown()(reason in text(), reconnect_after_ms in any::<u64>()) -> Shutdown {
        Shutdown { reason, reconnect_after_ms }
    }
}

/// Any client message.
pub fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        subscribe().prop_map(ClientMessage::from),
        resume().prop_map(ClientMessage::from),
        unsubscribe().prop_map(ClientMessage::from),
        list().prop_map(ClientMessage::from),
        ping().prop_map(ClientMessage::from),
        publish().prop_map(ClientMessage::from),
    ]
}

/// Any server message.
pub fn server_message() -> impl Strategy<Value = ServerMessage> {
    prop_oneof![
        welcome().prop_map(ServerMessage::from),
        ack().prop_map(ServerMessage::from),
        error().prop_map(ServerMessage::from),
        topics().prop_map(ServerMessage::from),
        pong().prop_map(ServerMessage::from),
        tick().prop_map(ServerMessage::from),
        snapshot().prop_map(ServerMessage::from),
        bar().prop_map(ServerMessage::from),
        status().prop_map(ServerMessage::from),
        lagged().prop_map(ServerMessage::from),
        heartbeat().prop_map(ServerMessage::from),
        shutdown().prop_map(ServerMessage::from),
    ]
}
