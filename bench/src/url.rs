//! The `--url` of a run: `ws://` or `wss://`, `host[:port]`, path.

use std::net::{SocketAddr, ToSocketAddrs as _};

use anyhow::{Context as _, bail};

/// Where the bench connects, and how.
#[derive(Debug)]
pub struct Url {
    pub addr: SocketAddr,
    /// `host[:port]` as written: the upgrade request's `Host`.
    pub authority: String,
    /// The host without port or IPv6 brackets: the TLS server name (SNI and the name the
    /// certificate must carry).
    pub host: String,
    pub path: String,
    /// `wss://`.
    pub tls: bool,
}

pub fn parse(url: &str) -> anyhow::Result<Url> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("ws://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("wss://") {
        (true, rest)
    } else {
        bail!("the URL must be ws:// or wss://, not {url:?}");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = split_port(authority)
        .with_context(|| format!("malformed host:port {authority:?} in {url:?}"))?;
    if host.is_empty() {
        bail!("no host in {url:?}");
    }
    let port = port.unwrap_or(if tls { 443 } else { 80 });
    let addr = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} resolves to nothing"))?;
    Ok(Url {
        addr,
        authority: authority.to_owned(),
        host: host.to_owned(),
        path: path.to_owned(),
        tls,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` into the host (no brackets) and the port.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse().ok()?),
        None => None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_and_wss_urls() {
        let u = parse("ws://127.0.0.1:8080/ws").unwrap();
        assert_eq!(u.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            (
                u.authority.as_str(),
                u.host.as_str(),
                u.path.as_str(),
                u.tls
            ),
            ("127.0.0.1:8080", "127.0.0.1", "/ws", false)
        );
        let u = parse("wss://127.0.0.1:8443/ws").unwrap();
        assert_eq!(
            (u.addr.port(), u.host.as_str(), u.tls),
            (8443, "127.0.0.1", true)
        );
        let u = parse("wss://127.0.0.1").unwrap();
        assert_eq!((u.addr.port(), u.path.as_str()), (443, "/"));
        assert_eq!(parse("ws://127.0.0.1/x").unwrap().addr.port(), 80);
        let u = parse("wss://[::1]:8443/ws").unwrap();
        assert_eq!(
            (u.addr, u.authority.as_str(), u.host.as_str()),
            ("[::1]:8443".parse().unwrap(), "[::1]:8443", "::1")
        );
    }

    #[test]
    fn other_schemes_and_bad_ports_are_errors() {
        assert!(parse("http://127.0.0.1:8080/ws").is_err());
        assert!(parse("127.0.0.1:8080").is_err());
        assert!(parse("ws://127.0.0.1:http/ws").is_err());
        assert!(parse("ws://127.0.0.1:70000/ws").is_err());
        assert!(parse("ws://[::1/ws").is_err());
        assert!(parse("wss://:8443/ws").is_err());
    }
}
