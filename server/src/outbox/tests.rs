//! The outbox's behaviour: conflation and `lagged`, the disconnect policy, control frames,
//! `max_rate` delays.

use super::*;
use tickcast_proto::{ServerMessage, decode_server};

fn topic(s: &str) -> Arc<str> {
    Arc::from(s)
}

#[test]
fn a_lag_that_lost_nothing_sends_no_lagged() {
    let out = Outbox::new(Encoding::MsgPack, 10, SlowConsumer::Conflate);
    let a = topic("ticks.A");
    out.push_data(&a, Bytes::from_static(b"0123456789"), Instant::now());
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"a1"), Instant::now()),
        Pushed::Conflated { replaced: false }
    );
    let mut batch = Batch::default();
    out.take(&mut batch);
    let frames: Vec<&[u8]> = batch.frames.iter().map(|f| &f[..]).collect();
    assert_eq!(frames, [&b"0123456789"[..], &b"a1"[..]]);
}

#[test]
fn conflates_past_the_bound_and_reports_lagged() {
    let out = Outbox::new(Encoding::MsgPack, 10, SlowConsumer::Conflate);
    let (a, b) = (topic("ticks.A"), topic("ticks.B"));
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"0123456789"), Instant::now()),
        Pushed::Queued
    );
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"a1"), Instant::now()),
        Pushed::Conflated { replaced: false }
    );
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"a2"), Instant::now()),
        Pushed::Conflated { replaced: true }
    );
    assert_eq!(
        out.push_data(&b, Bytes::from_static(b"b1"), Instant::now()),
        Pushed::Conflated { replaced: false }
    );
    let mut batch = Batch::default();
    out.take(&mut batch);
    assert_eq!(batch.frames.len(), 4);
    assert_eq!(&batch.frames[0][..], b"0123456789");
    // frames[1] is the lagged frame: skip its 2-byte header.
    match decode_server(Encoding::MsgPack, &batch.frames[1][2..]).unwrap() {
        ServerMessage::Lagged(l) => {
            // B lost nothing (its one frame is delivered): only A is named.
            assert_eq!(l.topics, vec!["ticks.A"]);
            assert_eq!(l.dropped, 1);
        }
        other => panic!("expected lagged, got {other:?}"),
    }
    assert_eq!(&batch.frames[2][..], b"a2");
    assert_eq!(&batch.frames[3][..], b"b1");
    // After draining, the client is no longer lagging.
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"a3"), Instant::now()),
        Pushed::Queued
    );
}

#[test]
fn disconnect_policy_closes_with_1008() {
    let out = Outbox::new(Encoding::MsgPack, 4, SlowConsumer::Disconnect);
    let a = topic("ticks.A");
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"1234"), Instant::now()),
        Pushed::Queued
    );
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"5"), Instant::now()),
        Pushed::Closing
    );
    assert_eq!(
        out.push_data(&a, Bytes::from_static(b"6"), Instant::now()),
        Pushed::Dropped
    );
    let mut batch = Batch::default();
    out.take(&mut batch);
    assert!(batch.frames.is_empty());
    let close = batch.close.unwrap();
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1008);
}

#[test]
fn control_frames_are_never_conflated() {
    let out = Outbox::new(Encoding::MsgPack, 1, SlowConsumer::Conflate);
    out.push(Bytes::from_static(b"ack"));
    out.push(Bytes::from_static(b"snapshot"));
    let mut batch = Batch::default();
    out.take(&mut batch);
    assert_eq!(batch.frames.len(), 2);
}

#[test]
fn delayed_frames_are_replaced_until_due() {
    let out = Outbox::new(Encoding::MsgPack, 1 << 20, SlowConsumer::Conflate);
    let a = topic("ticks.A");
    let due = Instant::now() + std::time::Duration::from_secs(3600);
    assert!(!out.push_delayed(&a, Bytes::from_static(b"1"), due));
    assert!(out.push_delayed(&a, Bytes::from_static(b"2"), due));
    let mut batch = Batch::default();
    out.take(&mut batch);
    assert_eq!(batch.next_due, Some(due));
    assert!(batch.frames.is_empty(), "not due yet");
}
