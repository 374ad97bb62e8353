//! `tickcast-bench blast`: a server that writes pre-framed ticks to every client as fast
//! as its socket takes them, in large writes. Pointed at it, the bench measures its own
//! ceiling (msgs/s one client core can parse), which is what makes its figures for real
//! servers trustworthy.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tickcast_proto::{Ack, Encoding, Op, ServerMessage, Tick, encode};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::ws::{self, OP_BINARY};

/// Marker values whose 8-byte big-endian encodings are patched per frame.
const SEQ_MARK: u64 = 0x0102_0304_0506_0708;
const TS_MARK: u64 = 0x1112_1314_1516_1718;

/// A tick frame with the byte offsets of its `seq` and `ts` values.
struct Template {
    frame: Vec<u8>,
    seq_at: usize,
    ts_at: usize,
}

impl Template {
    fn new() -> anyhow::Result<Self> {
        let tick = ServerMessage::Tick(Tick {
            topic: "ticks.SYN0000".into(),
            seq: SEQ_MARK,
            ts: TS_MARK,
            symbol: "SYN0000".into(),
            price: 101.25,
            size: 100,
            bid: 101.24,
            ask: 101.26,
            volume: 1_000_000,
        });
        let mut frame = Vec::new();
        ws::server_frame(&mut frame, OP_BINARY, &encode(Encoding::MsgPack, &tick)?);
        let find = |v: u64| {
            frame
                .windows(8)
                .position(|w| w == v.to_be_bytes())
                .context("marker not found in the encoded tick")
        };
        let (seq_at, ts_at) = (find(SEQ_MARK)?, find(TS_MARK)?);
        Ok(Self {
            frame,
            seq_at,
            ts_at,
        })
    }

    fn append(&self, out: &mut Vec<u8>, seq: u64, ts: u64) {
        let start = out.len();
        out.extend_from_slice(&self.frame);
        out[start + self.seq_at..start + self.seq_at + 8].copy_from_slice(&seq.to_be_bytes());
        out[start + self.ts_at..start + self.ts_at + 8].copy_from_slice(&ts.to_be_bytes());
    }
}

/// Serves until the process is killed.
pub fn run(listen: SocketAddr, frames_per_write: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime")?;
    rt.block_on(async {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        eprintln!("blasting ticks at ws://{listen}/ws");
        let template = std::rc::Rc::new(Template::new()?);
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                loop {
                    let (stream, _) = listener.accept().await.context("accept")?;
                    let template = template.clone();
                    tokio::task::spawn_local(async move {
                        let _ = serve(stream, &template, frames_per_write.max(1)).await;
                    });
                }
            })
            .await
    })
}

async fn serve(mut stream: TcpStream, template: &Template, per_write: usize) -> anyhow::Result<()> {
    stream.set_nodelay(true)?;
    let mut head = Vec::with_capacity(512);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if stream.read_buf(&mut head).await? == 0 || head.len() > ws::MAX_HEAD {
            return Ok(());
        }
    }
    stream
        .write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
              Sec-WebSocket-Protocol: tickcast.v1.msgpack\r\n\r\n",
        )
        .await?;
    let (mut read, mut write) = stream.into_split();
    // Swallow the subscribe and the pongs.
    tokio::task::spawn_local(async move {
        let mut sink = vec![0u8; 4096];
        while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    let ack = ServerMessage::Ack(Ack {
        id: None,
        op: Op::Subscribe,
        topics: vec!["ticks.*".into()],
        subscriptions: vec!["ticks.*".into()],
    });
    let mut buf = Vec::with_capacity(per_write * template.frame.len());
    ws::server_frame(&mut buf, OP_BINARY, &encode(Encoding::MsgPack, &ack)?);
    write.write_all(&buf).await?;
    let mut seq = 0;
    loop {
        buf.clear();
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0));
        for _ in 0..per_write {
            seq += 1;
            template.append(&mut buf, seq, ts);
        }
        write.write_all(&buf).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_frames_carry_the_patched_seq_and_ts() {
        let t = Template::new().unwrap();
        let mut out = Vec::new();
        t.append(&mut out, 7, 1_234_567_890);
        let (frame, len) = ws::parse_frame(&out).unwrap().unwrap();
        assert_eq!(len, out.len());
        let p = tickcast_proto::peek_msgpack(frame.payload).unwrap();
        assert_eq!(
            (p.kind, p.seq, p.ts),
            ("tick", Some(7), Some(1_234_567_890))
        );
    }
}
