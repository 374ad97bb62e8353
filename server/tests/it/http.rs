//! The HTTP side: health, metrics, topics, the page, and refused handshakes.

use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::support::*;

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let (head, mut stream) = http_raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    let mut body = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut body))
        .await
        .unwrap()
        .unwrap();
    (head, body)
}

#[tokio::test]
async fn health_metrics_topics_and_page() {
    let server = start(config(2, 200.0)).await;
    let addr = server.addr();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_c, _) = Client::connect_welcomed(addr).await;

    let (head, body) = get(addr, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["connections"], 1);

    let (head, body) = get(addr, "/metrics").await;
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    for name in [
        "tickcast_connections 1",
        "tickcast_ticks_published_total",
        "tickcast_frames_delivered_total",
        "tickcast_publish_to_write_seconds_bucket{le=\"+Inf\"}",
    ] {
        assert!(body.contains(name), "missing {name} in:\n{body}");
    }

    let (_, body) = get(addr, "/topics").await;
    let topics: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let names: Vec<_> = topics
        .iter()
        .map(|t| t["topic"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"ticks.SYN0000".to_owned()) && names.contains(&"ticks.SYN0001".to_owned()),
        "{names:?}"
    );
    assert!(topics.iter().all(|t| t["seq"].as_u64().unwrap() > 0));

    let (head, body) = get(addr, "/").await;
    assert!(
        head.starts_with("HTTP/1.1 200") && head.contains("text/html"),
        "{head}"
    );
    assert!(body.contains("<html") || body.contains("<!doctype") || body.contains("<!DOCTYPE"));

    let (head, _) = get(addr, "/nope").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    server.shutdown().await;
}

#[tokio::test]
async fn refused_handshakes_get_clear_http_answers() {
    let mut cfg = config(1, 10.0);
    cfg.max_connections = 1;
    let server = start(cfg).await;
    let addr = server.addr();

    let (head, _) = get(addr, "/ws").await;
    assert!(head.starts_with("HTTP/1.1 426"), "plain GET /ws: {head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13")
    );

    let wrong_version = upgrade_request(addr, "").replace("Version: 13", "Version: 8");
    let (head, _) = http_raw(addr, &wrong_version).await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");

    let bad_key = upgrade_request(addr, "").replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
    let (head, _) = http_raw(addr, &bad_key).await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    let (head, _) = http_raw(
        addr,
        &upgrade_request(addr, "Sec-WebSocket-Protocol: mqtt, graphql-ws\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    let post = upgrade_request(addr, "").replacen("GET", "POST", 1);
    let (head, _) = http_raw(addr, &post).await;
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");

    // Subprotocol: the first offered one we speak wins, and is echoed.
    let (head, _held) = http_raw(
        addr,
        &upgrade_request(addr, "Sec-WebSocket-Protocol: x, tickcast.v1.json\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-protocol: tickcast.v1.json"),
        "{head}"
    );

    // That connection holds the only slot (max_connections = 1).
    let (head, _) = http_raw(addr, &upgrade_request(addr, "")).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    server.shutdown().await;
}
