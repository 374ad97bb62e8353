//! One WebSocket connection: a reader that checks and answers client frames, and a
//! writer that flushes the outbox with coalesced vectored writes, heartbeats and pings.
//!
//! The reader and writer are two futures of one task, joined by a single `select!`
//! created once. The reader ([`FrameReader`]) holds no buffer while the client is idle.
//! Everything the reader must send (pongs, answers, close) goes through the
//! outbox, so the writer is the only code that touches the socket's write half.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fastwebsockets::OpCode;
use tickcast_proto::{
    Ack, ClientMessage, Encoding, ErrorCode, Heartbeat, Op, PROTOCOL_VERSION, Pattern, Pong,
    Publish, RequestId, ServerMessage, Shutdown, Tick, Welcome, close, decode_client,
    validate_topic,
};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, timeout};

use crate::App;
use crate::auth::Grant;
use crate::broker::Reject;
use crate::broker::{Client, push_msg};
use crate::outbox::{Batch, Outbox};
use crate::wsread::{FrameReader, ReadError};
use crate::{frame, unix_ns};

/// How long a closing connection waits for the peer's close frame or for the writer.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Most slices handed to one vectored write (below every platform's IOV_MAX).
const MAX_IOVECS: usize = 512;

/// Why the reader stopped.
enum ReadEnd {
    /// The peer closed (close frame or EOF) or the socket failed.
    Peer,
    /// The reader asked the writer to close with a code.
    Closing,
}

