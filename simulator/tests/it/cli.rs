//! The `tickcast-sim` binary: output formats, flags, environment, errors, pipes.

use std::io::Read;
use std::process::{Command, Stdio};

use tickcast_proto::{Encoding, ServerMessage, decode_server};

use crate::support::{jsonl, sim, sim_output};

fn ticks_of(messages: &[ServerMessage]) -> Vec<tickcast_proto::Tick> {
    messages
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Tick(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn msgpack_frames(bytes: &[u8]) -> Vec<ServerMessage> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().expect("length prefix")) as usize;
        out.push(decode_server(Encoding::MsgPack, &rest[4..4 + len]).expect("a wire message"));
        rest = &rest[4..][len..];
    }
    out
}

#[test]
fn jsonl_and_msgpack_carry_the_same_ticks() {
    let args = [
        "--seed",
        "7",
        "--count",
        "1000",
        "--symbols",
        "3000",
        "--model",
        "gbm",
    ];
    let json = sim(&args);
    let text = std::str::from_utf8(&json).unwrap();
    assert!(
        text.starts_with("{\"type\":\"tick\",\"topic\":\"ticks.SYN"),
        "{}",
        &text[..80]
    );
    let from_json = ticks_of(&jsonl(&json));
    assert_eq!(from_json.len(), 1000);
    let mut packed_args = args.to_vec();
    packed_args.extend(["--format", "msgpack"]);
    let from_msgpack = ticks_of(&msgpack_frames(&sim(&packed_args)));
    assert_eq!(from_json, from_msgpack);
}

#[test]
fn flags_change_the_stream() {
    let base = sim(&["--count", "500"]);
    for extra in [
        &["--rho", "0.9"][..],
        &["--jumps"],
        &["--model", "gbm"],
        &["--rate", "1000"],
        &["--arrivals", "constant"],
        &["--time-scale", "1"],
        &["--start-ns", "1000"],
    ] {
        let mut args = vec!["--count", "500"];
        args.extend_from_slice(extra);
        assert_ne!(sim(&args), base, "{extra:?} changed nothing");
    }
}

#[test]
fn environment_variables_set_flags() {
    let by_flag = sim(&["--seed", "77", "--count", "50", "--format", "msgpack"]);
    let out = Command::new(env!("CARGO_BIN_EXE_tickcast-sim"))
        .env_clear()
        .env("TICKCAST_SIM_SEED", "77")
        .env("TICKCAST_SIM_COUNT", "50")
        .env("TICKCAST_SIM_FORMAT", "msgpack")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, by_flag);
}

#[test]
fn invalid_flags_are_refused() {
    for args in [
        &["--count", "1", "--rho", "2"][..],
        &["--count", "1", "--rate", "0"],
        &["--count", "1", "--symbols", "0"],
        &["--count", "1", "--format", "xml"],
        &["--count", "1", "--speed", "-1"],
        &["--count", "1", "--symbols", "5", "--universe", "u.toml"],
        &["--count", "1", "--replay", "x.csv", "--halts"],
    ] {
        let out = sim_output(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!out.stderr.is_empty());
        assert!(out.stdout.is_empty());
    }
    let out = sim_output(&["--count", "1", "--rho", "2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("rho"));
}

#[test]
fn closed_pipe_ends_quietly() {
    // An endless unpaced stream into a reader that stops after a few bytes (`| head`).
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickcast-sim"))
        .args(["--speed", "inf"])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut head = [0u8; 4096];
    stdout.read_exact(&mut head).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn live_mode_paces_in_real_time() {
    // No --count: real time at --speed; 20 trades/s for ~0.3 s of wall time at speed 1.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickcast-sim"))
        .args(["--rate", "20"])
        .env_clear()
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert!(lines < 100, "{lines} lines in 0.3 s at 20/s: not paced");
}
