//! One open WebSocket as its owner sees it: [`open`] connects (see `transport`) and
//! starts the reader and writer tasks (see `tasks`); a [`Connection`] sends messages and
//! a close, receives [`Inbound`] items, and stops both tasks when dropped.

use std::{net::SocketAddr, time::Duration};

use fastwebsockets::{Role, WebSocket};
use hyper_util::rt::TokioIo;
use tickcast_proto::{ClientMessage, Encoding};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::{
    endpoint::Endpoint,
    error::ConnectError,
    tasks::{self, Outbound},
    transport,
};

pub(crate) use crate::tasks::Inbound;

/// Frames waiting for the writer task (messages, pongs, the close).
const OUTBOUND_CAPACITY: usize = 64;
/// Messages the reader task may decode ahead of its owner.
const INBOUND_CAPACITY: usize = 1024;
/// How long [`Connection::close`] waits for the close frame to be written.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_millis(500);

/// An open WebSocket, split into its two tasks' channels.
pub(crate) struct Connection {
    /// The server's address.
    pub addr: SocketAddr,
    pub inbound: mpsc::Receiver<Inbound>,
    outbound: mpsc::Sender<Outbound>,
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
        if self
            .outbound
            .send(Outbound::close(code, reason))
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, &mut self.writer).await;
        }
    }
}

/// Connects (TCP, then TLS for `wss://`), upgrades and starts the reader and writer tasks.
pub(crate) async fn open(
    endpoint: &Endpoint,
    max_message_bytes: usize,
) -> Result<Connection, ConnectError> {
    let (upgraded, addr) = transport::connect(endpoint).await?;
    let ws = WebSocket::after_handshake(TokioIo::new(upgraded), Role::Client);
    let (mut read, write) = ws.split(tokio::io::split);
    read.set_max_message_size(max_message_bytes);
    let (out_tx, out_rx) = mpsc::channel(OUTBOUND_CAPACITY);
    let (in_tx, in_rx) = mpsc::channel(INBOUND_CAPACITY);
    let writer = tokio::spawn(tasks::write_loop(write, out_rx));
    let reader = tokio::spawn(tasks::read_loop(read, in_tx, out_tx.clone()));
    Ok(Connection {
        addr,
        inbound: in_rx,
        outbound: out_tx,
        reader,
        writer,
    })
}
