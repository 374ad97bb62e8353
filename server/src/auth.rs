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
    /// When a signed token expires (its `exp`, in ns since the UNIX epoch): from then on
    /// the connection is closed with 4001.
    pub expires_at_ns: Option<u64>,
}

impl Grant {
    /// Everything but publishing: what anyone gets when subscribing needs no token.
    pub fn anonymous() -> Self {
        Self {
            publish: false,
            patterns: None,
            expires_at_ns: None,
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
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("unsupported Authorization header; send `Authorization: Bearer TOKEN`")]
    AuthScheme,
    #[error("origin {0:?} is not allowed")]
    Origin(String),
}

/// Claims of a signed token (HS256). Unknown claims are ignored.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    /// Expiry, UNIX seconds (required): valid while now < exp, to the nanosecond.
    exp: u64,
    /// Not before, UNIX seconds (optional): valid once now >= nbf.
    #[serde(default)]
    nbf: Option<u64>,
    /// An audience: this server has none, so a token meant for one is refused.
    #[serde(default)]
    aud: Option<serde::de::IgnoredAny>,
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
            // The signature and algorithm are checked by jsonwebtoken; the times and the
            // audience by `grant_from`, because jsonwebtoken compares times in whole
            // seconds (a token 0.9 s past `exp` would pass) and accepts any `aud` when no
            // audience is configured.
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp"]);
            validation.leeway = 0;
            validation.validate_exp = false;
            validation.validate_nbf = false;
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
        let token = bearer(headers)?.or_else(|| query.and_then(query_token));
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
                expires_at_ns: None,
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
                Ok(data) => grant_from(data.claims, crate::unix_ns()),
                Err(_) => Err(Denied::InvalidToken),
            };
        }
        // A token nobody asked for is still wrong: say so instead of ignoring it.
        Err(Denied::InvalidToken)
    }
}

const NS_PER_S: u64 = 1_000_000_000;

/// The grant of a correctly signed token at time `now_ns`: no leeway, no rounding.
fn grant_from(claims: Claims, now_ns: u64) -> Result<Grant, Denied> {
    if claims.aud.is_some() {
        return Err(Denied::InvalidToken);
    }
    let expires_at_ns = claims.exp.saturating_mul(NS_PER_S);
    if now_ns >= expires_at_ns {
        return Err(Denied::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| now_ns < nbf.saturating_mul(NS_PER_S))
    {
        return Err(Denied::NotYetValid);
    }
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
        expires_at_ns: Some(expires_at_ns),
    })
}

/// The token of an `Authorization: Bearer TOKEN` header; `None` without the header. Any
/// other scheme (`Basic`, ...) or a header without a token is refused rather than taken
/// for "no token", so a misconfigured client learns why it gets no access.
fn bearer(headers: &HeaderMap) -> Result<Option<String>, Denied> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| Denied::AuthScheme)?;
    match value.trim().split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(Denied::AuthScheme),
    }
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

    fn claims(json: serde_json::Value) -> Claims {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn expiry_and_not_before_are_exact_to_the_nanosecond() {
        let exp_s = 2_000_000_000;
        let exp_ns = exp_s * NS_PER_S;
        let c = || claims(serde_json::json!({"exp": exp_s, "nbf": exp_s - 10}));
        let g = grant_from(c(), exp_ns - 1).unwrap();
        assert_eq!(g.expires_at_ns, Some(exp_ns));
        assert_eq!(grant_from(c(), exp_ns).unwrap_err(), Denied::Expired);
        // 0.6 s past `exp` is expired (whole-second comparisons let this through).
        assert_eq!(
            grant_from(c(), exp_ns + 600_000_000).unwrap_err(),
            Denied::Expired
        );
        let nbf_ns = (exp_s - 10) * NS_PER_S;
        assert!(grant_from(c(), nbf_ns).is_ok());
        assert_eq!(
            grant_from(c(), nbf_ns - 1).unwrap_err(),
            Denied::NotYetValid
        );
    }

    #[test]
    fn any_audience_is_refused() {
        let now = 1_000 * NS_PER_S;
        for aud in [
            serde_json::json!("x"),
            serde_json::json!(["x"]),
            serde_json::json!(""),
            serde_json::json!([]),
        ] {
            let c = claims(serde_json::json!({"exp": 2_000, "aud": aud}));
            assert_eq!(
                grant_from(c, now).unwrap_err(),
                Denied::InvalidToken,
                "{aud}"
            );
        }
        let a = auth(|c| c.jwt_secret = Some("k".into()));
        let with_aud = jwt("k", serde_json::json!({"exp": now_s() + 60, "aud": "x"}));
        assert_eq!(
            a.authorize(&HeaderMap::new(), Some(&format!("token={with_aud}"))),
            Err(Denied::InvalidToken)
        );
    }

    #[test]
    fn authorization_schemes_other_than_bearer_are_refused() {
        let a = auth(|_| {});
        for value in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "token abc"] {
            assert_eq!(
                a.authorize(&headers(&[("authorization", value)]), None),
                Err(Denied::AuthScheme),
                "{value}"
            );
        }
        let a = auth(|c| c.subscribe_token = Some("s".into()));
        assert_eq!(
            a.authorize(&headers(&[("authorization", "bearer s")]), None),
            Ok(Grant::anonymous())
        );
    }
}
