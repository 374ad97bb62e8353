//! One subscriber: open it (`stream::open`: connect, TLS for `wss://`, upgrade,
//! subscribe), then count ticks straight out of the thread's read buffer.
//!
//! All connections of a thread share one scratch buffer: a `ws://` connection reads with
//! a non-blocking `read` only once the socket is readable, parses every whole frame in
//! place (`ws::parse_frame`, then `tickcast_proto::peek_msgpack` for `type`/`seq`/`ts`),
//! and keeps only the bytes of a partial frame. Nothing is allocated per frame, and an
//! idle connection holds no buffer at all. A `wss://` connection has rustls decrypt into
//! its own buffers, then copies the plaintext into the same scratch buffer and parses it
//! the same way; rustls' state (its connection, keys and a ~4 KiB read buffer) stays with
//! every connection, idle or not.

use std::cell::RefCell;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tickcast_proto::{Peeked, peek_msgpack};
use tokio::io::{AsyncRead as _, Interest, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::cli::Wire;
use crate::stats::{ConnResult, ThreadStats};
use crate::stream::{self, Stream};
use crate::tls::Tls;
use crate::ws::{self, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG};

/// Connect + TLS handshake + upgrade + subscribe must finish within this.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a client that stopped reading still sends a pong, so that heartbeats do
/// not close it: it stays a live, slow consumer for the whole run.
const STALLED_KEEPALIVE: Duration = Duration::from_secs(1);
/// The mask of every client frame (its value does not matter to a server).
const MASK: [u8; 4] = [0x5a, 0x17, 0xc3, 0x9e];

/// Phases of a run, as seen by the connections (0: connecting).
pub const WARMUP: u8 = 1;
pub const MEASURE: u8 = 2;
pub const DONE: u8 = 3;

/// Where and how to connect; the same for every connection.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    /// The upgrade request.
    pub request: Vec<u8>,
    /// The masked subscribe frame.
    pub subscribe: Vec<u8>,
    /// Messages of history each connection expects first (`--rewind`).
    pub rewind: u64,
    pub wire: Wire,
    /// The TLS client of a `wss://` URL.
    pub tls: Option<Tls>,
}

impl Target {
    pub fn new(addr: SocketAddr, host: &str, path: &str, subscribe_payload: &[u8]) -> Self {
        let mut subscribe = Vec::new();
        ws::client_frame(&mut subscribe, OP_BINARY, subscribe_payload, MASK);
        Self {
            addr,
            request: ws::upgrade_request(host, path, Some("tickcast.v1.msgpack")),
            subscribe,
            rewind: 0,
            wire: Wire::Tickcast,
            tls: None,
        }
    }
}

/// Run-wide signals, shared by every thread.
#[derive(Debug, Default)]
pub struct Control {
    pub phase: AtomicU8,
    /// Connections that got their subscribe acknowledged.
    pub subscribed: AtomicUsize,
    /// Connections that failed to connect, upgrade or subscribe.
    pub failed: AtomicUsize,
    /// Cancelled when clients that stop reading must stop.
    pub stall: CancellationToken,
    /// Cancelled when the run is over.
    pub done: CancellationToken,
}

/// What the connections of one thread share.
#[derive(Debug)]
pub struct Local {
    pub ctl: Arc<Control>,
    pub target: Arc<Target>,
    pub stats: RefCell<ThreadStats>,
    scratch: RefCell<Vec<u8>>,
    /// Handshakes in flight on this thread.
    pending: Semaphore,
}

impl Local {
    pub fn new(ctl: Arc<Control>, target: Arc<Target>, max_pending: usize) -> Self {
        Self {
            ctl,
            target,
            stats: RefCell::default(),
            scratch: RefCell::new(vec![0; 256 << 10]),
            pending: Semaphore::new(max_pending.max(1)),
        }
    }
}

/// One connection to open.
#[derive(Debug, Clone)]
pub struct Spec {
    pub source: Option<IpAddr>,
    pub stalled: bool,
    /// SO_RCVBUF for this client's socket.
    pub rcvbuf: Option<u32>,
}

