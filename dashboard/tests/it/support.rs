//! The test server: a real one, in-process, plain or TLS.

use std::{net::SocketAddr, time::Duration};

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
