//! One WebSocket connection: URL parsing, TCP (+ TLS for `wss://`), the HTTP/1.1
//! upgrade, and the reader and writer tasks around fastwebsockets' split halves.
//!
//! `read_frame` is not cancel-safe, so exactly one task owns the read half and is never
//! raced in a `select!`; it forwards decoded messages over a channel. Auto-pongs and close
//! replies (the reader's "obligated sends") go to the writer task through its channel.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use fastwebsockets::{
    FragmentCollectorRead, Frame, OpCode, Payload, Role, WebSocket, WebSocketRead, WebSocketWrite,
    handshake::generate_key,
};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{
    Request, StatusCode, Uri,
    header::{self, HeaderValue},
    upgrade::Upgraded,
};
use hyper_util::rt::TokioIo;
use tickcast_proto::{ClientMessage, Encoding, ServerMessage};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf},
    net::TcpStream,
    sync::mpsc,
    task::JoinHandle,
};

use crate::{
    ClientError, TlsError,
    tls::{HandshakeError, Tls},
};

type Io = TokioIo<Upgraded>;

/// RFC 6455 "no status code present" (a close frame without a payload).
const NO_STATUS: u16 = 1005;

/// Where to connect and how: the parsed URL, and TLS for `wss://`. Built once per client.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    target: Target,
    tls: Option<Tls>,
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
                crate::tls::roots(ca_certs)?;
            }
            None
        };
        Ok(Self { target, tls })
    }
}