/// Opens and serves one connection; its counts land in `local.stats.conns`.
pub async fn run(spec: Spec, local: Rc<Local>) {
    let slot = {
        let mut stats = local.stats.borrow_mut();
        stats.conns.push(ConnResult {
            stalled: spec.stalled,
            ..ConnResult::default()
        });
        stats.conns.len() - 1
    };
    let opened = {
        let _permit = local.pending.acquire().await;
        tokio::time::timeout(HANDSHAKE_TIMEOUT, stream::open(&spec, &local.target)).await
    };
    let (mut stream, carry) = match opened {
        Ok(Ok(pair)) => pair,
        Ok(Err(e)) => return fail(&local, format!("{e:#}")),
        Err(_) => return fail(&local, "handshake timed out".into()),
    };
    let mut conn = Conn {
        slot,
        history_left: local.target.rewind,
        opened_at_us: unix_us(),
        carry,
        out: Vec::new(),
        last_seq: 0,
        counting_gaps: false,
        subscribed: false,
        ended: None,
    };
    if local.target.wire == Wire::Uws {
        // The peer subscribes every connection as it opens.
        subscribed(&local, &mut conn);
    }
    let end = serve(&mut stream, &local, &spec, &mut conn).await;
    let mut stats = local.stats.borrow_mut();
    let phase = local.ctl.phase.load(Relaxed);
    if !conn.subscribed {
        drop(stats);
        return fail(
            &local,
            format!("ended before the subscribe was acknowledged: {end}"),
        );
    }
    let r = &mut stats.conns[slot];
    r.ended = Some(end);
    r.ended_in_run = (WARMUP..DONE).contains(&phase);
}

/// The connection's subscription is in place.
fn subscribed(local: &Local, conn: &mut Conn) {
    conn.subscribed = true;
    local.stats.borrow_mut().conns[conn.slot].subscribed = true;
    local.ctl.subscribed.fetch_add(1, Relaxed);
}

/// A uWebSockets peer frame as a tick: the publish time (ns) and seq, little-endian.
fn peek_uws(payload: &[u8]) -> Option<Peeked<'static>> {
    let ts = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let seq = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some(Peeked {
        kind: "tick",
        seq: Some(seq),
        ts: Some(ts),
    })
}

fn fail(local: &Local, reason: String) {
    local.ctl.failed.fetch_add(1, Relaxed);
    *local
        .stats
        .borrow_mut()
        .connect_errors
        .entry(reason)
        .or_default() += 1;
}

/// A connection's parsing state between reads.
struct Conn {
    slot: usize,
    /// History messages (`--rewind`) still to come; they are not live ticks.
    history_left: u64,
    /// When the connection was opened (for the time its history took), µs.
    opened_at_us: u64,
    /// The start of a frame whose end has not arrived yet.
    carry: Vec<u8>,
    /// Frames to send back (pongs).
    out: Vec<u8>,
    last_seq: u64,
    /// Whether `last_seq` is a measured tick, so a jump after it is a gap.
    counting_gaps: bool,
    subscribed: bool,
    ended: Option<String>,
}

/// Reads until the server closes, the stream breaks, or the client stalls.
async fn serve(stream: &mut Stream, local: &Local, spec: &Spec, conn: &mut Conn) -> String {
    let stall = local.ctl.stall.cancelled();
    tokio::pin!(stall);
    // Frames that arrived with the upgrade response.
    if !conn.carry.is_empty() {
        let carry = std::mem::take(&mut conn.carry);
        process(&carry, local, conn);
    }
    loop {
        if let Some(end) = conn.ended.take() {
            return end;
        }
        if !conn.out.is_empty() {
            if let Err(e) = stream.write_all(&conn.out).await {
                return format!("write: {}", e.kind());
            }
            conn.out.clear();
        }
        tokio::select! {
            biased;
            () = &mut stall, if spec.stalled => return stalled(stream).await,
            read = read(stream, local, conn) => {
                if let Err(end) = read {
                    return end;
                }
            }
        }
    }
}

