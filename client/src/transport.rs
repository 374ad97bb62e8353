//! The socket under a WebSocket: TCP (plus TLS for `wss://`), then the HTTP/1.1 upgrade
//! and the checks of the server's answer (status, `Upgrade`, `Connection`, subprotocol).

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use fastwebsockets::handshake::generate_key;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode, header, upgrade::Upgraded};
use hyper_util::rt::TokioIo;
use tickcast_proto::Encoding;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpStream,
};

use crate::{
    endpoint::{Endpoint, Target},
    error::ConnectError,
};

/// How much of a refusal's body (e.g. a 401's explanation) is read for the message.
const REFUSAL_BODY_MAX_BYTES: usize = 1024;
/// How long a refusal's body may take to arrive before it is left out.
const REFUSAL_BODY_TIMEOUT: Duration = Duration::from_secs(1);

/// Connects to `endpoint` (TCP, then TLS for `wss://`) and upgrades to WebSocket. Returns
/// the upgraded stream and the server's address.
pub(crate) async fn connect(endpoint: &Endpoint) -> Result<(Upgraded, SocketAddr), ConnectError> {
    let target = &endpoint.target;
    let authority = target.authority();
    let tcp_error = |source| ConnectError::Tcp {
        authority: authority.clone(),
        source,
    };
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(tcp_error)?;
    let _ = stream.set_nodelay(true);
    let addr = stream.peer_addr().map_err(tcp_error)?;
    let upgraded = match &endpoint.tls {
        None => upgrade(stream, target, &authority).await?,
        Some(tls) => {
            let stream = tls.connect(stream, &authority).await?;
            upgrade(stream, target, &authority).await?
        }
    };
    Ok((upgraded, addr))
}

/// The HTTP/1.1 upgrade to WebSocket over `stream` (plain or TLS).
async fn upgrade<S>(stream: S, target: &Target, authority: &str) -> Result<Upgraded, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut request = Request::get(target.path_and_query.as_str())
        .header(header::HOST, authority)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_KEY, generate_key())
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(
            header::SEC_WEBSOCKET_PROTOCOL,
            Encoding::MsgPack.subprotocol(),
        )
        .header(
            header::USER_AGENT,
            concat!("tickcast-client/", env!("CARGO_PKG_VERSION")),
        );
    if let Some(authorization) = target.authorization() {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let request = request.body(Empty::<Bytes>::new())?;

    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // Drives the HTTP connection until the upgrade hands the socket over; its errors show
    // up as errors of `send_request` or `upgrade::on`, so nothing is printed here.
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut response = sender.send_request(request).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status();
        let body = Limited::new(response.into_body(), REFUSAL_BODY_MAX_BYTES).collect();
        let body = match tokio::time::timeout(REFUSAL_BODY_TIMEOUT, body).await {
            Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes())
                .trim()
                .to_owned(),
            _ => String::new(),
        };
        return Err(ConnectError::Status { status, body });
    }
    let headers = response.headers();
    let has = |name: header::HeaderName, want: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    if !has(header::UPGRADE, "websocket") {
        return Err(ConnectError::NotWebSocket("no Upgrade: websocket"));
    }
    if !has(header::CONNECTION, "upgrade") {
        return Err(ConnectError::NotWebSocket("no Connection: upgrade"));
    }
    if let Some(chosen) = headers.get(header::SEC_WEBSOCKET_PROTOCOL) {
        let chosen = chosen.to_str().unwrap_or("?").trim();
        if chosen != Encoding::MsgPack.subprotocol() {
            return Err(ConnectError::Subprotocol(chosen.to_owned()));
        }
    }
    Ok(hyper::upgrade::on(&mut response).await?)
}
