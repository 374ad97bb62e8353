//! The crate's error taxonomy: [`ClientError`] for the API, [`TlsError`] for everything
//! TLS, and `ConnectError`, why one connection attempt failed (and whether retrying can
//! help). Each message names what failed; the cause is only in `source()`, so `{:#}` and
//! `Caused by:` print it once.

use std::{error::Error, io, path::PathBuf};

use hyper::StatusCode;
use tickcast_proto::TopicError;

/// Errors of the client API. Connection trouble is not an error: it is reported as
/// [`crate::ClientEvent::Disconnected`] (or [`crate::PublisherState::Disconnected`]) and
/// retried where retrying can help.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("invalid pattern {pattern:?}")]
    BadPattern {
        pattern: String,
        #[source]
        source: TopicError,
    },
    #[error("no patterns to subscribe to")]
    NoPatterns,
    #[error("book depth {depth} is not one of 5, 10, 25 or 50")]
    BadDepth { depth: u32 },
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
    #[error("cannot read CA certificate file {}", path.display())]
    ReadCa {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("CA certificate file {} holds no PEM certificate", path.display())]
    NoCaCertificate { path: PathBuf },
    #[error("unusable CA certificate in {}", path.display())]
    BadCa {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("TLS setup failed")]
    Setup(#[source] rustls::Error),
    #[error("{host:?} cannot be checked against a certificate (not a DNS name or IP address)")]
    ServerName { host: String },
    /// The server's certificate was refused: unknown issuer, wrong name, expired, ...
    #[error("certificate of {host} rejected")]
    Certificate {
        host: String,
        #[source]
        source: rustls::Error,
    },
    /// The TLS handshake failed for another reason (the peer does not speak TLS, no
    /// common protocol version, an alert from the server, ...).
    #[error("TLS handshake with {host} failed{}", handshake_hint(source))]
    Handshake {
        host: String,
        #[source]
        source: rustls::Error,
    },
}

/// A hint for the one handshake failure with a likely cause; the cause itself is the
/// error's source.
fn handshake_hint(error: &rustls::Error) -> &'static str {
    match error {
        rustls::Error::InvalidMessage(_) => " (does the server speak TLS? try ws://)",
        _ => "",
    }
}

/// Why a connection attempt failed before the WebSocket was open.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connect to {authority}")]
    Tcp {
        authority: String,
        #[source]
        source: io::Error,
    },
    #[error("HTTP upgrade failed")]
    Http(#[source] hyper::Error),
    /// The answer was not HTTP at all: typically a TLS server reached with `ws://`.
    #[error("the server's answer is not HTTP (does it expect TLS? try wss://)")]
    NotHttp(#[source] hyper::Error),
    #[error("server answered HTTP {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("server did not switch to WebSocket ({0})")]
    NotWebSocket(&'static str),
    #[error("server chose subprotocol {0:?}; this client speaks tickcast.v1.msgpack")]
    Subprotocol(String),
    #[error("building the upgrade request")]
    Request(#[from] hyper::http::Error),
    /// The certificate or the TLS protocol: final.
    #[error(transparent)]
    Tls(TlsError),
    /// The connection broke during the TLS handshake: worth retrying.
    #[error("TLS handshake with {authority}")]
    TlsIo {
        authority: String,
        #[source]
        source: io::Error,
    },
}

impl ConnectError {
    /// Whether trying again can help (a refused connection can; a 401 cannot).
    pub fn retryable(&self) -> bool {
        match self {
            Self::Tcp { .. } | Self::Http(_) | Self::TlsIo { .. } => true,
            Self::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Self::NotWebSocket(_)
            | Self::NotHttp(_)
            | Self::Subprotocol(_)
            | Self::Request(_)
            | Self::Tls(_) => false,
        }
    }
}

impl From<hyper::Error> for ConnectError {
    fn from(e: hyper::Error) -> Self {
        if e.is_parse() {
            Self::NotHttp(e)
        } else {
            Self::Http(e)
        }
    }
}

/// An error and its causes on one line (`what: cause: cause`), for the `reason` texts of
/// [`crate::ClientEvent::Disconnected`] and [`crate::PublisherState::Disconnected`].
pub(crate) fn with_causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_printed_once_each() {
        let e = ConnectError::Tcp {
            authority: "h:1".to_owned(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(e.to_string(), "connect to h:1");
        assert_eq!(with_causes(&e), "connect to h:1: refused");
        let e = ConnectError::Tls(TlsError::Certificate {
            host: "h".to_owned(),
            source: rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        });
        let text = with_causes(&e);
        assert!(text.starts_with("certificate of h rejected: "), "{text}");
        assert_eq!(text.matches("UnknownIssuer").count(), 1, "{text}");
    }
}