/// Where to connect, parsed from a `ws://` or `wss://` URL once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub host: String,
    pub port: u16,
    /// `wss://`: TLS over the TCP connection.
    pub secure: bool,
    /// Path and query sent in the request line, token included.
    pub path: String,
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
        let mut path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        if let Some(token) = token {
            if token.is_empty() || HeaderValue::try_from(format!("Bearer {token}")).is_err() {
                return Err(bad("the token must be non-empty visible ASCII"));
            }
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str("token=");
            path.push_str(&percent_encode(token));
        }
        Ok(Self {
            host,
            port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
            secure,
            path,
            token: token.map(str::to_owned),
        })
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Why a connection attempt failed before the WebSocket was open.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connect to {authority}: {source}")]
    Tcp {
        authority: String,
        source: std::io::Error,
    },
    #[error("HTTP upgrade failed: {0}")]
    Http(hyper::Error),
    /// The answer was not HTTP at all: typically a TLS server reached with `ws://`.
    #[error("the server's answer is not HTTP ({0}); does it expect TLS? try wss://")]
    NotHttp(hyper::Error),
    #[error("server answered HTTP {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("server did not switch to WebSocket ({0})")]
    NotWebSocket(&'static str),
    #[error("server chose subprotocol {0:?}; this client speaks tickcast.v1.msgpack")]
    Subprotocol(String),
    #[error("bad request header: {0}")]
    Header(#[from] hyper::http::Error),
    #[error(transparent)]
    Tls(TlsError),
    #[error("TLS handshake with {authority}: {source}")]
    TlsIo {
        authority: String,
        source: std::io::Error,
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
            | Self::Header(_)
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

/// An open WebSocket, split into its two tasks' channels.
pub(crate) struct Connection {
    pub addr: SocketAddr,
    pub inbound: mpsc::Receiver<Inbound>,
    pub outbound: mpsc::Sender<Outbound>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl Connection {
    /// Sends a client message; false when the writer is gone.
    pub async fn send(&self, msg: &ClientMessage) -> bool {
        match tickcast_proto::encode(Encoding::MsgPack, msg) {
            Ok(bytes) => self.outbound.send(Outbound::binary(bytes)).await.is_ok(),
            Err(e) => {
                tracing::error!("cannot encode {msg:?}: {e}");
                true
            }
        }
    }

    /// Sends a close frame and gives the writer a moment to put it on the wire.
    pub async fn close(mut self, code: u16, reason: &str) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        let frame = Outbound {
            opcode: OpCode::Close,
            payload,
        };
        if self.outbound.send(frame).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut self.writer).await;
        }
    }
}

/// What the reader task hands the session.
#[derive(Debug)]
pub(crate) enum Inbound {
    Message(ServerMessage),
    /// The server sent a close frame.
    Closed {
        code: u16,
        reason: String,
    },
    /// The connection broke (EOF, reset, protocol error).
    Lost(String),
}

/// A frame for the writer task, owned so it can cross tasks.
#[derive(Debug)]
pub(crate) struct Outbound {
    opcode: OpCode,
    payload: Vec<u8>,
}

impl Outbound {
    fn binary(payload: Vec<u8>) -> Self {
        Self {
            opcode: OpCode::Binary,
            payload,
        }
    }
}

/// Connects (TCP, then TLS for `wss://`), upgrades and starts the reader and writer tasks.
pub(crate) async fn open(
    endpoint: &Endpoint,
    max_message_bytes: usize,
) -> Result<Connection, ConnectError> {
    let target = &endpoint.target;
    let authority = target.authority();
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| ConnectError::Tcp {
            authority: authority.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let addr = stream.peer_addr().map_err(|source| ConnectError::Tcp {
        authority: authority.clone(),
        source,
    })?;
    let upgraded = match &endpoint.tls {
        None => upgrade(stream, target, &authority).await?,
        Some(tls) => {
            let stream = tls.connect(stream).await.map_err(|e| match e {
                HandshakeError::Tls(e) => ConnectError::Tls(e),
                HandshakeError::Io(source) => ConnectError::TlsIo {
                    authority: authority.clone(),
                    source,
                },
            })?;
            upgrade(stream, target, &authority).await?
        }
    };

    let ws = WebSocket::after_handshake(TokioIo::new(upgraded), Role::Client);
    let (mut read, write) = ws.split(tokio::io::split);
    read.set_max_message_size(max_message_bytes);
    let (out_tx, out_rx) = mpsc::channel(64);
    let (in_tx, in_rx) = mpsc::channel(1024);
    let writer = tokio::spawn(write_loop(write, out_rx));
    let reader = tokio::spawn(read_loop(read, in_tx, out_tx.clone()));
    Ok(Connection {
        addr,
        inbound: in_rx,
        outbound: out_tx,
        reader,
        writer,
    })
}

/// The HTTP/1.1 upgrade to WebSocket over `stream` (plain or TLS).
async fn upgrade<S>(stream: S, target: &Target, authority: &str) -> Result<Upgraded, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut request = Request::get(target.path.as_str())
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
    if let Some(token) = &target.token {
        // Checked in `Target::parse`.
        if let Ok(value) = HeaderValue::try_from(format!("Bearer {token}")) {
            request = request.header(header::AUTHORIZATION, value);
        }
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
        let body = Limited::new(response.into_body(), 1024).collect();
        let body = match tokio::time::timeout(Duration::from_secs(1), body).await {
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

async fn write_loop(mut ws: WebSocketWrite<WriteHalf<Io>>, mut frames: mpsc::Receiver<Outbound>) {
    while let Some(out) = frames.recv().await {
        let is_close = out.opcode == OpCode::Close;
        let frame = Frame::new(true, out.opcode, None, Payload::Owned(out.payload));
        if ws.write_frame(frame).await.is_err() || ws.flush().await.is_err() || is_close {
            break;
        }
    }
}

async fn read_loop(
    read: WebSocketRead<ReadHalf<Io>>,
    inbound: mpsc::Sender<Inbound>,
    outbound: mpsc::Sender<Outbound>,
) {
    let mut ws = FragmentCollectorRead::new(read);
    // Auto-pongs and close replies must reach the writer.
    let mut obligated = |frame: Frame<'_>| {
        let out = Outbound {
            opcode: frame.opcode,
            payload: frame.payload.to_vec(),
        };
        let outbound = outbound.clone();
        async move {
            outbound
                .send(out)
                .await
                .map_err(|_| std::io::Error::other("writer gone"))
        }
    };
    loop {
        let item = match ws.read_frame(&mut obligated).await {
            Err(e) => Inbound::Lost(e.to_string()),
            Ok(frame) => match frame.opcode {
                OpCode::Binary | OpCode::Text => {
                    let encoding = if frame.opcode == OpCode::Text {
                        Encoding::Json
                    } else {
                        Encoding::MsgPack
                    };
                    match tickcast_proto::decode_server(encoding, &frame.payload) {
                        Ok(msg) => Inbound::Message(msg),
                        Err(e) => {
                            // A newer server may send types this client does not know.
                            tracing::debug!("ignoring undecodable message: {e}");
                            continue;
                        }
                    }
                }
                OpCode::Close => {
                    let (code, reason) = match frame.payload.len() {
                        0 | 1 => (NO_STATUS, String::new()),
                        _ => (
                            u16::from_be_bytes([frame.payload[0], frame.payload[1]]),
                            String::from_utf8_lossy(&frame.payload[2..]).into_owned(),
                        ),
                    };
                    Inbound::Closed { code, reason }
                }
                _ => continue,
            },
        };
        let last = !matches!(item, Inbound::Message(_));
        if inbound.send(item).await.is_err() || last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_urls() {
        let t = Target::parse("ws://127.0.0.1:8080/ws", None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/ws")
        );
        let t = Target::parse("ws://example.com", None).unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let t = Target::parse("ws://[::1]:9/ws", None).unwrap();
        assert_eq!(
            (t.host.as_str(), t.authority()),
            ("::1", "[::1]:9".to_owned())
        );
    }

    #[test]
    fn token_goes_into_the_query() {
        let t = Target::parse("ws://h:1/ws", Some("a b&c")).unwrap();
        assert_eq!(t.path, "/ws?token=a%20b%26c");
        let t = Target::parse("ws://h:1/ws?x=1", Some("t")).unwrap();
        assert_eq!(t.path, "/ws?x=1&token=t");
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
