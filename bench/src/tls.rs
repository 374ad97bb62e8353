//! The client side of `wss://`: rustls with the ring provider, built once per run and
//! shared by every connection.
//!
//! Trust: Mozilla's roots (webpki-roots) plus the certificates of `--ca-cert` (a
//! benchmarking server's self-signed certificate, or a private CA), or, with
//! `--insecure`, any certificate at all (the handshake's signatures are still checked,
//! only the chain and the name are not). Session resumption is off: every connection
//! does a full handshake, as N distinct subscribers would.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A ready TLS client for the run's host.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("name", &self.name).finish()
    }
}

impl Tls {
    /// A client for `host` (a DNS name or an IP address) that trusts the public roots and
    /// `ca_certs`, or nothing in particular when `insecure`.
    pub fn new(host: &str, ca_certs: &[PathBuf], insecure: bool) -> anyhow::Result<Self> {
        let name = ServerName::try_from(host)
            .with_context(|| format!("{host:?} is not a TLS server name"))?
            .to_owned();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(tickcast_client::trusted_roots(ca_certs)?)
                .with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = Resumption::disabled();
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
            name,
        })
    }

    /// The handshake over a connected socket.
    pub async fn connect(&self, tcp: TcpStream) -> anyhow::Result<TlsStream<TcpStream>> {
        self.connector
            .connect(self.name.clone(), tcp)
            .await
            .map_err(|e| {
                // webpki refuses a CA certificate as the server's own, which is what a
                // plain `openssl req -x509` makes: say how to make one it takes.
                let hint = if e.to_string().contains("CaUsedAsEndEntity") {
                    " (the server's certificate is a CA's: make it with `-addext \
                     basicConstraints=critical,CA:FALSE`, or use --insecure)"
                } else {
                    ""
                };
                anyhow::Error::new(e).context(format!("TLS handshake{hint}"))
            })
    }
}

/// `--insecure`: accepts whatever certificate the server presents, for whatever name.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_and_dns_names_are_server_names() {
        assert!(Tls::new("127.0.0.1", &[], false).is_ok());
        assert!(Tls::new("::1", &[], false).is_ok());
        assert!(Tls::new("localhost", &[], true).is_ok());
        assert!(Tls::new("bad host", &[], false).is_err());
    }

    #[test]
    fn missing_or_empty_ca_files_are_errors() {
        let missing = PathBuf::from("/nonexistent/ca.pem");
        assert!(Tls::new("localhost", &[missing], false).is_err());
        let empty = std::env::temp_dir().join(format!("bench-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let result = Tls::new("localhost", std::slice::from_ref(&empty), false);
        let _ = std::fs::remove_file(&empty);
        let err = format!("{:#}", result.unwrap_err());
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }
}
