//! Where to connect and how, decided once per client: the parsed `ws://`/`wss://` URL
//! (with the token added as `?token=`) and, for `wss://`, the TLS client.

use std::path::PathBuf;

use hyper::{Uri, header::HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{ClientError, tls::Tls};

/// Bytes of a query value that are percent-encoded: everything but RFC 3986's unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where to connect and how: the parsed URL, and TLS for `wss://`. Built once per client.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub target: Target,
    pub tls: Option<Tls>,
}

impl Endpoint {
    /// Parses `url` and, for `wss://`, prepares TLS trusting the public roots and
    /// `ca_certs`. CA files are read (and checked) even for `ws://`, so a wrong path is
    /// reported at once rather than on the day the URL changes.
    pub fn new(url: &str, token: Option<&str>, ca_certs: &[PathBuf]) -> Result<Self, ClientError> {
        let target = Target::parse(url, token)?;
        let tls = if target.secure {
            Some(Tls::new(&target.host, ca_certs)?)
        } else {
            if !ca_certs.is_empty() {
                crate::tls::trusted_roots(ca_certs)?;
            }
            None
        };
        Ok(Self { target, tls })
    }
}

/// Where to connect, parsed from a `ws://` or `wss://` URL once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Host name or IP address, without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// `wss://`: TLS over the TCP connection.
    pub secure: bool,
    /// Path and query sent in the request line, token included.
    pub path_and_query: String,
    /// Also sent as `Authorization: Bearer TOKEN` (checked to be a valid header value).
    pub token: Option<String>,
}

impl Target {
    pub fn parse(url: &str, token: Option<&str>) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => return Err(bad("the scheme must be ws:// or wss://")),
        };
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let mut path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        if let Some(token) = token {
            if token.is_empty() || bearer(token).is_none() {
                return Err(bad("the token must be non-empty visible ASCII"));
            }
            path_and_query.push(if path_and_query.contains('?') {
                '&'
            } else {
                '?'
            });
            path_and_query.push_str("token=");
            path_and_query.extend(utf8_percent_encode(token, QUERY_VALUE));
        }
        Ok(Self {
            host,
            port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
            secure,
            path_and_query,
            token: token.map(str::to_owned),
        })
    }

    /// `host:port` as the `Host` header and messages write it (`[::1]:9` for IPv6).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `Authorization` header value for the token, if there is one.
    pub fn authorization(&self) -> Option<HeaderValue> {
        self.token.as_deref().and_then(bearer)
    }
}

/// `Bearer TOKEN` as a header value; `None` when the token cannot be one.
fn bearer(token: &str) -> Option<HeaderValue> {
    HeaderValue::try_from(format!("Bearer {token}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TlsError;

    #[test]
    fn parses_ws_urls() {
        let t = Target::parse("ws://127.0.0.1:8080/ws", None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("127.0.0.1", 8080, "/ws")
        );
        let t = Target::parse("ws://example.com", None).unwrap();
        assert_eq!((t.port, t.path_and_query.as_str()), (80, "/"));
        let t = Target::parse("ws://[::1]:9/ws", None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.authority()),
            ("::1", "[::1]:9".to_owned())
        );
    }

    #[test]
    fn token_goes_into_the_query() {
        let t = Target::parse("ws://h:1/ws", Some("a b&c")).unwrap();
        assert_eq!(t.path_and_query, "/ws?token=a%20b%26c");
        let t = Target::parse("ws://h:1/ws?x=1", Some("t")).unwrap();
        assert_eq!(t.path_and_query, "/ws?x=1&token=t");
    }

    #[test]
    fn token_encoding_keeps_unreserved_characters_only() {
        let t = Target::parse("ws://h:1/ws", Some("aZ9-._~+/=%")).unwrap();
        assert_eq!(t.path_and_query, "/ws?token=aZ9-._~%2B%2F%3D%25");
        assert_eq!(
            t.authorization().as_ref().map(HeaderValue::as_bytes),
            Some(&b"Bearer aZ9-._~+/=%"[..])
        );
        assert!(Target::parse("ws://h:1/ws", Some("a\nb")).is_err());
    }

    #[test]
    fn wss_urls_are_secure_with_port_443_by_default() {
        let t = Target::parse("wss://example.com/ws", None).unwrap();
        assert!(t.secure);
        assert_eq!((t.host.as_str(), t.port), ("example.com", 443));
        let t = Target::parse("wss://localhost:9443/ws", None).unwrap();
        assert_eq!((t.port, t.authority()), (9443, "localhost:9443".to_owned()));
        assert!(!Target::parse("ws://h/ws", None).unwrap().secure);
    }

    #[test]
    fn rejects_other_schemes() {
        for url in ["http://h/ws", "https://h/ws", "h:1/ws", "not a url"] {
            assert!(Target::parse(url, None).is_err(), "{url}");
        }
    }

    #[test]
    fn ca_files_are_checked_for_ws_urls_too() {
        let ca = [PathBuf::from("/nonexistent/ca.pem")];
        assert!(matches!(
            Endpoint::new("ws://h:1/ws", None, &ca),
            Err(ClientError::Tls(TlsError::ReadCa { .. }))
        ));
        assert!(Endpoint::new("wss://h:1/ws", None, &[]).is_ok());
    }
}
