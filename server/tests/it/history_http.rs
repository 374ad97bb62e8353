//! `GET /history/{topic}`: JSON, MessagePack and CSV; time ranges and limits; errors with
//! the protocol's codes; the WebSocket's access rules.

use serde_json::Value;
use tickcast_proto::{Op, Publish, RequestId, ServerMessage};

use crate::support::*;

const TOKEN: &str = "pub-token";

/// A server with no simulator whose `fx.EURUSD` has trades 1..=n (size i), and its
/// welcome's epoch.
async fn server_with(
    n: u64,
    configure: impl FnOnce(&mut tickcast_server::Config),
) -> (tickcast_server::Handle, u64) {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg.publish_token = Some(TOKEN.into());
    configure(&mut cfg);
    let server = start(cfg).await;
    let (mut publisher, welcome) =
        connect_with_headers(server.addr(), &format!("Authorization: Bearer {TOKEN}\r\n")).await;
    for i in 1..=n {
        publisher
            .send(Publish {
                id: Some(RequestId::Num(i)),
                topic: "fx.EURUSD".into(),
                price: 1.08 + i as f64 / 10_000.0,
                size: i,
                ..Default::default()
            })
            .await;
        match publisher.recv().await {
            ServerMessage::Ack(a) => assert_eq!(a.op, Op::Publish),
            other => panic!("expected the publish ack, got {other:?}"),
        }
    }
    (server, welcome.epoch)
}

fn seqs(body: &Value) -> Vec<u64> {
    body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn json_gives_the_latest_messages_oldest_first_with_the_epoch() {
    let (server, epoch) = server_with(30, |_| {}).await;
    let (status, body) = http_get(server.addr(), "/history/fx.EURUSD?limit=5").await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["topic"], "fx.EURUSD");
    assert_eq!(body["epoch"].as_u64(), Some(epoch));
    assert_eq!(seqs(&body), [26, 27, 28, 29, 30]);
    let last = &body["messages"][4];
    assert_eq!(last["type"], "tick");
    assert!(
        last["ts"]
            .as_u64()
            .is_some_and(|ts| ts > 1_700_000_000_000_000_000)
    );
    assert_eq!(last["size"].as_u64(), Some(30));
    // Without a limit: everything held (up to the default limit).
    let (_, body) = http_get(server.addr(), "/history/fx.EURUSD").await;
    assert_eq!(
        seqs(&serde_json::from_str(&body).unwrap()),
        (1..=30).collect::<Vec<_>>()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn time_ranges_take_nanoseconds_or_rfc3339() {
    let (server, _) = server_with(30, |_| {}).await;
    let (_, body) = http_get(server.addr(), "/history/fx.EURUSD").await;
    let all: Value = serde_json::from_str(&body).unwrap();
    let ts: Vec<u64> = all["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ts"].as_u64().unwrap())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "{ts:?}");
    // from <= ts < to: trades 10..=19.
    let path = format!("/history/fx.EURUSD?from={}&to={}", ts[9], ts[19]);
    let (status, body) = http_get(server.addr(), &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        seqs(&serde_json::from_str(&body).unwrap()),
        (10..=19).collect::<Vec<_>>()
    );
    let (_, body) = http_get(server.addr(), &format!("{path}&limit=3")).await;
    assert_eq!(seqs(&serde_json::from_str(&body).unwrap()), [17, 18, 19]);
    // RFC 3339 bounds.
    let (_, body) = http_get(server.addr(), "/history/fx.EURUSD?to=2100-01-01T00:00:00Z").await;
    assert_eq!(seqs(&serde_json::from_str(&body).unwrap()).len(), 30);
    let (_, body) = http_get(
        server.addr(),
        "/history/fx.EURUSD?from=2100-01-01T00:00:00%2B01:00",
    )
    .await;
    assert!(seqs(&serde_json::from_str(&body).unwrap()).is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn msgpack_and_csv_carry_the_same_messages() {
    let (server, epoch) = server_with(3, |_| {}).await;
    let (status, head, body) = http_get_with(
        server.addr(),
        "/history/fx.EURUSD",
        "Accept: application/msgpack\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/msgpack"),
        "{head}"
    );
    let decoded: Value = rmp_serde::from_slice(&body).unwrap();
    assert_eq!(decoded["epoch"].as_u64(), Some(epoch));
    assert_eq!(seqs(&decoded), [1, 2, 3]);
    assert_eq!(decoded["messages"][0]["type"], "tick");

    let (status, head, body) =
        http_get_with(server.addr(), "/history/fx.EURUSD?format=csv", "").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "seq,ts,symbol,price,size,bid,ask,volume");
    assert_eq!(lines.len(), 4);
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[0], "1");
    assert!(
        first[1]
            .parse::<u64>()
            .is_ok_and(|ts| ts > 1_700_000_000_000_000_000)
    );
    assert_eq!(first[2], "EURUSD");
    assert_eq!(first[3].parse::<f64>().unwrap(), 1.0801);
    server.shutdown().await;
}

#[tokio::test]
async fn bars_of_a_pre_rolled_market_come_as_csv_rows() {
    let mut cfg = config(1, 100.0);
    cfg.preroll = std::time::Duration::from_secs(5 * 60);
    let server = start(cfg).await;
    let (status, body) = http_get(server.addr(), "/history/bars.1m.SYN0000?format=csv").await;
    assert_eq!(status, 200, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines[0],
        "seq,ts,interval_ms,symbol,open,high,low,close,volume,trades"
    );
    assert!(lines.len() >= 5, "five minutes of 1-minute bars: {body}");
    for line in &lines[1..] {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 10);
        assert_eq!(fields[2], "60000");
        let [open, high, low, close] = [4, 5, 6, 7].map(|i| fields[i].parse::<f64>().unwrap());
        assert!(low <= open.min(close) && high >= open.max(close), "{line}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_json_with_the_protocol_codes() {
    let (server, _) = server_with(1, |_| {}).await;
    let addr = server.addr();
    for (path, status, code) in [
        ("/history/fx.*", 400, "bad_topic"),
        ("/history/fx..EURUSD", 400, "bad_topic"),
        ("/history/fx.EURUSD?limit=0", 400, "bad_request"),
        ("/history/fx.EURUSD?from=later", 400, "bad_request"),
        ("/history/fx.EURUSD?format=xml", 400, "bad_request"),
        ("/history/fx.GBPUSD", 404, "unknown_topic"),
    ] {
        let (got, body) = http_get(addr, path).await;
        assert_eq!(got, status, "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["type"], "error", "{path}");
        assert_eq!(body["code"], code, "{path}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_websocket_access_rules_apply() {
    let secret = "history-secret";
    let (server, _) = server_with(2, |cfg| cfg.jwt_secret = Some(secret.into())).await;
    let addr = server.addr();
    let (status, body) = http_get(addr, "/history/fx.EURUSD").await;
    assert_eq!(status, 401, "a token is required: {body}");
    let exp = tickcast_server::unix_ns() / 1_000_000_000 + 3600;
    let scoped = jwt(
        secret,
        serde_json::json!({"exp": exp, "topics": ["ticks.*"]}),
    );
    let (status, body) = http_get(addr, &format!("/history/fx.EURUSD?token={scoped}")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "forbidden"
    );
    let wide = jwt(secret, serde_json::json!({"exp": exp, "topics": ["fx.>"]}));
    let (status, _, body) = http_get_with(
        addr,
        "/history/fx.EURUSD",
        &format!("Authorization: Bearer {wide}\r\n"),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    server.shutdown().await;
}
