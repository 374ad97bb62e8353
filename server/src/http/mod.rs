//! HTTP on hyper 1.x: the WebSocket upgrade on `/ws` (with the handshake checks
//! fastwebsockets leaves to us), the web page, `/healthz`, `/metrics`, `/topics`, and
//! `/history/{topic}` (in `history`), `/instruments` (in `instruments`).

mod history;
mod instruments;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tickcast_proto::Encoding;
use tokio::net::TcpStream;

use crate::{App, assets, connection};

type Body = Full<Bytes>;

/// Socket options for an accepted connection: no Nagle delay, optional SO_SNDBUF.
pub fn tune_socket(stream: &TcpStream, config: &crate::Config) {
    let _ = stream.set_nodelay(true);
    if let Some(bytes) = config.socket_send_buffer {
        if let Err(e) = socket2::SockRef::from(stream).set_send_buffer_size(bytes) {
            tracing::debug!(error = %e, "cannot set SO_SNDBUF");
        }
    }
}

/// Serves one TCP connection: HTTP requests until it closes or upgrades.
pub async fn serve_conn<I>(stream: I, peer: SocketAddr, app: Arc<App>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let app = app.clone();
        service_fn(move |req| {
            let app = app.clone();
            async move { Ok::<_, std::convert::Infallible>(route(req, &app, peer)) }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.handshake_timeout)
        .max_buf_size(16 * 1024)
        .max_headers(64)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                if e.is_timeout() {
                    // No complete request within the handshake timeout: a refused handshake.
                    app.metrics.rejected_connections.fetch_add(1, Relaxed);
                }
                tracing::debug!(%peer, error = %e, "http connection ended");
            }
        }
        _ = app.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(app.config.shutdown_grace, conn).await;
        }
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body.into())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(value: &impl serde::Serialize) -> Response<Body> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => {
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn route(req: Request<Incoming>, app: &Arc<App>, peer: SocketAddr) -> Response<Body> {
    let path = req.uri().path();
    if path == "/ws" {
        if req.method() != Method::GET {
            app.metrics.rejected_connections.fetch_add(1, Relaxed);
            return allow_get(text(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET to open a WebSocket\n",
            ));
        }
        return upgrade(req, app, peer);
    }
    let known = assets::find(path).is_some()
        || matches!(path, "/healthz" | "/metrics" | "/topics" | "/instruments")
        || path.starts_with(history::PREFIX);
    if !known {
        return text(StatusCode::NOT_FOUND, format!("no such path: {path}\n"));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return allow_get(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is supported\n",
        ));
    }
    match path {
        "/healthz" => healthz(app),
        "/metrics" => {
            let mut body = app.metrics.render();
            if let Some(cluster) = &app.cluster {
                body.push_str(&cluster.render_metrics());
            }
            let mut resp = text(StatusCode::OK, body);
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            resp
        }
        "/topics" => json(&app.broker.describe()),
        "/instruments" => instruments::serve(app),
        _ if path.starts_with(history::PREFIX) => history::serve(&req, app, path),
        _ => match assets::find(path) {
            Some(asset) => {
                let mut resp = Response::new(Full::new(Bytes::from_static(asset.body)));
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(asset.content_type),
                );
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                resp
            }
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
    }
}

