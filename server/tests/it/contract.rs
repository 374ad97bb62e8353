//! Black-box contract tests (#15): each test checks one statement of `proto/PROTOCOL.md`
//! against a real server on 127.0.0.1:0, through real sockets, using only the public
//! contract (the documents), not the server's code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use tickcast_proto::{
    ClientMessage, Encoding, ErrorCode, Op, Ping, Position, Publish, RequestId, Resume,
    ServerMessage, Subscribe, Unsubscribe, decode_server, encode,
};
use tokio::io::AsyncReadExt;
use tokio::time::{Instant, timeout};

use crate::support::*;

/// The contract itself, read at build time so the tests and the docs cannot drift.
const PROTOCOL_MD: &str = include_str!("../../../proto/PROTOCOL.md");

const PUBLISH_TOKEN: &str = "contract-publish-token";
const JWT_SECRET: &str = "contract-hmac-key";

// --- helpers ---------------------------------------------------------------------------------

/// A server without the simulator: topics exist only when a publisher creates them.
fn quiet_config() -> tickcast_server::Config {
    let mut cfg = config(1, 1.0);
    cfg.simulator = None;
    cfg
}

/// The next application message within `within` (heartbeats and pings are handled by
/// `recv`), or `None` when nothing came.
async fn next_within(c: &mut Client, within: Duration) -> Option<ServerMessage> {
    timeout(within, c.recv()).await.ok()
}

/// Every application message that arrives during `window`.
async fn collect_for(c: &mut Client, window: Duration) -> Vec<ServerMessage> {
    let deadline = Instant::now() + window;
    let mut out = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match next_within(c, left).await {
            Some(msg) => out.push(msg),
            None => break,
        }
    }
    out
}

/// The next data frame's payload (pings answered, heartbeats skipped), raw.
async fn next_data_payload(c: &mut Client) -> Vec<u8> {
    loop {
        let frame = c.recv_frame().await.expect("connection open");
        match frame.opcode {
            OP_PING => c.send_frame(true, OP_PONG, &frame.payload, true).await,
            OP_BINARY | OP_TEXT => {
                if let Ok(ServerMessage::Heartbeat(_)) = decode_server(c.encoding, &frame.payload) {
                    continue;
                }
                return frame.payload;
            }
            OP_CLOSE => panic!("unexpected close {:?}", frame.close_code()),
            other => panic!("unexpected opcode {other}"),
        }
    }
}

/// Sends a data frame of the connection's kind holding exactly `payload`.
async fn send_raw(c: &mut Client, payload: &[u8]) {
    let opcode = if c.encoding.is_text() {
        OP_TEXT
    } else {
        OP_BINARY
    };
    c.send_frame(true, opcode, payload, true).await;
}

/// Waits for the answer of a request (skipping market data) and returns it.
async fn answer(c: &mut Client) -> ServerMessage {
    c.recv_until(|m| {
        matches!(
            m,
            ServerMessage::Ack(_)
                | ServerMessage::Error(_)
                | ServerMessage::Pong(_)
                | ServerMessage::Topics(_)
        )
    })
    .await
}

