//! The test server: a real one, in-process, plain or TLS.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

/// Every wait in these tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A real tickcast server with its simulator, on a loopback port.
pub async fn start_server() -> tickcast_server::Handle {
    let config = tickcast_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..tickcast_server::Config::default()
    };
    tickcast_server::spawn(config).await.expect("server starts")
}

/// A real server with TLS: a certificate for 127.0.0.1 signed by a fresh private CA,
/// whose PEM file comes back with it.
pub async fn start_tls_server(name: &str) -> (tickcast_server::Handle, PathBuf) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pki-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("pki dir");
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca.self_signed(&ca_key).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("certificate");
    let (ca_pem, cert_pem, key_pem) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_pem, ca.pem()).expect("write");
    std::fs::write(&cert_pem, cert.pem()).expect("write");
    std::fs::write(&key_pem, key.serialize_pem()).expect("write");
    let config = tickcast_server::Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        tls: Some(tickcast_server::TlsFiles {
            cert: cert_pem,
            key: key_pem,
        }),
        ..tickcast_server::Config::default()
    };
    let server = tickcast_server::spawn(config)
        .await
        .expect("TLS server starts");
    (server, ca_pem)
}
