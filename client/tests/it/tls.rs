//! `wss://` against a real TLS server with a certificate from a private CA made here:
//! trust through `ca_cert`, the URL host as server name, and which failures are final.

use tickcast_client::{Client, ClientError, ClientEvent, TlsError};
use tickcast_proto::ServerMessage;
use tokio::{sync::mpsc, time::timeout};

use crate::support::{
    LIMIT, Pki, bounded, closed_port, fast, next, start, start_server, tls_config,
};

/// Skips `Connecting` and returns the first event after it.
async fn after_connecting(events: &mut mpsc::Receiver<ClientEvent>) -> ClientEvent {
    loop {
        match next(events).await {
            ClientEvent::Connecting { .. } => {}
            other => return other,
        }
    }
}

/// The client gave up for good: `Disconnected { retry_in: None }`, then the channel closes.
async fn final_reason(mut events: mpsc::Receiver<ClientEvent>) -> String {
    match after_connecting(&mut events).await {
        ClientEvent::Disconnected {
            reason,
            retry_in: None,
        } => {
            assert!(
                timeout(LIMIT, events.recv())
                    .await
                    .expect("closes")
                    .is_none(),
                "no reconnect after a final error"
            );
            reason
        }
        other => panic!("expected a final Disconnected, got {other:?}"),
    }
}

#[tokio::test]
async fn subscribes_over_wss_trusting_a_private_ca() {
    bounded(async {
        let pki = Pki::new(&["localhost", "127.0.0.1"]);
        let server = start(tls_config(&pki)).await;
        let port = server.addr().port();
        assert_eq!(server.ws_url(), format!("wss://127.0.0.1:{port}/ws"));
        // By IP address (checked against the IP SAN) and by name (SNI + DNS SAN).
        for url in [server.ws_url(), format!("wss://localhost:{port}/ws")] {
            let config = fast(url.clone(), &["ticks.*"]).ca_cert(&pki.ca);
            let (client, mut events) = Client::spawn(config).expect("spawn");
            match after_connecting(&mut events).await {
                ClientEvent::Connected { addr, welcome, .. } => {
                    assert_eq!(addr.port(), port, "{url}");
                    assert_eq!(welcome.protocol, 1);
                }
                other => panic!("{url}: expected Connected, got {other:?}"),
            }
            let mut ticks = 0;
            while ticks < 10 {
                match next(&mut events).await {
                    ClientEvent::Message(ServerMessage::Tick(t)) => {
                        assert!(t.topic.starts_with("ticks."));
                        ticks += 1;
                    }
                    ClientEvent::Message(_) => {}
                    other => panic!("{url}: unexpected {other:?}"),
                }
            }
            client.shutdown().await;
        }
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_final() {
    bounded(async {
        let pki = Pki::new(&["127.0.0.1"]);
        let server = start(tls_config(&pki)).await;
        // The public roots only: the private CA is unknown.
        let (_client, events) = Client::spawn(fast(server.ws_url(), &["ticks.*"])).expect("spawn");
        let reason = final_reason(events).await;
        assert!(
            reason.contains("certificate of 127.0.0.1 rejected")
                && reason.contains("UnknownIssuer"),
            "{reason}"
        );
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn a_certificate_for_another_name_is_final() {
    bounded(async {
        let pki = Pki::new(&["tickcast.test"]);
        let server = start(tls_config(&pki)).await;
        let config = fast(server.ws_url(), &["ticks.*"]).ca_cert(&pki.ca);
        let (_client, events) = Client::spawn(config).expect("spawn");
        let reason = final_reason(events).await;
        assert!(
            reason.contains("certificate of 127.0.0.1 rejected")
                && reason.contains("not valid for name"),
            "{reason}"
        );
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn wss_to_a_plain_server_is_final_with_a_hint() {
    bounded(async {
        let server = start_server().await;
        let url = format!("wss://{}/ws", server.addr());
        let (_client, events) = Client::spawn(fast(url, &["ticks.*"])).expect("spawn");
        let reason = final_reason(events).await;
        assert!(reason.contains("does the server speak TLS"), "{reason}");
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn ws_to_a_tls_server_is_final_with_a_hint() {
    bounded(async {
        let pki = Pki::new(&["127.0.0.1"]);
        let server = start(tls_config(&pki)).await;
        let url = format!("ws://{}/ws", server.addr());
        let (_client, events) = Client::spawn(fast(url, &["ticks.*"])).expect("spawn");
        let reason = final_reason(events).await;
        assert!(
            reason.contains("does it expect TLS? try wss://"),
            "{reason}"
        );
        server.shutdown().await;
    })
    .await;
}

#[tokio::test]
async fn refused_wss_connections_are_retried() {
    bounded(async {
        let url = format!("wss://127.0.0.1:{}/ws", closed_port());
        let (_client, mut events) = Client::spawn(fast(url, &["ticks.*"])).expect("spawn");
        for _ in 0..2 {
            match after_connecting(&mut events).await {
                ClientEvent::Disconnected {
                    retry_in: Some(_), ..
                } => {}
                other => panic!("expected a retry, got {other:?}"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_ca_file_fails_at_spawn() {
    let config = fast("wss://127.0.0.1:1/ws".into(), &["ticks.*"]).ca_cert("/nonexistent/ca.pem");
    match Client::spawn(config) {
        Err(ClientError::Tls(TlsError::ReadCa { path, .. })) => {
            assert_eq!(path, std::path::Path::new("/nonexistent/ca.pem"));
        }
        other => panic!("expected a CA file error, got {other:?}"),
    }
}

/// Quiet `wss://` connections (parked on the server between heartbeats) get every
/// heartbeat and ping in time and stay open: the server flushes its TLS session, so no
/// record waits there until one side's silence limit (3 intervals) closes the connection.
#[tokio::test]
async fn quiet_wss_connections_stay_open_on_heartbeats_alone() {
    bounded(async {
        let pki = Pki::new(&["localhost", "127.0.0.1"]);
        let mut cfg = tls_config(&pki);
        cfg.simulator = None;
        cfg.heartbeat = std::time::Duration::from_millis(300);
        let server = start(cfg).await;
        let mut clients = Vec::new();
        for _ in 0..200 {
            let config = fast(server.ws_url(), &["fx.*"]).ca_cert(&pki.ca);
            let (client, mut events) = Client::spawn(config).expect("spawn");
            match after_connecting(&mut events).await {
                ClientEvent::Connected { .. } => {}
                other => panic!("expected Connected, got {other:?}"),
            }
            clients.push((client, events));
        }
        // 10 intervals: a missed heartbeat or an unanswered ping closes within 3.
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        for (client, mut events) in clients {
            while let Ok(event) = events.try_recv() {
                assert!(
                    !matches!(event, ClientEvent::Disconnected { .. }),
                    "{event:?}"
                );
            }
            client.shutdown().await;
        }
        server.shutdown().await;
    })
    .await;
}