/// Waits for bytes and processes them: returns once there is something to write back or
/// the connection ended (plain: after each readable edge; TLS: only then).
async fn read(stream: &mut Stream, local: &Local, conn: &mut Conn) -> Result<(), String> {
    match stream {
        Stream::Plain(tcp) => {
            if let Err(e) = tcp.readable().await {
                return Err(format!("read: {}", e.kind()));
            }
            drain(tcp, local, conn)
        }
        Stream::Tls(tls) => std::future::poll_fn(|cx| drain_tls(cx, tls, local, conn)).await,
    }
}

/// A client that stopped reading: it only sends a pong now and then, until the run ends
/// or the server drops it.
async fn stalled(stream: &mut Stream) -> String {
    let mut pong = Vec::new();
    ws::client_frame(&mut pong, OP_PONG, b"", MASK);
    loop {
        tokio::time::sleep(STALLED_KEEPALIVE).await;
        if let Err(e) = stream.write_all(&pong).await {
            return format!("write: {}", e.kind());
        }
    }
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Reads everything the socket has and processes every whole frame.
fn drain(stream: &TcpStream, local: &Local, conn: &mut Conn) -> Result<(), String> {
    let mut scratch = local.scratch.borrow_mut();
    let sock = socket2::SockRef::from(stream);
    loop {
        let keep = conn.carry.len();
        if scratch.len() < keep * 2 {
            scratch.resize(keep * 2, 0);
        }
        scratch[..keep].copy_from_slice(&conn.carry);
        let room = scratch.len() - keep;
        let mut got = 0;
        let result = stream.try_io(Interest::READABLE, || {
            let n = (&*sock).read(&mut scratch[keep..])?;
            got = n;
            // A short read emptied the socket: say so, and tokio waits for the next edge
            // instead of trying another read that would only return EAGAIN.
            if n > 0 && n < room {
                Err(std::io::ErrorKind::WouldBlock.into())
            } else {
                Ok(n)
            }
        });
        match result {
            Ok(0) => return Err("eof".into()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if got == 0 {
                    return Ok(());
                }
            }
            Err(e) => return Err(format!("read: {}", e.kind())),
        }
        conn.carry.clear();
        process(&scratch[..keep + got], local, conn);
        if conn.ended.is_some() || got < room {
            return Ok(());
        }
    }
}

/// Reads the plaintext rustls has (reading the socket when it has none) into the scratch
/// buffer and processes every whole frame, until the socket has nothing more
/// (`Pending`, with the waker registered), a pong is due, or the connection ends. No
/// borrow outlives a poll, so the thread's other connections still share the buffer;
/// tokio's per-task budget on socket reads keeps a busy connection from starving them.
fn drain_tls(
    cx: &mut Context<'_>,
    tls: &mut TlsStream<TcpStream>,
    local: &Local,
    conn: &mut Conn,
) -> Poll<Result<(), String>> {
    let mut scratch = local.scratch.borrow_mut();
    loop {
        let keep = conn.carry.len();
        if scratch.len() < keep * 2 {
            scratch.resize(keep * 2, 0);
        }
        scratch[..keep].copy_from_slice(&conn.carry);
        let mut buf = ReadBuf::new(&mut scratch[keep..]);
        match Pin::new(&mut *tls).poll_read(cx, &mut buf) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(read_error(&e))),
            Poll::Ready(Ok(())) => {}
        }
        let got = buf.filled().len();
        if got == 0 {
            return Poll::Ready(Err("eof".into()));
        }
        conn.carry.clear();
        process(&scratch[..keep + got], local, conn);
        if conn.ended.is_some() || !conn.out.is_empty() {
            return Poll::Ready(Ok(()));
        }
    }
}

/// A TLS read error: rustls' own (an alert, a bad record) by name, others by kind.
fn read_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
        Some(tls) => format!("tls: {tls}"),
        None => format!("read: {}", e.kind()),
    }
}

