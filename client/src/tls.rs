//! TLS for `wss://`: rustls with the ring provider, Mozilla's roots (webpki-roots) plus
//! private CAs from PEM files, the URL host as server name (SNI and certificate check),
//! and the sorting of handshake failures into final (certificate, protocol:
//! `ConnectError::Tls`) and retryable (I/O: `ConnectError::TlsIo`) ones.

use std::{fmt, io, path::PathBuf, sync::Arc};

use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::{TlsError, error::ConnectError};

/// A ready TLS client for one host: built once per client, used for every connection.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
    host: String,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("host", &self.host).finish()
    }
}

impl Tls {
    /// Trusts the public roots plus every certificate in `ca_certs`.
    pub fn new(host: &str, ca_certs: &[PathBuf]) -> Result<Self, TlsError> {
        let name = ServerName::try_from(host)
            .map_err(|_| TlsError::ServerName {
                host: host.to_owned(),
            })?
            .to_owned();
        let roots = trusted_roots(ca_certs)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            name,
            host: host.to_owned(),
        })
    }

    /// The TLS handshake over `stream`, a connection to `authority` (`host:port`, for
    /// messages).
    pub async fn connect(
        &self,
        stream: TcpStream,
        authority: &str,
    ) -> Result<TlsStream<TcpStream>, ConnectError> {
        self.connector
            .connect(self.name.clone(), stream)
            .await
            .map_err(|e| classify(&self.host, authority, e))
    }
}

/// Mozilla's roots plus the certificates in `ca_certs` (every file must hold at least one):
/// what `wss://` trusts here and in the load generator.
pub fn trusted_roots(ca_certs: &[PathBuf]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in ca_certs {
        let read = |source| TlsError::ReadCa {
            path: path.clone(),
            source,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read)?;
        if certs.is_empty() {
            return Err(TlsError::NoCaCertificate { path: path.clone() });
        }
        for cert in certs {
            roots.add(cert).map_err(|source| TlsError::BadCa {
                path: path.clone(),
                source,
            })?;
        }
    }
    Ok(roots)
}

/// tokio-rustls reports rustls errors as `io::Error`s that wrap a `rustls::Error`: those
/// are final; any other I/O error is worth retrying.
fn classify(host: &str, authority: &str, error: io::Error) -> ConnectError {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return ConnectError::TlsIo {
            authority: authority.to_owned(),
            source: error,
        };
    };
    let host = host.to_owned();
    let source = tls.clone();
    ConnectError::Tls(if is_certificate(&source) {
        TlsError::Certificate { host, source }
    } else {
        TlsError::Handshake { host, source }
    })
}

fn is_certificate(error: &rustls::Error) -> bool {
    matches!(
        error,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType
            | rustls::Error::InvalidCertRevocationList(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_inside_io_errors_are_final() {
        let cert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(
            classify("h", "h:1", cert),
            ConnectError::Tls(TlsError::Certificate { .. })
        ));
        let protocol = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
        );
        match classify("h", "h:1", protocol) {
            ConnectError::Tls(e @ TlsError::Handshake { .. }) => {
                assert!(e.to_string().contains("does the server speak TLS"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert!(matches!(
            classify("h", "h:1", reset),
            ConnectError::TlsIo { .. }
        ));
    }

    #[test]
    fn ip_addresses_and_dns_names_are_server_names() {
        assert!(Tls::new("127.0.0.1", &[]).is_ok());
        assert!(Tls::new("::1", &[]).is_ok());
        assert!(Tls::new("example.com", &[]).is_ok());
        assert!(matches!(
            Tls::new("bad host", &[]),
            Err(TlsError::ServerName { .. })
        ));
    }

    #[test]
    fn missing_or_empty_ca_files_are_errors() {
        let missing = PathBuf::from("/nonexistent/ca.pem");
        assert!(matches!(
            trusted_roots(std::slice::from_ref(&missing)),
            Err(TlsError::ReadCa { .. })
        ));
        let empty = std::env::temp_dir().join(format!("tickcast-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let result = trusted_roots(std::slice::from_ref(&empty));
        let _ = std::fs::remove_file(&empty);
        assert!(
            matches!(result, Err(TlsError::NoCaCertificate { .. })),
            "{result:?}"
        );
    }
}
