//! Replays: CSV trade files and the JSON lines `tickcast-sim` writes, through the
//! library and the binary, as fast as possible or paced.

use std::{io::Cursor, time::Instant};

use tickcast_proto::{MarketState, ServerMessage};
use tickcast_simulator::{Event, Replay, ReplayError, ReplayFormat};

use crate::support::{jsonl, sim, sim_output, temp_path};

const CSV: &str = "\u{feff}timestamp,symbol,price,size\r
2024-01-02T14:30:00Z,AAPL,185.64,100\r
2024-01-02T14:30:00.5Z,MSFT,370.87,250\r
\r
2024-01-02T14:30:01Z,AAPL,185.70,300\r
";

#[test]
fn csv_replays_as_ticks() {
    let events: Vec<Event> = Replay::new(Cursor::new(CSV))
        .collect::<Result<_, _>>()
        .unwrap();
    let ticks: Vec<_> = events.iter().map(|e| e.as_tick().unwrap()).collect();
    let t0 = 1_704_205_800_000_000_000;
    let seen: Vec<_> = ticks
        .iter()
        .map(|t| {
            (
                t.topic.as_str(),
                t.seq,
                t.ts - t0,
                t.price,
                t.size,
                t.volume,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("ticks.AAPL", 1, 0, 185.64, 100, 100),
            ("ticks.MSFT", 1, 500_000_000, 370.87, 250, 250),
            ("ticks.AAPL", 2, 1_000_000_000, 185.70, 300, 400),
        ]
    );
    assert!(ticks.iter().all(|t| t.bid < t.price && t.price < t.ask));
}

#[test]
fn headerless_csv_and_errors_with_line_numbers() {
    let text = "1704205800,AAPL,185.64,100\n1704205801,AAPL,oops,100\n";
    let mut replay = Replay::with_format(Cursor::new(text), ReplayFormat::Csv);
    assert!(matches!(replay.next(), Some(Ok(Event::Tick(_)))));
    match replay.next() {
        Some(Err(ReplayError::Line { line: 2, reason })) => {
            assert!(reason.contains("oops"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(replay.next().is_none());
    assert_eq!(
        ReplayFormat::sniff("{\"type\":\"tick\"}"),
        ReplayFormat::Jsonl
    );
    assert_eq!(
        ReplayFormat::sniff("ts,symbol,price,size"),
        ReplayFormat::Csv
    );
}

#[test]
fn jsonl_rejects_other_messages() {
    let text = "{\"type\":\"heartbeat\",\"ts\":1}\n";
    let err = Replay::new(Cursor::new(text)).next().unwrap().unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

#[test]
fn jsonl_round_trips_through_the_binary() {
    // Halts every ~60 s at 10 trades/s: 3,000 trades span 300 s, so statuses are included.
    let args = ["--seed", "5", "--count", "3000", "--halts", "--rate", "10"];
    let recorded = sim(&args);
    let messages = jsonl(&recorded);
    assert!(
        messages
            .iter()
            .any(|m| matches!(m, ServerMessage::Status(s) if s.state == MarketState::Halted))
    );
    let path = temp_path("round-trip.jsonl");
    std::fs::write(&path, &recorded).unwrap();
    let replayed = sim(&["--replay", path.to_str().unwrap(), "--count", "3000"]);
    assert_eq!(replayed, recorded);
    let first = sim(&["--replay", path.to_str().unwrap(), "--count", "10"]);
    assert_eq!(jsonl(&first).len(), 10);
}

#[test]
fn csv_replays_through_the_binary_as_msgpack() {
    let path = temp_path("trades.csv");
    std::fs::write(&path, CSV).unwrap();
    let out = sim(&[
        "--replay",
        path.to_str().unwrap(),
        "--count",
        "100",
        "--format",
        "msgpack",
    ]);
    let mut frames = 0;
    let mut rest = &out[..];
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let msg =
            tickcast_proto::decode_server(tickcast_proto::Encoding::MsgPack, &rest[4..4 + len])
                .unwrap();
        assert!(matches!(msg, ServerMessage::Tick(_)));
        rest = &rest[4 + len..];
        frames += 1;
    }
    assert_eq!(frames, 3);
}

#[test]
fn replay_is_paced_by_speed() {
    // One second of recorded trades at speed 4 takes a quarter of a second.
    let path = temp_path("paced.csv");
    std::fs::write(&path, CSV).unwrap();
    let started = Instant::now();
    let out = sim(&["--replay", path.to_str().unwrap(), "--speed", "4"]);
    let took = started.elapsed().as_secs_f64();
    assert_eq!(jsonl(&out).len(), 3);
    assert!((0.25..5.0).contains(&took), "took {took} s");
}

#[test]
fn bad_replay_files_fail_with_the_line() {
    let path = temp_path("bad.csv");
    std::fs::write(
        &path,
        "1704205800,AAPL,185.64,100\n1704205801,AAPL,185.64\n",
    )
    .unwrap();
    let out = sim_output(&["--replay", path.to_str().unwrap(), "--count", "10"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("bad.csv"),
        "{stderr}"
    );
    assert_eq!(
        jsonl(&out.stdout).len(),
        1,
        "the good line is still written"
    );
    let missing = sim_output(&["--replay", "/nonexistent/x.csv", "--count", "1"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open"));
}