/// Handles every whole frame of `buf`, keeping a trailing partial frame in `conn.carry`.
fn process(buf: &[u8], local: &Local, conn: &mut Conn) {
    let phase = local.ctl.phase.load(Relaxed);
    let measuring = phase == MEASURE;
    let now_us = if measuring { unix_us() } else { 0 };
    let mut stats = local.stats.borrow_mut();
    let ThreadStats {
        latency,
        history,
        conns,
        ..
    } = &mut *stats;
    let r = &mut conns[conn.slot];
    let mut pos = 0;
    while pos < buf.len() {
        let (frame, len) = match ws::parse_frame(&buf[pos..]) {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                conn.ended = Some(format!("protocol: {e}"));
                return;
            }
        };
        pos += len;
        match frame.opcode {
            OP_BINARY => {
                let peeked = match local.target.wire {
                    Wire::Tickcast => peek_msgpack(frame.payload),
                    Wire::Uws => peek_uws(frame.payload),
                };
                let Some(msg) = peeked else {
                    r.errors += 1;
                    continue;
                };
                if conn.history_left > 0 && matches!(msg.kind, "tick" | "snapshot") {
                    conn.history_left -= 1;
                    conn.last_seq = msg.seq.unwrap_or(conn.last_seq);
                    if conn.history_left == 0 {
                        let took_us = unix_us().saturating_sub(conn.opened_at_us).max(1);
                        history.saturating_record(took_us);
                    }
                    continue;
                }
                match msg.kind {
                    "tick" => {
                        r.total_ticks += 1;
                        let seq = msg.seq.unwrap_or(0);
                        if conn.last_seq != 0 && seq != 0 {
                            if seq <= conn.last_seq {
                                r.out_of_order += 1;
                            } else if measuring && conn.counting_gaps {
                                r.gaps += seq - conn.last_seq - 1;
                            }
                        }
                        conn.last_seq = seq.max(conn.last_seq);
                        if measuring {
                            conn.counting_gaps = true;
                            if r.window_first_seq == 0 {
                                r.window_first_seq = seq;
                            }
                            r.window_last_seq = seq;
                            r.window_ticks += 1;
                            if let Some(ts) = msg.ts {
                                let us = now_us.saturating_sub(ts / 1_000).max(1);
                                latency.saturating_record(us);
                            }
                        }
                    }
                    // A book's updates skip `seq`s beyond the subscriber's depth: counted and
                    // timed like ticks, but not checked for gaps (`prev_seq` chains them).
                    "book_update" => {
                        r.total_ticks += 1;
                        if measuring {
                            r.window_ticks += 1;
                            if let Some(ts) = msg.ts {
                                let us = now_us.saturating_sub(ts / 1_000).max(1);
                                latency.saturating_record(us);
                            }
                        }
                    }
                    "snapshot" => conn.last_seq = msg.seq.unwrap_or(conn.last_seq),
                    "ack" if !conn.subscribed => {
                        conn.subscribed = true;
                        r.subscribed = true;
                        local.ctl.subscribed.fetch_add(1, Relaxed);
                    }
                    "lagged" => {
                        r.lagged += 1;
                        // Conflation skips seqs on purpose: do not count them as gaps.
                        conn.counting_gaps = false;
                    }
                    "error" => {
                        r.errors += 1;
                        if !conn.subscribed {
                            conn.ended = Some("subscribe refused".into());
                            return;
                        }
                    }
                    _ => {}
                }
            }
            OP_PING => ws::client_frame(&mut conn.out, OP_PONG, frame.payload, MASK),
            OP_CLOSE => {
                let code = match frame.payload {
                    [a, b, ..] => u16::from_be_bytes([*a, *b]),
                    _ => 1005,
                };
                conn.ended = Some(format!("close {code}"));
                return;
            }
            // Text (JSON), pongs and continuations: not used by the bench.
            _ => {}
        }
    }
    conn.carry.extend_from_slice(&buf[pos..]);
}
