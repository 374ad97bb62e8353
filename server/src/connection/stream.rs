//! A connection's socket, kept whole: its read and write halves are borrowed for each
//! turn of the connection, not split into two owned halves for its life.
//!
//! Splitting a `TcpStream` into owned halves puts it behind an `Arc` (48 bytes and an
//! allocation per connection, and atomics on every read and write); borrowing its halves
//! (`TcpStream::split`) costs nothing. A stream that cannot be borrowed in halves (TLS,
//! through hyper's upgrade) is split once with `tokio::io::split` and lends its two
//! owned halves.

use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp;

/// A socket whose read and write halves can be used at the same time.
pub(crate) trait Duplex: Send + Unpin + 'static {
    type Read<'a>: AsyncRead + Unpin + Send
    where
        Self: 'a;
    type Write<'a>: AsyncWrite + Unpin + Send
    where
        Self: 'a;

    /// Both halves, for as long as `self` is borrowed.
    fn halves(&mut self) -> (Self::Read<'_>, Self::Write<'_>);
}

impl Duplex for TcpStream {
    type Read<'a> = tcp::ReadHalf<'a>;
    type Write<'a> = tcp::WriteHalf<'a>;

    fn halves(&mut self) -> (Self::Read<'_>, Self::Write<'_>) {
        self.split()
    }
}

/// Any other stream, split once into owned halves.
pub(crate) struct Halves<T> {
    read: ReadHalf<T>,
    write: WriteHalf<T>,
}

impl<T: AsyncRead + AsyncWrite> Halves<T> {
    pub(crate) fn new(stream: T) -> Self {
        let (read, write) = tokio::io::split(stream);
        Self { read, write }
    }
}

impl<T> Duplex for Halves<T>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    type Read<'a> = &'a mut ReadHalf<T>;
    type Write<'a> = &'a mut WriteHalf<T>;

    fn halves(&mut self) -> (Self::Read<'_>, Self::Write<'_>) {
        (&mut self.read, &mut self.write)
    }
}
