//! Keepalive over `wss://`: quiet TLS connections (parked between heartbeats) get every
//! heartbeat and ping in time, so clients that only answer pings stay open.

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::support::*;

const OP_CLOSE_CODE: u8 = 0x8;

/// A TLS client past the upgrade, and the bytes read past the response.
async fn open(connector: &TlsConnector, addr: SocketAddr) -> (TlsStream<TcpStream>, Vec<u8>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(upgrade_request(addr, "").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tls.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed during the upgrade");
        got.extend_from_slice(&buf[..n]);
    };
    assert!(got.starts_with(b"HTTP/1.1 101"));
    let subscribe = tickcast_proto::encode(
        tickcast_proto::Encoding::MsgPack,
        &tickcast_proto::ClientMessage::Subscribe(tickcast_proto::Subscribe {
            topics: vec!["fx.*".into()],
            ..Default::default()
        }),
    )
    .unwrap();
    let frame = tickcast_testkit::client_frame(true, 0x2, &subscribe, Some([7; 4]));
    tls.write_all(&frame).await.unwrap();
    (tls, got.split_off(end))
}

/// Reads server frames until `until`, answering every ping with a pong, like a client
/// that sends nothing else; the close code if the server closed first.
async fn answer_pings(
    mut tls: TlsStream<TcpStream>,
    mut buf: Vec<u8>,
    until: tokio::time::Instant,
) -> Option<u16> {
    let mut chunk = [0u8; 4096];
    loop {
        // Every whole (unmasked) server frame in `buf`.
        while buf.len() >= 2 {
            let (head, len) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (4, usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
                126 => break,
                127 => panic!("no frame here is that large"),
                n => (2, usize::from(n)),
            };
            if buf.len() < head + len {
                break;
            }
            let payload = buf[head..head + len].to_vec();
            match buf[0] & 0x0f {
                OP_PING => {
                    let pong =
                        tickcast_testkit::client_frame(true, OP_PONG, &payload, Some([1; 4]));
                    tls.write_all(&pong).await.ok()?;
                    tls.flush().await.ok()?;
                }
                OP_CLOSE_CODE => {
                    return Some(u16::from_be_bytes([payload[0], payload[1]]));
                }
                _ => {}
            }
            buf.drain(..head + len);
        }
        match tokio::time::timeout_at(until, tls.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(0),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn quiet_wss_clients_that_only_answer_pings_stay_open() {
    let pki = tickcast_testkit::Pki::new(&["localhost", "127.0.0.1"]);
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg.tls = Some(tickcast_server::TlsFiles {
        cert: pki.cert.clone(),
        key: pki.key.clone(),
    });
    cfg.heartbeat = Duration::from_millis(300);
    let server = start(cfg).await;
    let connector = tls_connector(&pki.ca);
    let mut clients = Vec::new();
    for _ in 0..200 {
        clients.push(open(&connector, server.addr()).await);
    }
    // 10 intervals: an unanswered ping closes with 4100 after 3.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    let runs: Vec<_> = clients
        .into_iter()
        .map(|(tls, buf)| tokio::spawn(answer_pings(tls, buf, until)))
        .collect();
    let mut closed = Vec::new();
    for run in runs {
        if let Some(code) = run.await.unwrap() {
            closed.push(code);
        }
    }
    assert!(closed.is_empty(), "closed: {closed:?}");
    server.shutdown().await;
    drop(pki);
}
