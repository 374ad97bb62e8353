//! Who may open a WebSocket and what it may do: static tokens, HMAC-signed JWTs with an
//! expiry and topic scopes, and the Origin check against cross-site WebSocket hijacking.

use constant_time_eq::constant_time_eq;
use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, HOST, ORIGIN};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tickcast_proto::Pattern;

use crate::config::Config;

/// What an authenticated connection may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// May send `publish`.
    pub publish: bool,
    /// Patterns it may subscribe to (and publish under); `None` means everything.
    pub patterns: Option<Vec<Pattern>>,
    /// UNIX seconds after which the connection is closed with 4001.
    pub expires_at_unix_s: Option<u64>,
}

impl Grant {
    /// Everything but publishing: what anyone gets when subscribing needs no token.
    pub fn anonymous() -> Self {
        Self {
            publish: false,
            patterns: None,
            expires_at_unix_s: None,
        }
    }

    /// True when every topic `pattern` matches is within this grant.
    pub fn allows(&self, pattern: &Pattern) -> bool {
        self.patterns
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|a| a.covers(pattern)))
    }
}

/// Why an upgrade is refused before any WebSocket exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this server requires a token (Authorization: Bearer, or ?token=)")]
    MissingToken,
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    Expired,
    #[error("origin {0:?} is not allowed")]
    Origin(String),
}

/// Claims of a signed token (HS256). Unknown claims are ignored.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    /// Expiry, UNIX seconds (required).
    exp: u64,
    /// Patterns the holder may subscribe to; absent means all.
    #[serde(default)]
    topics: Option<Vec<String>>,
    /// Whether the holder may publish.
    #[serde(default)]
    publish: bool,
}

/// The server's access policy, built once from [`Config`].
pub struct Auth {
    publish_token: Option<String>,
    subscribe_token: Option<String>,
    jwt: Option<(DecodingKey, Validation)>,
    allowed_origins: Vec<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Auth")
            .field("publish_token", &self.publish_token.is_some())
            .field("subscribe_token", &self.subscribe_token.is_some())
            .field("jwt", &self.jwt.is_some())
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

fn same(a: &str, b: &str) -> bool {
    constant_time_eq(a.as_bytes(), b.as_bytes())
}

impl Auth {
    pub fn new(config: &Config) -> Self {
        let jwt = config.jwt_secret.as_ref().map(|secret| {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp"]);
            validation.leeway = 0;
            validation.validate_nbf = true;
            // No audience is configured: accept tokens with or without `aud`.
            validation.validate_aud = false;
            (DecodingKey::from_secret(secret.as_bytes()), validation)
        });
        Self {
            publish_token: config.publish_token.clone(),
            subscribe_token: config.subscribe_token.clone(),
            jwt,
            allowed_origins: config.allowed_origins.clone(),
        }
    }

    /// True when connecting needs a token.
    fn subscribers_need_token(&self) -> bool {
        self.subscribe_token.is_some() || self.jwt.is_some()
    }

    /// Browsers send `Origin`; it must be this server's own origin or an allowed one.
    /// Clients that send no `Origin` (not browsers) are not affected.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), Denied> {
        let Some(origin) = headers.get(ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or("");
        if self
            .allowed_origins
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
        {
            return Ok(());
        }
        let host = headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .split_once("://")
            .map_or("", |(_, rest)| rest.trim_end_matches('/'));
        if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
            return Ok(());
        }
        Err(Denied::Origin(origin.to_owned()))
    }

    /// Finds the token (`Authorization: Bearer`, else the `token` query parameter) and
    /// decides what the connection may do.
    pub fn authorize(&self, headers: &HeaderMap, query: Option<&str>) -> Result<Grant, Denied> {
        let token = bearer(headers).or_else(|| query.and_then(query_token));
        let Some(token) = token else {
            return if self.subscribers_need_token() {
                Err(Denied::MissingToken)
            } else {
                Ok(Grant::anonymous())
            };
        };
        if self
            .publish_token
            .as_deref()
            .is_some_and(|t| same(t, &token))
        {
            return Ok(Grant {
                publish: true,
                patterns: None,
                expires_at_unix_s: None,
            });
        }
        if self
            .subscribe_token
            .as_deref()
            .is_some_and(|t| same(t, &token))
        {
            return Ok(Grant::anonymous());
        }
        if let Some((key, validation)) = &self.jwt {
            return match jsonwebtoken::decode::<Claims>(&token, key, validation) {
                Ok(data) => grant_from(data.claims),
                Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                    Err(Denied::Expired)
                }
                Err(_) => Err(Denied::InvalidToken),
            };
        }
        // A token nobody asked for is still wrong: say so instead of ignoring it.
        Err(Denied::InvalidToken)
    }
}