fn expect_error(msg: &ServerMessage, code: ErrorCode, id: Option<RequestId>) {
    match msg {
        ServerMessage::Error(e) => {
            assert_eq!(e.code, code, "{e:?}");
            assert_eq!(e.id, id, "{e:?}");
        }
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

/// Sends an upgrade request with `headers`; returns the status line's code, the head and
/// the body (read by its Content-Length).
async fn upgrade_status(addr: SocketAddr, headers: &str) -> (u16, String, String) {
    let (head, mut stream) = http_raw(addr, &upgrade_request(addr, headers)).await;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if status != 101 && len > 0 {
        timeout(WAIT, stream.read_exact(&mut body))
            .await
            .expect("body in time")
            .unwrap();
    }
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

fn sub(topics: &[&str]) -> Subscribe {
    Subscribe {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

/// Subscribes `ticks.*` with a throwaway client until some topic has a tick with seq ≥
/// `min_seq`; returns that topic (so the market is known to be warm).
async fn warm_topic(addr: SocketAddr, min_seq: u64) -> String {
    let (mut c, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut c, &["ticks.*"]).await;
    match c
        .recv_until(|m| matches!(m, ServerMessage::Tick(t) if t.seq >= min_seq))
        .await
    {
        ServerMessage::Tick(t) => t.topic,
        _ => unreachable!(),
    }
}

// --- 1. resume + many topics -----------------------------------------------------------------

/// §6 `resume` and §8 "Many topics": a client that follows 5,000 topics hands its positions
/// over in several `resume` messages, "each within `welcome.max_message_bytes`", each
/// answered with "`ack` with `op: "resume"` and empty `topics`"; the `subscribe` then "resumes
/// every topic its patterns match from these positions, exactly as if they had been in its own
/// `since`": the missed ticks, seq+1 onwards (§8 table), never a duplicate (§13), under the
/// default limits (rate limit and queue bytes included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_resume_in_pieces_recovers_5000_topics() {
    const N: usize = 5000;
    let server = start(config(N, 5000.0)).await;
    let addr = server.addr();

    // Client A: a position for every topic.
    let (mut a, welcome) = Client::connect_welcomed(addr).await;
    subscribe(&mut a, &["ticks.*"]).await;
    let mut position: BTreeMap<String, Position> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while position.len() < N {
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_else(|| panic!("A has only {} of {N} topics after 30 s", position.len()));
        match next_within(&mut a, left).await {
            Some(ServerMessage::Snapshot(s)) => {
                position.insert(s.topic, (s.epoch, s.seq));
            }
            Some(ServerMessage::Tick(t)) => {
                let epoch = position.get(&t.topic).map_or(welcome.epoch, |p| p.0);
                position.insert(t.topic, (epoch, t.seq));
            }
            _ => {}
        }
    }
    drop(a);
    // Let every topic move on by about one and a half ticks.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Client B: the positions in pieces, then the subscribe.
    let (mut b, welcome_b) = Client::connect_welcomed(addr).await;
    let limit = welcome_b.max_message_bytes as usize;
    let whole = encode(
        Encoding::MsgPack,
        &ClientMessage::Resume(Resume {
            id: Some(RequestId::Num(u64::MAX)),
            since: position.clone(),
        }),
    )
    .unwrap();
    assert!(
        whole.len() > limit,
        "5,000 positions ({} bytes) must not fit in one message of {limit} bytes",
        whole.len()
    );
    // Cut greedily by the encoded size of each entry (plus room for the map header's growth).
    let resume_len = |since: &BTreeMap<String, Position>| {
        encode(
            Encoding::MsgPack,
            &ClientMessage::Resume(Resume {
                id: Some(RequestId::Num(u64::MAX)),
                since: since.clone(),
            }),
        )
        .unwrap()
        .len()
    };
    let empty = resume_len(&BTreeMap::new());
    let mut pieces: Vec<BTreeMap<String, Position>> = vec![BTreeMap::new()];
    let mut piece_len = empty + 8;
    for (topic, pos) in &position {
        let entry = resume_len(&BTreeMap::from([(topic.clone(), *pos)])) - empty;
        if piece_len + entry > limit {
            pieces.push(BTreeMap::new());
            piece_len = empty + 8;
        }
        pieces.last_mut().unwrap().insert(topic.clone(), *pos);
        piece_len += entry;
    }
    for piece in &pieces {
        assert!(resume_len(piece) <= limit, "a resume piece over the limit");
    }
    assert!(pieces.len() > 1, "more than one resume is needed");
    for (i, piece) in pieces.into_iter().enumerate() {
        let id = RequestId::Num(100 + i as u64);
        b.send(Resume {
            id: Some(id.clone()),
            since: piece,
        })
        .await;
        match b.recv().await {
            ServerMessage::Ack(ack) => {
                assert_eq!(ack.op, Op::Resume, "{ack:?}");
                assert_eq!(ack.id, Some(id), "{ack:?}");
                assert!(ack.topics.is_empty(), "{ack:?}");
            }
            other => panic!("resume {i}: expected ack, got {other:?}"),
        }
    }
    b.send(Subscribe {
        id: Some(RequestId::Num(1)),
        ..sub(&["ticks.*"])
    })
    .await;
    match b.recv().await {
        ServerMessage::Ack(ack) => assert_eq!(ack.op, Op::Subscribe, "{ack:?}"),
        other => panic!("expected the subscribe's ack, got {other:?}"),
    }

    let mut last: HashMap<String, u64> = HashMap::new();
    let mut lagged: BTreeSet<String> = BTreeSet::new();
    let mut wrong_first = Vec::new();
    let mut failed = Vec::new();
    let mut duplicates = Vec::new();
    let mut gaps = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while last.len() < N {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match next_within(&mut b, left).await {
            Some(ServerMessage::Tick(t)) => {
                let Some(prev) = last.get(&t.topic).copied() else {
                    let want = position[&t.topic].1 + 1;
                    if t.seq != want {
                        wrong_first.push(format!("{} first seq {} want {want}", t.topic, t.seq));
                    }
                    last.insert(t.topic, t.seq);
                    continue;
                };
                if t.seq <= prev {
                    duplicates.push(format!("{} {} after {prev}", t.topic, t.seq));
                } else if t.seq != prev + 1 && !lagged.contains(&t.topic) {
                    gaps.push(format!("{} {prev} -> {}", t.topic, t.seq));
                }
                last.insert(t.topic, t.seq);
            }
            Some(ServerMessage::Snapshot(s)) => {
                failed.push(format!(
                    "{} snapshot seq {} recovered {:?} (had {:?})",
                    s.topic,
                    s.seq,
                    s.recovered,
                    position.get(&s.topic)
                ));
                last.insert(s.topic, s.seq);
            }
            Some(ServerMessage::Lagged(l)) => lagged.extend(l.topics),
            Some(_) => {}
            None => break,
        }
    }
    let show = |v: &Vec<String>| v.iter().take(5).cloned().collect::<Vec<_>>();
    assert!(
        failed.is_empty() && wrong_first.is_empty() && duplicates.is_empty() && gaps.is_empty(),
        "resume of {N} topics: {} snapshots instead of replays (e.g. {:?}), {} wrong first seqs \
         (e.g. {:?}), {} duplicates (e.g. {:?}), {} silent gaps (e.g. {:?}); {} topics lagged",
        failed.len(),
        show(&failed),
        wrong_first.len(),
        show(&wrong_first),
        duplicates.len(),
        show(&duplicates),
        gaps.len(),
        show(&gaps),
        lagged.len()
    );
    assert_eq!(
        last.len(),
        N,
        "only {} of {N} topics continued within 60 s",
        last.len()
    );
    server.shutdown().await;
}

// --- 2. since for a topic already being delivered --------------------------------------------

/// §8 "A position for a topic already being delivered (a second `subscribe` of a pattern, or a
/// `since` entry for a topic that an earlier subscription covers) cannot be replayed in order:
/// the server answers it with the topic's latest state with `recovered: false`, so a resume is
/// never skipped silently." An OLD position (before this connection's delivery of the topic
/// began) gets that announcement; a position the client already has (its latest seq) needs
/// none: nothing extra arrives, and live ticks go on without a duplicate (§13).
#[tokio::test]
async fn contract_since_for_a_topic_already_delivered() {
    let server = start(config(4, 200.0)).await;
    let addr = server.addr();
    let topic = warm_topic(addr, 10).await;

    let (mut c, welcome) = Client::connect_welcomed(addr).await;
    subscribe(&mut c, &["ticks.*"]).await;
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut joined = None;
    // The snapshots, then at least one live tick of `topic`.
    while joined.is_none() || last.get(&topic) == joined.as_ref() {
        match c.recv().await {
            ServerMessage::Snapshot(s) => {
                assert_eq!(s.recovered, None, "{s:?}");
                if s.topic == topic {
                    joined = Some(s.seq);
                }
                last.insert(s.topic, s.seq);
            }
            ServerMessage::Tick(t) => {
                if let Some(prev) = last.insert(t.topic.clone(), t.seq) {
                    assert_eq!(t.seq, prev + 1, "{}", t.topic);
                }
            }
            _ => {}
        }
    }
    let joined = joined.unwrap();
    assert!(joined >= 6, "{topic} joined at {joined}");

    // An old position, from before this connection's delivery began.
    c.send(Subscribe {
        id: Some(RequestId::Num(2)),
        since: Some(BTreeMap::from([(
            topic.clone(),
            (welcome.epoch, joined - 5),
        )])),
        ..sub(&["ticks.*"])
    })
    .await;
    let mut acked = false;
    let mut announced = None;
    let deadline = Instant::now() + WAIT;
    while announced.is_none() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("a recovered:false snapshot for the old position within 5 s");
        match next_within(&mut c, left).await {
            Some(ServerMessage::Ack(a)) => {
                assert_eq!(a.id, Some(RequestId::Num(2)));
                acked = true;
            }
            Some(ServerMessage::Snapshot(s)) => {
                assert!(acked, "snapshot before the ack: {s:?}");
                assert_eq!(
                    s.topic, topic,
                    "only the topic with the old position: {s:?}"
                );
                assert_eq!(s.recovered, Some(false), "{s:?}");
                assert_eq!(s.epoch, welcome.epoch, "{s:?}");
                assert!(s.seq >= last[&topic], "{s:?} after {}", last[&topic]);
                last.insert(s.topic, s.seq);
                announced = Some(s.seq);
            }
            Some(ServerMessage::Tick(t)) => {
                let prev = last.insert(t.topic.clone(), t.seq).unwrap();
                assert_eq!(t.seq, prev + 1, "{} replayed or skipped", t.topic);
            }
            _ => {}
        }
    }

    // Ticks of the topic go on after the snapshot; then a position the client has.
    let want = announced.unwrap() + 1;
    loop {
        if let ServerMessage::Tick(t) = c.recv().await {
            let prev = last.insert(t.topic.clone(), t.seq).unwrap();
            if t.topic == topic {
                assert_eq!(t.seq, want, "{topic} after its recovered:false snapshot");
                break;
            }
            assert_eq!(t.seq, prev + 1, "{} replayed or skipped", t.topic);
        }
    }

    c.send(Subscribe {
        id: Some(RequestId::Num(3)),
        since: Some(BTreeMap::from([(
            topic.clone(),
            (welcome.epoch, last[&topic]),
        )])),
        ..sub(&["ticks.*"])
    })
    .await;
    let mut acked = false;
    for msg in collect_for(&mut c, Duration::from_millis(1500)).await {
        match msg {
            ServerMessage::Ack(a) => {
                assert_eq!(a.id, Some(RequestId::Num(3)));
                acked = true;
            }
            ServerMessage::Tick(t) => {
                let prev = last.insert(t.topic.clone(), t.seq).unwrap();
                assert_eq!(t.seq, prev + 1, "{} replayed or skipped", t.topic);
            }
            ServerMessage::Snapshot(s) => {
                panic!("a position the client already has needs no announcement: {s:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(acked, "no ack for the second subscribe");
    server.shutdown().await;
}

// --- 3. max_rate and replays ------------------------------------------------------------------

/// §8 "Replays are not paced by `max_rate`: the missed messages arrive at once, in order (a
/// resume is exactly-once; pacing would drop some). `max_rate` applies to live messages after
/// them." and §8 "`max_rate: N` limits each matching topic to at most N messages per second".
#[tokio::test]
async fn contract_replays_are_not_paced_by_max_rate_but_live_messages_are() {
    let server = start(config(2, 200.0)).await;
    let addr = server.addr();
    let topic = warm_topic(addr, 5).await;

    let (mut a, welcome) = Client::connect_welcomed(addr).await;
    subscribe(&mut a, &[&topic]).await;
    let from = match a.recv().await {
        ServerMessage::Snapshot(s) => s.seq,
        other => panic!("expected the snapshot, got {other:?}"),
    };
    // A keeps reading until at least 50 ticks were missed by the position `from`.
    let mut have = from;
    while have < from + 50 {
        if let ServerMessage::Tick(t) = a.recv().await {
            assert_eq!(t.seq, have + 1);
            have = t.seq;
        }
    }

    let (mut b, _) = Client::connect_welcomed(addr).await;
    b.send(Subscribe {
        id: Some(RequestId::Num(1)),
        since: Some(BTreeMap::from([(topic.clone(), (welcome.epoch, from))])),
        max_rate: Some(1),
        ..sub(&[&topic])
    })
    .await;
    assert!(matches!(b.recv().await, ServerMessage::Ack(_)));
    let got = collect_for(&mut b, Duration::from_millis(2500)).await;
    let seqs: Vec<u64> = got
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Tick(t) => Some(t.seq),
            ServerMessage::Snapshot(s) => panic!("the resume must be replayed: {s:?}"),
            _ => None,
        })
        .collect();
    // The replay: every seq from `from`+1 to at least what A had when B subscribed.
    let replayed = seqs
        .iter()
        .zip(from + 1..)
        .take_while(|(s, want)| **s == *want)
        .count() as u64;
    assert!(
        replayed >= have - from,
        "replay under max_rate 1 must be whole: got {replayed} in order, want ≥ {}: {seqs:?}",
        have - from
    );
    // Live messages after it: 1 a second (the topic makes ~100 a second).
    let live = &seqs[replayed as usize..];
    assert!(
        live.len() <= 4,
        "max_rate 1 must pace live ticks: {} in 2.5 s: {live:?}",
        live.len()
    );
    assert!(!live.is_empty(), "live ticks must go on after the replay");
    assert!(live.windows(2).all(|w| w[1] > w[0] + 1), "{live:?}");
    server.shutdown().await;
}

// --- 4. unsubscribe under max_rate ------------------------------------------------------------

/// §8 "`unsubscribe` removes patterns by exact text. Messages of topics that no remaining
/// pattern matches stop after the `ack`, including those `max_rate` or conflation was still
/// holding back."
#[tokio::test]
async fn contract_unsubscribe_stops_everything_after_the_ack_even_under_max_rate() {
    let server = start(config(20, 2000.0)).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    c.send(Subscribe {
        id: Some(RequestId::Num(1)),
        max_rate: Some(1),
        ..sub(&["ticks.*"])
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    // Paced live ticks are flowing (so some are being held back).
    c.recv_until(|m| matches!(m, ServerMessage::Tick(_))).await;
    c.send(Unsubscribe {
        id: Some(RequestId::Num(2)),
        topics: vec!["ticks.*".into()],
    })
    .await;
    match c.recv_until(|m| matches!(m, ServerMessage::Ack(_))).await {
        ServerMessage::Ack(a) => {
            assert_eq!(a.op, Op::Unsubscribe);
            assert!(a.subscriptions.is_empty(), "{a:?}");
        }
        _ => unreachable!(),
    }
    let after = collect_for(&mut c, Duration::from_millis(2000)).await;
    assert!(
        after.is_empty(),
        "messages after the unsubscribe's ack: {after:?}"
    );
    c.send(Ping {
        id: Some(RequestId::Num(3)),
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Pong(p) if p.id == Some(RequestId::Num(3))));
    server.shutdown().await;
}

// --- 5. empty topics --------------------------------------------------------------------------

/// §6 `unsubscribe`: "`bad_request` when `topics` is empty"; §6 `subscribe`: "`bad_request`
/// (e.g. `max_rate: 0`, or an empty `topics`)", "in which case nothing changed".
#[tokio::test]
async fn contract_empty_topics_are_bad_requests() {
    let server = start(quiet_config()).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &["ticks.A"]).await;
    c.send(Unsubscribe {
        id: Some(RequestId::Num(1)),
        topics: vec![],
    })
    .await;
    expect_error(
        &c.recv().await,
        ErrorCode::BadRequest,
        Some(RequestId::Num(1)),
    );
    c.send(Subscribe {
        id: Some(RequestId::Num(2)),
        ..sub(&[])
    })
    .await;
    expect_error(
        &c.recv().await,
        ErrorCode::BadRequest,
        Some(RequestId::Num(2)),
    );
    // Nothing changed.
    assert_eq!(
        subscribe(&mut c, &["ticks.B"]).await,
        ["ticks.A", "ticks.B"]
    );
    server.shutdown().await;
}

// --- 6. sorted subscriptions ------------------------------------------------------------------

/// §7 `ack`: "`subscriptions` ... this connection's full list of patterns after the request,
/// sorted (byte order)".
#[tokio::test]
async fn contract_ack_subscriptions_are_sorted_in_byte_order() {
    let server = start(quiet_config()).await;
    let (mut c, _) = Client::connect_welcomed(server.addr()).await;
    let mut all = Vec::<String>::new();
    for batch in [
        &["ticks.b", "ticks.B"][..],
        &["bars.1m.*", "ticks.a", "Z.z"],
        &["ticks.*", "ticks._", "ticks.-", ">", "ticks.1"],
    ] {
        all.extend(batch.iter().map(|s| s.to_string()));
        let mut want = all.clone();
        want.sort(); // String's Ord is byte order
        assert_eq!(subscribe(&mut c, batch).await, want);
    }
    c.send(Unsubscribe {
        id: Some(RequestId::Num(9)),
        topics: vec!["ticks.a".into(), "Z.z".into()],
    })
    .await;
    all.retain(|t| t != "ticks.a" && t != "Z.z");
    all.sort();
    match c.recv().await {
        ServerMessage::Ack(a) => assert_eq!(a.subscriptions, all),
        other => panic!("{other:?}"),
    }
    server.shutdown().await;
}

// --- 7. frame strictness ----------------------------------------------------------------------

/// §3: "`type` is a string (`str`) naming the message. A map whose `type` is missing or is
/// anything but a `str` (a `bin` holding the same bytes included) is a `bad_request`", with
/// the id (§11: "when readable"); and "A message holding anything after its map (a second map,
/// a stray byte) is answered with `error` `bad_frame` and nothing in it is processed, in both
/// encodings."
#[tokio::test]
async fn contract_type_as_bin_and_trailing_bytes_are_refused() {
    let server = start(quiet_config()).await;
    let addr = server.addr();

    let (mut c, _) = Client::connect_welcomed(addr).await;
    // {"type": bin "ping", "id": 7}
    let mut bin_type = vec![0x82, 0xa4];
    bin_type.extend_from_slice(b"type");
    bin_type.extend_from_slice(&[0xc4, 0x04]);
    bin_type.extend_from_slice(b"ping");
    bin_type.push(0xa2);
    bin_type.extend_from_slice(b"id");
    bin_type.push(0x07);
    send_raw(&mut c, &bin_type).await;
    expect_error(
        &c.recv().await,
        ErrorCode::BadRequest,
        Some(RequestId::Num(7)),
    );

    let ping = |id| {
        encode(
            Encoding::MsgPack,
            &ClientMessage::Ping(Ping {
                id: Some(RequestId::Num(id)),
            }),
        )
        .unwrap()
    };
    let two_maps = [ping(1), ping(2)].concat();
    send_raw(&mut c, &two_maps).await;
    expect_error(&c.recv().await, ErrorCode::BadFrame, None);
    let stray = [ping(3), vec![0xc0]].concat();
    send_raw(&mut c, &stray).await;
    expect_error(&c.recv().await, ErrorCode::BadFrame, None);
    // Neither map was processed: the next answer is the pong of this ping.
    send_raw(&mut c, &ping(4)).await;
    assert!(
        matches!(c.recv().await, ServerMessage::Pong(p) if p.id == Some(RequestId::Num(4))),
        "pongs answered maps of a refused frame"
    );

    let mut j = Client::connect_with(addr, Some("tickcast.v1.json")).await;
    assert_eq!(j.encoding, Encoding::Json);
    assert!(matches!(j.recv().await, ServerMessage::Welcome(_)));
    send_raw(&mut j, br#"{"type":"ping","id":1}{"type":"ping","id":2}"#).await;
    expect_error(&j.recv().await, ErrorCode::BadFrame, None);
    send_raw(&mut j, br#"{"type":"ping","id":3} x"#).await;
    expect_error(&j.recv().await, ErrorCode::BadFrame, None);
    send_raw(&mut j, br#"{"type":"ping","id":4}"#).await;
    assert!(
        matches!(j.recv().await, ServerMessage::Pong(p) if p.id == Some(RequestId::Num(4))),
        "pongs answered maps of a refused frame (JSON)"
    );
    server.shutdown().await;
}

// --- 8. invalid request ids -------------------------------------------------------------------

/// §5: "`id` | u64 or string"; §11: "The id is echoed when the request had a valid one (an
/// unsigned integer or a string)", and `bad_request` covers "a known message with a missing or
/// ill-typed field (a string for a number, a negative or fractional integer, ...)". A float, an
/// array, a negative number or a map as `id` is answered with `bad_request` and no `id`.
#[tokio::test]
async fn contract_invalid_request_ids_are_answered_without_an_id() {
    let server = start(quiet_config()).await;
    let addr = server.addr();

    // JSON: the answer read as raw JSON, so an echoed invalid id cannot hide in decoding.
    let mut j = Client::connect_with(addr, Some("tickcast.v1.json")).await;
    assert!(matches!(j.recv().await, ServerMessage::Welcome(_)));
    for id in ["1.5", "[1]", "-1", r#"{"a":1}"#] {
        send_raw(&mut j, format!(r#"{{"type":"ping","id":{id}}}"#).as_bytes()).await;
        let raw = next_data_payload(&mut j).await;
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert!(v.get("id").is_none(), "id {id}: answered with an id: {v}");
        assert_eq!(v["type"], "error", "id {id}: {v}");
        assert_eq!(v["code"], "bad_request", "id {id}: {v}");
    }

    // MessagePack: float 64, array, negative fixint, map.
    let mut c = Client::connect(addr).await;
    assert!(matches!(c.recv().await, ServerMessage::Welcome(_)));
    let head = [&[0x82, 0xa4][..], b"type", &[0xa4], b"ping", &[0xa2], b"id"].concat();
    for (what, id) in [
        ("float", vec![0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]),
        ("array", vec![0x91, 0x01]),
        ("negative", vec![0xff]),
        ("map", vec![0x81, 0xa1, b'a', 0x01]),
    ] {
        send_raw(&mut c, &[head.clone(), id].concat()).await;
        let raw = next_data_payload(&mut c).await;
        let msg = decode_server(Encoding::MsgPack, &raw)
            .unwrap_or_else(|e| panic!("{what} id: undecodable answer ({e}): {raw:02x?}"));
        expect_error(&msg, ErrorCode::BadRequest, None);
    }
    // Valid ids are echoed (so the test above can tell the difference).
    send_raw(&mut j, br#"{"type":"ping","id":"x-1"}"#).await;
    assert!(
        matches!(j.recv().await, ServerMessage::Pong(p) if p.id == Some(RequestId::Text("x-1".into())))
    );
    server.shutdown().await;
}

// --- 9. first trade of a non-ticks topic ------------------------------------------------------

/// §8 "Topics that appear later": "When a topic that carries trades (`ticks.SYM`, or any topic
/// a publisher publishes on) gets its first trade ..., the subscribers whose patterns already
/// match it receive that trade as a `snapshot` with `seq` 1 and no `recovered` key, not as a
/// `tick`; the next trade arrives as a `tick` with `seq` 2." A later subscriber gets a
/// `snapshot` (§8 table: "none, topic has data | `snapshot`", trades topic "a publisher's own").
#[tokio::test]
async fn contract_first_trade_of_a_published_non_ticks_topic_is_a_snapshot() {
    let mut cfg = quiet_config();
    cfg.publish_token = Some(PUBLISH_TOKEN.into());
    let server = start(cfg).await;
    let addr = server.addr();
    const TOPIC: &str = "fx.EURUSD";

    let (mut early, welcome) = Client::connect_welcomed(addr).await;
    assert_eq!(subscribe(&mut early, &["fx.*"]).await, ["fx.*"]);
    let (mut publisher, _) =
        connect_with_headers(addr, &format!("Authorization: Bearer {PUBLISH_TOKEN}\r\n")).await;
    for (i, price) in [(1u64, 1.0841), (2, 1.0842)] {
        publisher
            .send(Publish {
                id: Some(RequestId::Num(i)),
                topic: TOPIC.into(),
                price,
                size: 1000,
                ..Default::default()
            })
            .await;
        match publisher.recv().await {
            ServerMessage::Ack(a) => {
                assert_eq!(a.op, Op::Publish);
                assert_eq!(a.topics, [TOPIC]);
            }
            other => panic!("publish {i}: {other:?}"),
        }
    }
    match early.recv().await {
        ServerMessage::Snapshot(s) => {
            assert_eq!(
                (s.topic.as_str(), s.seq, s.recovered),
                (TOPIC, 1, None),
                "{s:?}"
            );
            assert_eq!(s.epoch, welcome.epoch);
            assert_eq!(s.price, 1.0841);
        }
        other => panic!("first trade must arrive as a snapshot, got {other:?}"),
    }
    match early.recv().await {
        ServerMessage::Tick(t) => assert_eq!((t.topic.as_str(), t.seq), (TOPIC, 2), "{t:?}"),
        other => panic!("second trade must arrive as a tick, got {other:?}"),
    }

    let (mut late, _) = Client::connect_welcomed(addr).await;
    subscribe(&mut late, &["fx.*"]).await;
    match late.recv().await {
        ServerMessage::Snapshot(s) => {
            assert_eq!(
                (s.topic.as_str(), s.seq, s.recovered),
                (TOPIC, 2, None),
                "{s:?}"
            );
            assert_eq!(s.price, 1.0842);
        }
        other => panic!("a late subscriber must get a snapshot, got {other:?}"),
    }
    server.shutdown().await;
}

// --- 10. bar epoch ----------------------------------------------------------------------------

/// §7 `bar`: "`epoch` | u64 | yes | the topic's epoch, as in `snapshot`"; §5: "A standalone
/// server's topics all share its epoch, its own start time, which `welcome` announces."
#[tokio::test]
async fn contract_bars_carry_the_topic_epoch() {
    let server = start(config(3, 300.0)).await;
    let (mut c, welcome) = Client::connect_welcomed(server.addr()).await;
    subscribe(&mut c, &["bars.1s.*", "ticks.*"]).await;
    let mut bars = 0;
    let deadline = Instant::now() + Duration::from_secs(4);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match next_within(&mut c, left).await {
            Some(ServerMessage::Bar(b)) => {
                assert_eq!(b.epoch, welcome.epoch, "{b:?}");
                assert_eq!(b.interval_ms, 1000, "{b:?}");
                bars += 1;
                if bars >= 3 {
                    break;
                }
            }
            Some(ServerMessage::Snapshot(s)) => assert_eq!(s.epoch, welcome.epoch, "{s:?}"),
            Some(_) => {}
            None => break,
        }
    }
    assert!(bars >= 3, "only {bars} bars.1s bars in 4 s");
    server.shutdown().await;
}

// --- 11. signed tokens ------------------------------------------------------------------------

fn jwt(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

/// §2 "Signed tokens": "a token with an `aud` (audience) claim is refused whatever its value
/// (`"x"`, `["x"]`, `""`, `[]`; only `null` counts as absent)"; `exp` "0.1 s after `exp` it is
/// expired" (no leeway); `nbf` "refused (HTTP 401 `token not valid yet (nbf)`) while the
/// server's clock is before it"; "`Bearer` is the only scheme: an `Authorization` header with
/// any other scheme (`Basic ...`) ... is refused with HTTP 401"; "The scope also limits
/// `list`: it names only the topics the token could subscribe to".
#[tokio::test]
async fn contract_signed_tokens() {
    let mut cfg = config(2, 200.0);
    cfg.jwt_secret = Some(JWT_SECRET.into());
    let server = start(cfg).await;
    let addr = server.addr();
    let now_ns = tickcast_server::unix_ns;
    let later = now_ns() / 1_000_000_000 + 600;

    // The control: a valid token, and aud null.
    for claims in [
        serde_json::json!({"exp": later}),
        serde_json::json!({"exp": later, "aud": null}),
    ] {
        let (status, head, _) = upgrade_status(addr, &bearer(&jwt(claims.clone()))).await;
        assert_eq!(status, 101, "{claims}: {head}");
    }
    for aud in [
        serde_json::json!("x"),
        serde_json::json!(["x"]),
        serde_json::json!(""),
        serde_json::json!([]),
    ] {
        let token = jwt(serde_json::json!({"exp": later, "aud": aud}));
        let (status, head, _) = upgrade_status(addr, &bearer(&token)).await;
        assert_eq!(status, 401, "aud {aud} must be refused: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{head}"
        );
    }

    // exp half a second ago: wait for the middle of a second, then exp = this whole second.
    let frac = now_ns() % 1_000_000_000;
    let wait = (1_500_000_000 - frac) % 1_000_000_000;
    tokio::time::sleep(Duration::from_nanos(wait)).await;
    let exp = now_ns() / 1_000_000_000;
    let (status, head, body) =
        upgrade_status(addr, &bearer(&jwt(serde_json::json!({"exp": exp})))).await;
    assert_eq!(status, 401, "exp 0.5 s ago must be refused: {head}{body}");

    let nbf = now_ns() / 1_000_000_000 + 30;
    let token = jwt(serde_json::json!({"exp": later, "nbf": nbf}));
    let (status, head, body) = upgrade_status(addr, &bearer(&token)).await;
    assert_eq!(
        status, 401,
        "nbf in the future must be refused: {head}{body}"
    );
    assert!(body.contains("token not valid yet (nbf)"), "{body:?}");

    let (status, head, _) = upgrade_status(addr, "Authorization: Basic dXNlcjpwYXNz\r\n").await;
    assert_eq!(status, 401, "Basic must be refused: {head}");
    // Also by a server that requires no token ("never taken for no token").
    let open = start(quiet_config()).await;
    let (status, head, _) =
        upgrade_status(open.addr(), "Authorization: Basic dXNlcjpwYXNz\r\n").await;
    assert_eq!(
        status, 401,
        "Basic must be refused by an open server too: {head}"
    );
    open.shutdown().await;

    // list under a ticks.* scope, once bars topics exist.
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = http_get(addr, "/topics").await;
        if body.contains("\"bars.1s.") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no bars topics in /topics: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = jwt(serde_json::json!({"exp": later, "topics": ["ticks.*"]}));
    let (mut c, _) = connect_with_headers(addr, &bearer(&token)).await;
    for (i, pattern) in [None, Some(">"), Some("bars.>")].into_iter().enumerate() {
        c.send(tickcast_proto::List {
            id: Some(RequestId::Num(i as u64)),
            pattern: pattern.map(Into::into),
        })
        .await;
        match answer(&mut c).await {
            ServerMessage::Topics(t) => {
                assert!(
                    t.topics.iter().all(|t| t.starts_with("ticks.")),
                    "list {pattern:?} under a ticks.* scope: {:?}",
                    t.topics
                );
                assert_eq!(
                    t.topics.is_empty(),
                    pattern == Some("bars.>"),
                    "{:?}",
                    t.topics
                );
            }
            other => panic!("{other:?}"),
        }
    }
    server.shutdown().await;
}

// --- 12. HTTP endpoints -----------------------------------------------------------------------

/// The rows of §16's `/metrics` table: (name, type).
fn documented_metrics() -> Vec<(&'static str, &'static str)> {
    let section = PROTOCOL_MD
        .split("**`GET /metrics`**")
        .nth(1)
        .expect("§16 has a /metrics paragraph");
    let rows: Vec<_> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            name.starts_with("tickcast_").then(|| (name, cells[2]))
        })
        .collect();
    assert!(
        rows.len() >= 12,
        "could not parse §16's metrics table: {rows:?}"
    );
    rows
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// §16 HTTP endpoints: `/healthz` with exactly the documented keys and types, `/topics` rows
/// with exactly the documented keys, every metric of the table in `/metrics` ("Metric names
/// are part of this contract"; the `tickcast_nats_*` ones are "cluster mode"), and "Another
/// method gets 405 with `Allow: GET`" on `/ws`, counted in `tickcast_rejected_connections_total`
/// ("every 4xx/5xx answer of the table in section 2 (405, ...)").
#[tokio::test]
async fn contract_http_endpoints() {
    let server = start(config(2, 200.0)).await;
    let addr = server.addr();
    let (mut c, welcome) = Client::connect_welcomed(addr).await;
    subscribe(&mut c, &["ticks.*"]).await;
    c.recv_until(|m| matches!(m, ServerMessage::Tick(_))).await;

    let (status, body) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&body).unwrap();
    let kinds: BTreeMap<&str, &str> = health
        .iter()
        .map(|(k, v)| (k.as_str(), json_kind(v)))
        .collect();
    assert_eq!(
        kinds,
        BTreeMap::from([
            ("status", "string"),
            ("ready", "bool"),
            ("connections", "integer"),
            ("uptime_s", "integer"),
            ("epoch", "integer"),
            ("broker", "string"),
            ("nats", "null"),
        ]),
        "{body}"
    );
    assert_eq!(health["status"], "ok");
    assert_eq!(health["ready"], true);
    assert_eq!(health["broker"], "local");
    assert_eq!(health["epoch"], welcome.epoch);
    assert!(health["connections"].as_u64().unwrap() >= 1, "{body}");

    let (status, body) = http_get(addr, "/topics").await;
    assert_eq!(status, 200, "{body}");
    let rows: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(&body).unwrap();
    assert!(!rows.is_empty());
    let want: BTreeSet<&str> = ["topic", "seq", "subscribers", "state", "last_price"].into();
    for row in &rows {
        let keys: BTreeSet<&str> = row.keys().map(String::as_str).collect();
        assert_eq!(keys, want, "{row:?}");
        assert_eq!(json_kind(&row["topic"]), "string");
        assert_eq!(json_kind(&row["seq"]), "integer");
        assert_eq!(json_kind(&row["subscribers"]), "integer");
        assert_eq!(json_kind(&row["state"]), "string");
        assert!(
            matches!(json_kind(&row["last_price"]), "number" | "integer" | "null"),
            "{row:?}"
        );
    }
    let names: Vec<&str> = rows.iter().map(|r| r["topic"].as_str().unwrap()).collect();
    assert!(names.is_sorted(), "{names:?}");

    let (head, mut stream) = http_raw(
        addr,
        &format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let mut metrics = String::new();
    timeout(WAIT, stream.read_to_string(&mut metrics))
        .await
        .unwrap()
        .unwrap();
    let mut missing = Vec::new();
    for (name, kind) in documented_metrics() {
        if name.starts_with("tickcast_nats_") {
            continue;
        }
        let sampled = metrics.lines().any(|l| {
            l.strip_prefix(name).is_some_and(|rest| {
                rest.starts_with([' ', '{'])
                    || ["_bucket", "_sum", "_count"]
                        .iter()
                        .any(|s| rest.starts_with(s))
            })
        });
        let typed = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# TYPE {name} ")));
        if !sampled || typed.is_some_and(|t| t.trim() != kind) {
            missing.push(format!("{name} ({kind}; TYPE {typed:?})"));
        }
    }
    assert!(
        missing.is_empty(),
        "documented metrics missing or mistyped: {missing:?}"
    );

    let rejected = metric(addr, "tickcast_rejected_connections_total").await;
    let (head, _) = http_raw(
        addr,
        &format!(
            "POST /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Content-Length: 0\r\n\r\n"
        ),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
    let after = metric(addr, "tickcast_rejected_connections_total").await;
    assert_eq!(
        after,
        rejected + 1,
        "a 405 on /ws counts as a rejected connection"
    );
    server.shutdown().await;
}

// --- 13. since ahead of a standalone server ---------------------------------------------------

/// §8 table: "`[epoch, seq]` otherwise ... | `snapshot` with `recovered: false`", and the
/// snapshot's "`seq` | seq of the latest tick" (§7): on a standalone server, whose topics are
/// all stamped by itself, a position ahead of a topic (same epoch, larger seq) cannot be one the
/// server will reach with the client's messages, so it is a failed resume answered at once with
/// the topic's latest state.
#[tokio::test]
async fn contract_since_ahead_of_a_standalone_server_is_a_failed_resume() {
    let mut cfg = quiet_config();
    cfg.publish_token = Some(PUBLISH_TOKEN.into());
    let server = start(cfg).await;
    let addr = server.addr();
    const TOPIC: &str = "ticks.ACME";
    let (mut publisher, welcome) =
        connect_with_headers(addr, &format!("Authorization: Bearer {PUBLISH_TOKEN}\r\n")).await;
    let publish = |id: u64| Publish {
        id: Some(RequestId::Num(id)),
        topic: TOPIC.into(),
        price: 10.0 + id as f64 / 100.0,
        size: 10,
        ..Default::default()
    };
    for id in 1..=3 {
        publisher.send(publish(id)).await;
        assert!(matches!(publisher.recv().await, ServerMessage::Ack(_)));
    }

    let (mut c, _) = Client::connect_welcomed(addr).await;
    c.send(Subscribe {
        id: Some(RequestId::Num(1)),
        since: Some(BTreeMap::from([(TOPIC.to_owned(), (welcome.epoch, 10))])),
        ..sub(&[TOPIC])
    })
    .await;
    assert!(matches!(c.recv().await, ServerMessage::Ack(_)));
    match next_within(&mut c, Duration::from_secs(2)).await {
        Some(ServerMessage::Snapshot(s)) => {
            assert_eq!(s.recovered, Some(false), "{s:?}");
            assert_eq!(s.seq, 3, "the topic's seq: {s:?}");
            assert_eq!(s.epoch, welcome.epoch, "{s:?}");
        }
        other => panic!("expected a recovered:false snapshot at once, got {other:?}"),
    }
    publisher.send(publish(4)).await;
    assert!(matches!(publisher.recv().await, ServerMessage::Ack(_)));
    assert!(matches!(c.recv().await, ServerMessage::Tick(t) if t.seq == 4));
    server.shutdown().await;
}
