//! The crate's error types: [`ClientError`] for the API, [`TlsError`] for everything TLS.

use std::path::PathBuf;

use tickcast_proto::TopicError;

/// Errors of the client API. Connection trouble is not an error: it is reported as
/// [`crate::ClientEvent::Disconnected`] (or [`crate::PublisherState::Disconnected`]) and
/// retried where retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid pattern {pattern:?}: {source}")]
    BadPattern { pattern: String, source: TopicError },
    #[error("no patterns to subscribe to")]
    NoPatterns,
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("too many commands queued; try again")]
    Busy,
    #[error("the client has stopped")]
    Stopped,
}

/// What went wrong with TLS. The setup errors come from [`crate::Client::spawn`] and
/// [`crate::Publisher::spawn`]; the handshake errors end a connection attempt for good
/// (a certificate the client does not trust will not become trusted by retrying).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read CA certificate file {}: {source}", path.display())]
    ReadCa {
        path: PathBuf,
        source: rustls_pki_types::pem::Error,
    },
    #[error("CA certificate file {} holds no PEM certificate", path.display())]
    NoCaCertificate { path: PathBuf },
    #[error("unusable CA certificate in {}: {source}", path.display())]
    BadCa {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("TLS setup failed: {0}")]
    Setup(rustls::Error),
    #[error("{host:?} cannot be checked against a certificate (not a DNS name or IP address)")]
    ServerName { host: String },
    /// The server's certificate was refused: unknown issuer, wrong name, expired, ...
    #[error("certificate of {host} rejected: {source}")]
    Certificate { host: String, source: rustls::Error },
    /// The TLS handshake failed for another reason (the peer does not speak TLS, no
    /// common protocol version, an alert from the server, ...).
    #[error("TLS handshake with {host} failed: {source}{}", handshake_hint(source))]
    Handshake { host: String, source: rustls::Error },
}

fn handshake_hint(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidMessage(_) => " (does the server speak TLS? try ws://)",
        _ => "",
    }
}