fn grant_from(claims: Claims) -> Result<Grant, Denied> {
    let patterns = claims
        .topics
        .map(|topics| {
            topics
                .iter()
                .map(|t| Pattern::parse(t))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|_| Denied::InvalidToken)?;
    Ok(Grant {
        publish: claims.publish,
        patterns,
        expires_at_unix_s: Some(claims.exp),
    })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn query_token(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        // Form encoding, as URLSearchParams writes it: `+` is a space, then %XX escapes.
        (key == "token").then(|| {
            percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn auth(f: impl FnOnce(&mut Config)) -> Auth {
        let mut config = Config::default();
        f(&mut config);
        Auth::new(&config)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn jwt(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn now_s() -> u64 {
        crate::unix_ns() / 1_000_000_000
    }

    #[test]
    fn open_server_lets_anyone_subscribe_but_not_publish() {
        let a = auth(|_| {});
        assert_eq!(a.authorize(&HeaderMap::new(), None), Ok(Grant::anonymous()));
        assert_eq!(
            a.authorize(&headers(&[("authorization", "Bearer x")]), None),
            Err(Denied::InvalidToken)
        );
    }

    #[test]
    fn static_tokens_from_header_or_query() {
        let a = auth(|c| {
            c.publish_token = Some("pub".into());
            c.subscribe_token = Some("s/b".into());
        });
        assert_eq!(
            a.authorize(&HeaderMap::new(), None),
            Err(Denied::MissingToken)
        );
        assert!(
            a.authorize(&headers(&[("authorization", "Bearer pub")]), None)
                .unwrap()
                .publish
        );
        let sub = a
            .authorize(&HeaderMap::new(), Some("x=1&token=s%2Fb"))
            .unwrap();
        assert!(!sub.publish);
        assert_eq!(
            a.authorize(&HeaderMap::new(), Some("token=nope")),
            Err(Denied::InvalidToken)
        );
    }

    #[test]
    fn signed_tokens_carry_scopes_and_expiry() {
        let a = auth(|c| c.jwt_secret = Some("k".into()));
        let scoped = jwt(
            "k",
            serde_json::json!({"exp": now_s() + 60, "topics": ["ticks.A*"]}),
        );
        assert_eq!(
            a.authorize(&HeaderMap::new(), Some(&format!("token={scoped}"))),
            Err(Denied::InvalidToken)
        );
        let scoped = jwt(
            "k",
            serde_json::json!({"exp": now_s() + 60, "topics": ["ticks.*"]}),
        );
        let g = a
            .authorize(&HeaderMap::new(), Some(&format!("token={scoped}")))
            .unwrap();
        assert!(g.allows(&Pattern::parse("ticks.AAPL").unwrap()));
        assert!(!g.allows(&Pattern::parse("bars.1m.AAPL").unwrap()));
        assert!(!g.allows(&Pattern::parse(">").unwrap()));
        let expired = jwt("k", serde_json::json!({"exp": now_s() - 10}));
        assert_eq!(
            a.authorize(
                &headers(&[("authorization", &format!("Bearer {expired}"))]),
                None
            ),
            Err(Denied::Expired)
        );
        let forged = jwt("other", serde_json::json!({"exp": now_s() + 60}));
        assert_eq!(
            a.authorize(
                &headers(&[("authorization", &format!("Bearer {forged}"))]),
                None
            ),
            Err(Denied::InvalidToken)
        );
    }

    #[test]
    fn origin_must_be_same_or_allowed() {
        let a = auth(|c| c.allowed_origins = vec!["https://app.example".into()]);
        assert_eq!(a.check_origin(&HeaderMap::new()), Ok(()));
        assert_eq!(
            a.check_origin(&headers(&[
                ("host", "127.0.0.1:80"),
                ("origin", "http://127.0.0.1:80")
            ])),
            Ok(())
        );
        assert_eq!(
            a.check_origin(&headers(&[
                ("host", "127.0.0.1:80"),
                ("origin", "https://app.example")
            ])),
            Ok(())
        );
        assert!(
            a.check_origin(&headers(&[
                ("host", "127.0.0.1:80"),
                ("origin", "https://evil.example")
            ]))
            .is_err()
        );
        assert!(
            a.check_origin(&headers(&[("host", "127.0.0.1:80"), ("origin", "null")]))
                .is_err()
        );
    }
}
