//! A subscriber's byte stream, plain TCP (`ws://`) or TLS over it (`wss://`), and the
//! steps of opening one: connect from a chosen loopback address, the TLS handshake, the
//! upgrade, the subscribe.

use std::net::SocketAddr;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;

use crate::cli::Wire;
use crate::conn::{Spec, Target};
use crate::ws;

/// An open connection. The TLS state (rustls' connection, about a kilobyte before its
/// buffers) is boxed, so that `ws://` connections do not carry its size.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Writes all of `buf` (and, over TLS, flushes what rustls still holds).
    pub async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.write_all(buf).await,
            Self::Tls(tls) => {
                tls.write_all(buf).await?;
                tls.flush().await
            }
        }
    }
}

/// Connects (with the TLS handshake for `wss://`), upgrades and sends the subscribe;
/// returns the stream and the bytes read past the response head.
pub async fn open(spec: &Spec, target: &Target) -> anyhow::Result<(Stream, Vec<u8>)> {
    let tcp = connect(spec, target.addr).await?;
    let mut stream = match &target.tls {
        None => Stream::Plain(tcp),
        Some(tls) => Stream::Tls(Box::new(tls.connect(tcp).await?)),
    };
    let carry = match &mut stream {
        Stream::Plain(tcp) => upgrade(tcp, target).await?,
        Stream::Tls(tls) => upgrade(&mut **tls, target).await?,
    };
    Ok((stream, carry))
}

async fn connect(spec: &Spec, addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .context("socket")?;
    if let Some(ip) = spec.source {
        socket.bind(SocketAddr::new(ip, 0)).context("bind")?;
    }
    if let Some(bytes) = spec.rcvbuf {
        socket.set_recv_buffer_size(bytes).context("SO_RCVBUF")?;
    }
    let tcp = socket.connect(addr).await.context("connect")?;
    tcp.set_nodelay(true).context("TCP_NODELAY")?;
    Ok(tcp)
}

/// The upgrade and the subscribe; returns the bytes read past the response head.
async fn upgrade<S>(stream: &mut S, target: &Target) -> anyhow::Result<Vec<u8>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(&target.request)
        .await
        .context("upgrade request")?;
    stream.flush().await.context("upgrade request")?;
    let mut head = Vec::with_capacity(512);
    let end = loop {
        if stream
            .read_buf(&mut head)
            .await
            .context("upgrade response")?
            == 0
        {
            bail!("connection closed during the upgrade");
        }
        if let Some(end) = ws::response_head(&head)? {
            break end;
        }
    };
    if target.wire == Wire::Tickcast {
        stream
            .write_all(&target.subscribe)
            .await
            .context("subscribe")?;
        stream.flush().await.context("subscribe")?;
    }
    Ok(head.split_off(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_streams_do_not_carry_the_tls_state() {
        let (plain, tls) = (size_of::<TcpStream>(), size_of::<TlsStream<TcpStream>>());
        eprintln!(
            "TcpStream {plain} B, TlsStream {tls} B, Stream {} B",
            size_of::<Stream>()
        );
        assert!(size_of::<Stream>() <= plain + 8);
    }
}
