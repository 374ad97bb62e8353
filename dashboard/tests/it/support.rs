//! The test server: a real one, in-process, plain or TLS; and a proxy in front of it that
//! corrupts one book checksum on the way to the client.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

pub use tickcast_testkit::Pki;

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

/// Market time the test servers have traded before they start: enough history for the
/// rewind tests, loaded much faster than the default trading day.
const PREROLL: Duration = Duration::from_secs(30 * 60);

/// A real tickcast server with its simulator, on a loopback port.
pub async fn start_server() -> tickcast_server::Handle {
    let config = tickcast_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        preroll: PREROLL,
        ..tickcast_server::Config::default()
    };
    tickcast_server::spawn(config).await.expect("server starts")
}

/// A real server with TLS: a certificate for 127.0.0.1 signed by a fresh private CA,
/// which comes back with it (its files live as long as it does).
pub async fn start_tls_server() -> (tickcast_server::Handle, Pki) {
    let pki = Pki::new(&["127.0.0.1"]);
    let config = tickcast_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: Some(tickcast_server::TlsFiles {
            cert: pki.cert.clone(),
            key: pki.key.clone(),
        }),
        preroll: PREROLL,
        ..tickcast_server::Config::default()
    };
    let server = tickcast_server::spawn(config)
        .await
        .expect("TLS server starts");
    (server, pki)
}

/// A TCP proxy that changes one bit of the checksum of the first `book_update` it passes
/// to a client (MessagePack: the key `checksum` then a `uint 32`), on each connection, so
/// the client's book verification sees a mismatch the server never made.
pub async fn corrupting_proxy(upstream: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut client_rx, mut client_tx) = client.into_split();
                let (mut server_rx, mut server_tx) = server.into_split();
                let up = tokio::io::copy(&mut client_rx, &mut server_tx);
                let down = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut corrupted = false;
                    while let Ok(n) = server_rx.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !corrupted {
                            corrupted = corrupt_update_checksum(&mut buf[..n]);
                        }
                        if client_tx.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! {
                    _ = up => {}
                    () = down => {}
                }
            });
        }
    });
    addr
}

/// Flips the lowest bit of the first `book_update` checksum in `bytes`; whether it did.
fn corrupt_update_checksum(bytes: &mut [u8]) -> bool {
    const TYPE: &[u8] = b"\xabbook_update";
    const KEY: &[u8] = b"\xa8checksum\xce";
    let Some(start) = find(bytes, TYPE) else {
        return false;
    };
    let Some(at) = find(&bytes[start..], KEY).map(|i| start + i + KEY.len() + 3) else {
        return false;
    };
    match bytes.get_mut(at) {
        Some(byte) => {
            *byte ^= 1;
            true
        }
        None => false,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