/// `GET /healthz`: 200 when ready; 503 while a cluster node has no NATS connection (it
/// keeps serving its clients, but receives nothing new) or, with JetStream, until it has
/// loaded the history the stream holds.
fn healthz(app: &App) -> Response<Body> {
    let ready = app.cluster.as_ref().is_none_or(|c| c.ready());
    let mut resp = json(&serde_json::json!({
        "status": if ready { "ok" } else { "not_ready" },
        "ready": ready,
        "connections": app.metrics.connections.load(Relaxed),
        "uptime_s": app.started.elapsed().as_secs(),
        "epoch": app.broker.epoch(),
        "broker": app.cluster.as_ref().map_or("local", |_| "nats"),
        "nats": app.cluster.as_ref().map(|c| c.state()),
    }));
    if !ready {
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    resp
}

fn allow_get(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    resp
}

fn header_has_token(req: &Request<Incoming>, name: header::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// RFC 6455 4.2.1: the key is the base64 encoding of 16 bytes (24 characters, `==` padded).
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

fn upgrade_required(reason: &str) -> Response<Body> {
    let mut resp = text(StatusCode::UPGRADE_REQUIRED, format!("{reason}\n"));
    resp.headers_mut()
        .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    resp.headers_mut().insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    resp
}

/// Checks the handshake and, when it is sound, answers 101 and starts the connection.
fn upgrade(mut req: Request<Incoming>, app: &Arc<App>, peer: SocketAddr) -> Response<Body> {
    let reject = |resp: Response<Body>| {
        app.metrics.rejected_connections.fetch_add(1, Relaxed);
        resp
    };
    if !header_has_token(&req, header::CONNECTION, "upgrade")
        || !header_has_token(&req, header::UPGRADE, "websocket")
    {
        return reject(upgrade_required(
            "this endpoint speaks WebSocket (RFC 6455): send an upgrade request",
        ));
    }
    if req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return reject(upgrade_required(
            "unsupported Sec-WebSocket-Version: use 13",
        ));
    }
    if !req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .is_some_and(|k| valid_key(k.as_bytes()))
    {
        return reject(text(
            StatusCode::BAD_REQUEST,
            "missing or malformed Sec-WebSocket-Key\n",
        ));
    }
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let negotiated = match Encoding::negotiate(offered) {
        Ok(n) => n,
        Err(e) => return reject(text(StatusCode::BAD_REQUEST, format!("{e}\n"))),
    };
    if let Err(denied) = app.auth.check_origin(req.headers()) {
        return reject(text(StatusCode::FORBIDDEN, format!("{denied}\n")));
    }
    let grant = match app.auth.authorize(req.headers(), req.uri().query()) {
        Ok(grant) => grant,
        Err(denied) => {
            let mut resp = text(StatusCode::UNAUTHORIZED, format!("{denied}\n"));
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tickcast\""),
            );
            return reject(resp);
        }
    };
    let Some(slot) = ConnectionSlot::acquire(app, peer.ip()) else {
        let mut resp = text(
            StatusCode::SERVICE_UNAVAILABLE,
            "server at its connection limit; retry later\n",
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return reject(resp);
    };
    let (resp, fut) = match fastwebsockets::upgrade::upgrade(&mut req) {
        Ok(pair) => pair,
        Err(e) => return reject(text(StatusCode::BAD_REQUEST, format!("{e}\n"))),
    };
    let mut resp = resp.map(|_| Full::new(Bytes::new()));
    if negotiated.echo {
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(negotiated.encoding.subprotocol()),
        );
    }
    let app = app.clone();
    app.tracker.clone().spawn(async move {
        let upgraded = match fut.await {
            Ok(ws) => ws.into_inner().into_inner(),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "upgrade failed");
                return;
            }
        };
        let accepted = connection::Accepted {
            app,
            encoding: negotiated.encoding,
            remote: peer,
            grant,
            slot,
        };
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                // Plain TCP, kept whole; bytes hyper read past the request come first.
                connection::serve(parts.io.into_inner(), parts.read_buf, accepted).await;
            }
            Err(upgraded) => {
                let stream = connection::Halves::new(TokioIo::new(upgraded));
                connection::serve(stream, Bytes::new(), accepted).await;
            }
        }
    });
    resp
}

/// A counted place under `max_connections` and `max_connections_per_ip`, released on drop.
pub(crate) struct ConnectionSlot {
    app: Arc<App>,
    ip: IpAddr,
}

impl ConnectionSlot {
    fn acquire(app: &Arc<App>, ip: IpAddr) -> Option<Self> {
        let max = app.config.max_connections as u64;
        {
            let mut per_ip = app.per_ip.lock().unwrap_or_else(|e| e.into_inner());
            let count = per_ip.entry(ip).or_default();
            if *count >= app.config.max_connections_per_ip {
                return None;
            }
            app.metrics
                .connections
                .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
                .ok()?;
            *count += 1;
        }
        app.metrics.connections_total.fetch_add(1, Relaxed);
        Some(Self {
            app: app.clone(),
            ip,
        })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.app.metrics.connections.fetch_sub(1, Relaxed);
        let mut per_ip = self.app.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}