/// Serves one upgraded connection until it closes.
pub async fn serve<R, W>(
    read: R,
    write: W,
    app: Arc<App>,
    encoding: Encoding,
    peer: SocketAddr,
    grant: Grant,
) where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let config = &app.config;
    let id = app.next_client_id.fetch_add(1, Relaxed);
    let client = Arc::new(Client {
        id,
        outbox: Outbox::new(encoding, config.queue_bytes, config.slow_consumer),
    });
    tracing::debug!(%peer, id, encoding = encoding.subprotocol(), "connected");
    if !config.echo {
        push_msg(
            &client,
            &ServerMessage::Welcome(Welcome {
                protocol: PROTOCOL_VERSION,
                server: format!("tickcast/{}", env!("CARGO_PKG_VERSION")),
                epoch: app.broker.epoch(),
                heartbeat_ms: u64::try_from(config.heartbeat.as_millis()).unwrap_or(u64::MAX),
                max_message_bytes: config.max_message_bytes as u64,
                max_subscriptions: u32::try_from(config.max_subscriptions).unwrap_or(u32::MAX),
                ts: unix_ns(),
            }),
        );
    }

    let mut reader = FrameReader::new(read, config.max_message_bytes);
    let drain = {
        let last_rx = AtomicU64::new(0);
        let started = Instant::now();
        let reader = read_loop(&mut reader, &client, &app, &grant, &last_rx, started);
        let writer = write_loop(write, &client, &app, &grant, &last_rx, started);
        tokio::pin!(reader, writer);
        tokio::select! {
            end = &mut reader => {
                if let ReadEnd::Peer = end {
                    client.outbox.close(close::NORMAL, "");
                }
                let _ = Box::pin(timeout(CLOSE_GRACE, &mut writer)).await;
                matches!(end, ReadEnd::Closing)
            }
            result = &mut writer => {
                if let Err(e) = result {
                    tracing::debug!(%peer, id, error = %e, "write side ended");
                }
                // Let the peer's close frame arrive so it sees a clean close, not a reset.
                let _ = Box::pin(timeout(CLOSE_GRACE, &mut reader)).await;
                false
            }
        }
    };
    if drain {
        // We sent a close after an error: swallow what the peer still sends until it
        // closes, so it reads our close frame instead of a connection reset.
        let _ = Box::pin(timeout(
            CLOSE_GRACE,
            tokio::io::copy(reader.get_mut(), &mut tokio::io::sink()),
        ))
        .await;
    }
    app.broker.disconnect(id);
    tracing::debug!(%peer, id, "disconnected");
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Checks a close frame's payload; returns the code to echo or the protocol error.
fn check_close(payload: &[u8]) -> Result<u16, (u16, &'static str)> {
    match payload {
        [] => Ok(close::NORMAL),
        [_] => Err((close::PROTOCOL_ERROR, "close payload of 1 byte")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let allowed = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !allowed {
                Err((close::PROTOCOL_ERROR, "invalid close code"))
            } else if std::str::from_utf8(reason).is_err() {
                Err((close::INVALID_PAYLOAD, "invalid UTF-8 in close reason"))
            } else {
                Ok(code)
            }
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    client: &Arc<Client>,
    app: &App,
    grant: &Grant,
    last_rx: &AtomicU64,
    started: Instant,
) -> ReadEnd {
    let limit = app.config.max_message_bytes;
    // Publishers are trusted to send at their feed's rate; everyone else is limited.
    let mut bucket = Bucket::new(if grant.publish {
        0
    } else {
        app.config.max_inbound_rate
    });
    // A fragmented message being reassembled: its opcode and bytes so far.
    let mut partial: Option<(OpCode, Vec<u8>)> = None;
    let fail = |code: u16, reason: &str| {
        client.outbox.close(code, reason);
        ReadEnd::Closing
    };
    loop {
        // Backpressure: while this client's answers are not being read, stop reading its
        // requests.
        client.outbox.wait_for_room().await;
        // A continuation frame may bring only what the message has room left for: one that
        // would overflow it is refused from its header, before its payload is buffered.
        let room = partial
            .as_ref()
            .map_or(limit, |(_, buf)| limit.saturating_sub(buf.len()));
        let frame = match reader.next(room).await {
            Ok(frame) => frame,
            Err(ReadError::Protocol { code, reason }) => return fail(code, reason),
            Err(ReadError::Gone(_)) => return ReadEnd::Peer,
        };
        last_rx.store(millis_since(started), Relaxed);
        let closing = client.outbox.is_closing();
        // Protocol errors close the connection whatever the rate.
        match frame.opcode {
            OpCode::Text | OpCode::Binary if partial.is_some() => {
                return fail(
                    close::PROTOCOL_ERROR,
                    "new message before the previous one finished",
                );
            }
            OpCode::Continuation if partial.is_none() => {
                return fail(
                    close::PROTOCOL_ERROR,
                    "continuation frame without a message",
                );
            }
            _ => {}
        }
        let counted = matches!(frame.opcode, OpCode::Ping)
            || (frame.fin && frame.opcode != OpCode::Close && frame.opcode != OpCode::Pong);
        if counted && !closing {
            match bucket.take(Instant::now()) {
                Verdict::Allow => {}
                Verdict::Refuse => {
                    if frame.opcode != OpCode::Ping {
                        let message = format!(
                            "over {} messages per second; slow down",
                            app.config.max_inbound_rate
                        );
                        send_error(client, app, None, ErrorCode::RateLimited, message);
                        // The refused message is dropped whole (a ping between its
                        // fragments is not a message: it leaves them alone).
                        partial = None;
                    }
                    continue;
                }
                Verdict::Close => {
                    return fail(close::POLICY_VIOLATION, "inbound rate limit exceeded");
                }
            }
        }
        match frame.opcode {
            OpCode::Close => {
                return match check_close(frame.payload) {
                    Ok(code) => fail(code, ""),
                    Err((code, reason)) => fail(code, reason),
                };
            }
            OpCode::Ping if !closing => client.outbox.push(frame::pong(frame.payload)),
            OpCode::Ping | OpCode::Pong => {}
            OpCode::Text | OpCode::Binary => {
                if frame.fin {
                    if !closing {
                        if let Some(end) =
                            on_message(client, app, grant, frame.opcode, frame.payload)
                        {
                            return end;
                        }
                    }
                } else {
                    partial = Some((frame.opcode, frame.payload.to_vec()));
                }
            }
            OpCode::Continuation => {
                // Both checked already: a message is being reassembled (above), and the
                // reader refused a frame past the message's room (`room`).
                let Some((opcode, mut buf)) = partial.take() else {
                    continue;
                };
                buf.extend_from_slice(frame.payload);
                if !frame.fin {
                    partial = Some((opcode, buf));
                } else if !closing {
                    if let Some(end) = on_message(client, app, grant, opcode, &buf) {
                        return end;
                    }
                }
            }
        }
    }
}

fn send_error(client: &Client, app: &App, id: Option<RequestId>, code: ErrorCode, message: String) {
    app.metrics.errors_sent.fetch_add(1, Relaxed);
    push_msg(
        client,
        &ServerMessage::Error(tickcast_proto::Error { id, code, message }),
    );
}

/// Handles one complete message; `Some` ends the connection.
fn on_message(
    client: &Arc<Client>,
    app: &App,
    grant: &Grant,
    opcode: OpCode,
    payload: &[u8],
) -> Option<ReadEnd> {
    let encoding = client.outbox.encoding();
    let text = opcode == OpCode::Text;
    if text && std::str::from_utf8(payload).is_err() {
        client
            .outbox
            .close(close::INVALID_PAYLOAD, "invalid UTF-8 in text message");
        return Some(ReadEnd::Closing);
    }
    if app.config.echo {
        client.outbox.push(frame::raw(opcode, payload));
        return None;
    }
    if text != encoding.is_text() {
        let (got, want) = if text {
            ("text", "binary")
        } else {
            ("binary", "text")
        };
        let message = format!(
            "{got} frame on a {} connection: send {want} frames",
            encoding.subprotocol()
        );
        send_error(client, app, None, ErrorCode::BadFrame, message);
        return None;
    }
    let msg = match decode_client(encoding, payload) {
        Ok(msg) => msg,
        Err(e) => {
            send_error(client, app, e.id().cloned(), e.code(), e.to_string());
            return None;
        }
    };
    let id = msg.id().cloned();
    let result = match msg {
        ClientMessage::Subscribe(req) => match outside_grant(grant, &req.topics) {
            Some(reject) => Err(reject),
            None => app.broker.subscribe(client, req),
        },
        ClientMessage::Unsubscribe(req) => app.broker.unsubscribe(client, req),
        ClientMessage::List(req) => {
            app.broker
                .list(req.id, req.pattern.as_deref())
                .map(|mut topics| {
                    // A scoped token lists only what it may subscribe to.
                    topics
                        .topics
                        .retain(|t| Pattern::parse(t).is_ok_and(|p| grant.allows(&p)));
                    push_msg(client, &ServerMessage::Topics(topics));
                })
        }
        ClientMessage::Ping(req) => {
            push_msg(
                client,
                &ServerMessage::Pong(Pong {
                    id: req.id,
                    ts: unix_ns(),
                }),
            );
            Ok(())
        }
        ClientMessage::Publish(req) => publish(client, app, grant, req),
    };
    if let Err(reject) = result {
        send_error(client, app, id, reject.code, reject.message);
    }
    None
}

/// Bytes written to the socket so far: a pending write is given up only when the peer
/// takes nothing at all for the stall timeout. (A counter, not a clock read per write.)
#[derive(Default)]
struct Progress(AtomicU64);

impl Progress {
    fn add(&self, n: usize) {
        self.0
            .store(self.0.load(Relaxed).wrapping_add(n as u64), Relaxed);
    }

    fn bytes(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Drives a write that could not finish at once; `TimedOut` once a whole `stall` passed
/// with no byte moved (a slow reader that keeps taking bytes is never cut off).
async fn finish_unless_stalled<F>(
    mut write: std::pin::Pin<&mut F>,
    progress: &Progress,
    stall: Duration,
) -> std::io::Result<()>
where
    F: std::future::Future<Output = std::io::Result<()>>,
{
    let mut seen = progress.bytes();
    loop {
        match timeout(stall, write.as_mut()).await {
            Ok(result) => return result,
            Err(_) if progress.bytes() == seen => {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            Err(_) => seen = progress.bytes(),
        }
    }
}

/// Writes all `frames`, in as few vectored writes as the socket allows.
async fn write_frames<W: AsyncWrite + Unpin>(
    w: &mut W,
    frames: &[Bytes],
    progress: &Progress,
) -> std::io::Result<()> {
    if let [one] = frames {
        let mut rest = &one[..];
        while !rest.is_empty() {
            let n = w.write(rest).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            progress.add(n);
            rest = &rest[n..];
        }
        return Ok(());
    }
    let mut index = 0;
    let mut offset = 0;
    let mut slices = Vec::with_capacity(frames.len().min(MAX_IOVECS));
    while index < frames.len() {
        slices.clear();
        slices.push(IoSlice::new(&frames[index][offset..]));
        slices.extend(
            frames[index + 1..]
                .iter()
                .take(MAX_IOVECS - 1)
                .map(|f| IoSlice::new(f)),
        );
        let mut written = w.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        progress.add(written);
        while index < frames.len() && written >= frames[index].len() - offset {
            written -= frames[index].len() - offset;
            index += 1;
            offset = 0;
        }
        offset += written;
    }
    Ok(())
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut w: W,
    client: &Client,
    app: &App,
    grant: &Grant,
    last_rx: &AtomicU64,
    started: Instant,
) -> std::io::Result<()> {
    let heartbeat = app.config.heartbeat;
    // A write that makes no progress for this long means the peer is gone.
    let stall = heartbeat * 3 + Duration::from_secs(5);
    let progress = Progress::default();
    let mut batch = Batch::default();
    let mut last_tx = Instant::now();
    let mut last_check = Instant::now();
    let mut last_ping = Instant::now();
    let mut shutting_down = false;
    // Created once: a future made in every turn of the loop would register (and
    // deregister) with the timer wheel or the token on every write.
    let shutdown = app.shutdown.cancelled();
    // One timer for both deadlines: the keepalive check and the earliest `max_rate` frame.
    let mut check_at;
    let mut timer_at = last_check + heartbeat;
    let timer = sleep_until(timer_at.into());
    tokio::pin!(shutdown, timer);
    loop {
        client.outbox.take(&mut batch);
        if !batch.frames.is_empty() {
            let bytes: usize = batch.frames.iter().map(Bytes::len).sum();
            let write = write_frames(&mut w, &batch.frames, &progress);
            tokio::pin!(write);
            // Most writes complete at once; only one that has to wait gets a timer.
            let first = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::future::Future::poll(write.as_mut(), cx))
            })
            .await;
            match first {
                std::task::Poll::Ready(result) => result?,
                std::task::Poll::Pending => {
                    Box::pin(finish_unless_stalled(write, &progress, stall)).await?;
                }
            }
            let now = Instant::now();
            if let Some(oldest) = batch.oldest {
                app.metrics
                    .observe_latency(now.saturating_duration_since(oldest));
            }
            app.metrics
                .frames_delivered
                .fetch_add(batch.frames.len() as u64, Relaxed);
            app.metrics.bytes_delivered.fetch_add(bytes as u64, Relaxed);
            last_tx = now;
        }
        if let Some(close_frame) = batch.close.take() {
            let _ = Box::pin(timeout(CLOSE_GRACE, async {
                w.write_all(&close_frame).await?;
                w.shutdown().await
            }))
            .await;
            return Ok(());
        }
        check_at = (last_tx + heartbeat).min(last_check + heartbeat);
        let next = batch.next_due.map_or(check_at, |due| due.min(check_at));
        if next != timer_at || timer.is_elapsed() {
            timer_at = next;
            timer.as_mut().reset(timer_at.into());
        }
        tokio::select! {
            biased;
            _ = &mut shutdown, if !shutting_down => {
                shutting_down = true;
                let msg = ServerMessage::Shutdown(Shutdown {
                    reason: "server shutting down".into(),
                    reconnect_after_ms: 1000,
                });
                match frame::encode(client.outbox.encoding(), &msg) {
                    Ok(f) => client.outbox.close_after(f, close::GOING_AWAY, "server shutting down"),
                    Err(_) => client.outbox.close(close::GOING_AWAY, "server shutting down"),
                }
            }
            _ = client.outbox.notified() => {}
            _ = &mut timer => {
                let now = Instant::now();
                if now < check_at {
                    continue; // a `max_rate` frame is due: the top of the loop takes it
                }
                last_check = now;
                let idle_rx = Duration::from_millis(millis_since(started).saturating_sub(last_rx.load(Relaxed)));
                if grant.expires_at_ns.is_some_and(|exp_ns| unix_ns() >= exp_ns) {
                    client.outbox.close(close::UNAUTHORIZED, "token expired");
                    continue;
                }
                if idle_rx >= heartbeat * 3 {
                    client.outbox.close(close::IDLE_TIMEOUT, "idle timeout: peer stopped answering pings");
                    continue;
                }
                if idle_rx >= heartbeat && now.duration_since(last_ping) >= heartbeat {
                    last_ping = now;
                    client.outbox.push(frame::ping());
                }
                if now.duration_since(last_tx) >= heartbeat && !app.config.echo {
                    push_msg(client, &ServerMessage::Heartbeat(Heartbeat { ts: unix_ns() }));
                }
            }
        }
    }
}

/// `forbidden` when a requested pattern reaches beyond the connection's token scope.
/// (Patterns that do not parse are left for the broker to answer with `bad_topic`.)
fn outside_grant(grant: &Grant, topics: &[String]) -> Option<Reject> {
    let denied = topics
        .iter()
        .find(|t| Pattern::parse(t).is_ok_and(|p| !grant.allows(&p)))?;
    Some(Reject {
        code: ErrorCode::Forbidden,
        message: format!("your token does not allow {denied:?}"),
    })
}

fn finite_positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Validates a published trade, lets the broker stamp `seq` and `ts`, and acks it.
fn publish(client: &Arc<Client>, app: &App, grant: &Grant, req: Publish) -> Result<(), Reject> {
    let bad = |code, message: String| Err(Reject { code, message });
    if !grant.publish {
        return bad(
            ErrorCode::Forbidden,
            "this connection may not publish (connect with the publish token)".into(),
        );
    }
    if let Err(e) = validate_topic(&req.topic) {
        return bad(
            ErrorCode::BadTopic,
            format!("bad topic {:?}: {e}", req.topic),
        );
    }
    if req.topic.starts_with("bars.") {
        return bad(
            ErrorCode::BadTopic,
            "bars.* topics are computed by the server from ticks".into(),
        );
    }
    if Pattern::parse(&req.topic).is_ok_and(|p| !grant.allows(&p)) {
        return bad(
            ErrorCode::Forbidden,
            format!("your token does not allow {:?}", req.topic),
        );
    }
    let (bid, ask) = (req.bid.unwrap_or(req.price), req.ask.unwrap_or(req.price));
    if !finite_positive(req.price) || !finite_positive(bid) || !finite_positive(ask) {
        return bad(
            ErrorCode::BadRequest,
            "price, bid and ask must be finite and > 0".into(),
        );
    }
    if bid > ask {
        return bad(
            ErrorCode::BadRequest,
            format!("bid {bid} is above ask {ask}"),
        );
    }
    if req.size == 0 {
        return bad(ErrorCode::BadRequest, "size must be at least 1".into());
    }
    let symbol = req.topic.rsplit('.').next().unwrap_or_default().to_owned();
    app.ingress.publish_tick(Tick {
        topic: req.topic.clone(),
        seq: 0,
        ts: 0,
        symbol,
        price: req.price,
        size: req.size,
        bid,
        ask,
        volume: 0,
    });
    let ack = Ack {
        id: req.id,
        op: Op::Publish,
        topics: vec![req.topic],
        subscriptions: app.broker.subscriptions_of(client.id),
    };
    push_msg(client, &ServerMessage::Ack(ack));
    Ok(())
}

/// What the inbound rate limiter says about one more message.
enum Verdict {
    Allow,
    /// Over the rate: drop it and say `rate_limited`.
    Refuse,
    /// Persistently over the rate: close with 1008.
    Close,
}

/// A token bucket: `rate` messages per second, bursts of up to twice that. More than
/// max(rate, 10) refusals within one second (sending at over twice the rate) means close.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
    /// Start of the current one-second window and the messages refused in it.
    window: Instant,
    refused: u32,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate);
        Self {
            rate,
            tokens: rate * 2.0,
            last: Instant::now(),
            window: Instant::now(),
            refused: 0,
        }
    }

    fn take(&mut self, now: Instant) -> Verdict {
        if self.rate <= 0.0 {
            return Verdict::Allow;
        }
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate)
            .min(self.rate * 2.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Allow;
        }
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.window = now;
            self.refused = 0;
        }
        self.refused += 1;
        if f64::from(self.refused) > self.rate.max(10.0) {
            Verdict::Close
        } else {
            Verdict::Refuse
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bucket` `per_s` messages per second, evenly, for `secs`; the verdicts.
    fn feed(bucket: &mut Bucket, start: Instant, per_s: u32, secs: u32) -> Vec<Verdict> {
        (0..per_s * secs)
            .map(|i| {
                let at = start + Duration::from_secs_f64(f64::from(i) / f64::from(per_s));
                bucket.take(at)
            })
            .collect()
    }

    fn count(verdicts: &[Verdict], want: fn(&Verdict) -> bool) -> usize {
        verdicts.iter().filter(|v| want(v)).count()
    }

    #[test]
    fn the_burst_is_twice_the_rate_then_the_rate_refills() {
        let start = Instant::now();
        let mut bucket = Bucket::new(100);
        // 300 at once: 200 (the burst) pass, the next 100 are refused, the 101st closes.
        let burst: Vec<_> = (0..302).map(|_| bucket.take(start)).collect();
        assert_eq!(count(&burst, |v| matches!(v, Verdict::Allow)), 200);
        assert_eq!(count(&burst, |v| matches!(v, Verdict::Refuse)), 100);
        assert!(matches!(burst[300], Verdict::Close));
    }

    #[test]
    fn a_steady_rate_a_little_over_the_limit_is_refused_not_closed() {
        let start = Instant::now();
        let mut bucket = Bucket::new(100);
        // 150/s for a minute: ~50 refused every second, never more than 100 in one.
        let verdicts = feed(&mut bucket, start, 150, 60);
        assert_eq!(count(&verdicts, |v| matches!(v, Verdict::Close)), 0);
        let refused = count(&verdicts, |v| matches!(v, Verdict::Refuse));
        assert!((2_500..=3_000).contains(&refused), "{refused} refused");
    }

    #[test]
    fn more_than_twice_the_rate_is_closed_within_seconds() {
        let start = Instant::now();
        let mut bucket = Bucket::new(100);
        let verdicts = feed(&mut bucket, start, 250, 10);
        let first_close = verdicts.iter().position(|v| matches!(v, Verdict::Close));
        // The burst lasts 200 / (250 - 100) = 1.3 s; then 150 refusals a second.
        let at = first_close.expect("closed") as f64 / 250.0;
        assert!((1.3..3.5).contains(&at), "closed after {at} s");
    }

    #[test]
    fn zero_means_no_limit() {
        let mut bucket = Bucket::new(0);
        let start = Instant::now();
        assert!((0..100_000).all(|_| matches!(bucket.take(start), Verdict::Allow)));
    }
}
