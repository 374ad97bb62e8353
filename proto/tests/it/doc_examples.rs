//! The example frames in PROTOCOL.md are checked against the codec, so the document cannot
//! drift from the code.
//!
//! Every fenced ```` ```hex ```` block must be followed by a ```` ```json ```` block. For each
//! pair: the hex decodes (MessagePack) to the same message as the JSON decodes (JSON
//! encoding); encoding that message as MessagePack gives the hex byte for byte; and the JSON
//! is exactly what the JSON encoding sends, up to whitespace. Every message type of both
//! enums must have an example.
//!
//! After changing an example's JSON, regenerate its hex with
//! `TICKCAST_UPDATE_EXAMPLES=1 cargo test -p tickcast-proto --test it doc_examples`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tickcast_proto::{
    Ack, Bar, Book, BookUpdate, ClientMessage, Encoding, Error, ErrorCode, Heartbeat, Lagged, List,
    MarketState, Message, Op, Ping, Pong, Publish, Resume, ServerMessage, Shutdown, Snapshot,
    Status, Subscribe, Tick, Topics, Unsubscribe, Welcome, decode, encode,
};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/PROTOCOL.md");
const UPDATE_VAR: &str = "TICKCAST_UPDATE_EXAMPLES";

/// One hex block and the JSON block after it. Lines are 0-based indexes into the file.
#[derive(Debug)]
struct Example {
    /// The line of the opening ```` ```hex ```` fence.
    hex_fence: usize,
    /// The lines strictly between the hex fences.
    hex_lines: std::ops::Range<usize>,
    hex: String,
    json: String,
}

impl Example {
    fn line(&self) -> usize {
        self.hex_fence + 1
    }
}

/// Finds every hex/json pair. Panics on a hex block that is unclosed or not followed by JSON.
fn examples(doc: &str) -> Vec<Example> {
    let lines: Vec<&str> = doc.lines().collect();
    let block = |open: usize, what: &str| -> (std::ops::Range<usize>, String) {
        let body = open + 1;
        let close = (body..lines.len())
            .find(|&i| lines[i].trim() == "```")
            .unwrap_or_else(|| panic!("PROTOCOL.md:{}: unclosed {what} block", open + 1));
        (body..close, lines[body..close].join("\n"))
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```hex" {
            i += 1;
            continue;
        }
        let (hex_lines, hex) = block(i, "hex");
        let json_fence = (hex_lines.end + 1..lines.len())
            .find(|&j| !lines[j].trim().is_empty())
            .filter(|&j| lines[j].trim() == "```json")
            .unwrap_or_else(|| {
                panic!(
                    "PROTOCOL.md:{}: a ```hex block must be followed by a ```json block",
                    i + 1
                )
            });
        let (json_lines, json) = block(json_fence, "json");
        found.push(Example {
            hex_fence: i,
            hex_lines,
            hex,
            json,
        });
        i = json_lines.end + 1;
    }
    found
}

fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
            u8::from_str_radix(pair, 16).map_err(|_| format!("{pair:?} is not a hex byte"))
        })
        .collect()
}

/// 16 bytes per line, lowercase, separated by spaces.
fn format_hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut sep = "";
        for b in line {
            write!(out, "{sep}{b:02x}").expect("writes to a String");
            sep = " ";
        }
    }
    out
}

/// `json` without the whitespace outside string literals.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The `type` of a JSON example, if it has one.
fn type_of(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    Some(value.get("type")?.as_str()?.to_owned())
}

/// Checks one example decoded as `T`; returns the canonical MessagePack bytes.
fn check<T: Message + PartialEq + std::fmt::Debug>(ex: &Example) -> Result<Vec<u8>, String> {
    let from_json = decode::<T>(Encoding::Json, ex.json.as_bytes())
        .map_err(|e| format!("the JSON does not decode: {e}"))?;
    let canonical_json =
        String::from_utf8(encode(Encoding::Json, &from_json).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    if minify(&ex.json) != canonical_json {
        return Err(format!(
            "the JSON is not what the JSON encoding sends (keys in wire order, optional \
             fields only when present, floats with a dot); it should read:\n{canonical_json}"
        ));
    }
    let bytes = encode(Encoding::MsgPack, &from_json).map_err(|e| e.to_string())?;
    if std::env::var_os(UPDATE_VAR).is_some() {
        return Ok(bytes);
    }
    let hex = parse_hex(&ex.hex).map_err(|e| format!("bad hex: {e}"))?;
    let from_hex = decode::<T>(Encoding::MsgPack, &hex)
        .map_err(|e| format!("the hex does not decode: {e}"))?;
    if from_hex != from_json {
        return Err(format!(
            "the hex decodes to\n{from_hex:?}\nbut the JSON to\n{from_json:?}"
        ));
    }
    if hex != bytes {
        return Err(format!(
            "the hex is not what the encoder writes; it should read:\n{}\n(or run with {UPDATE_VAR}=1)",
            format_hex(&bytes)
        ));
    }
    Ok(bytes)
}

#[test]
fn protocol_md_examples_match_the_codec() {
    let doc = std::fs::read_to_string(PATH).expect("proto/PROTOCOL.md is readable");
    let examples = examples(&doc);
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    let mut rewrites = Vec::new();
    for ex in &examples {
        let kind = type_of(&ex.json).unwrap_or_default();
        let result = if ClientMessage::TYPES.contains(&kind.as_str()) {
            check::<ClientMessage>(ex)
        } else if ServerMessage::TYPES.contains(&kind.as_str()) {
            check::<ServerMessage>(ex)
        } else {
            Err(format!("{kind:?} is not a message type of either side"))
        };
        match result {
            Ok(bytes) => {
                seen.insert(kind);
                rewrites.push((ex.hex_lines.clone(), format_hex(&bytes)));
            }
            Err(why) => failures.push(format!("PROTOCOL.md:{} ({kind}): {why}", ex.line())),
        }
    }
    assert!(failures.is_empty(), "\n{}\n", failures.join("\n\n"));

    if std::env::var_os(UPDATE_VAR).is_some() {
        let mut lines: Vec<String> = doc.lines().map(str::to_owned).collect();
        for (range, hex) in rewrites.into_iter().rev() {
            lines.splice(range, hex.lines().map(str::to_owned));
        }
        let mut updated = lines.join("\n");
        updated.push('\n');
        if updated != doc {
            std::fs::write(PATH, updated).expect("PROTOCOL.md is writable");
        }
    }

    let missing: Vec<&str> = ClientMessage::TYPES
        .iter()
        .chain(ServerMessage::TYPES)
        .copied()
        .filter(|t| !seen.contains(*t))
        .collect();
    assert!(
        missing.is_empty(),
        "PROTOCOL.md has no hex example of: {missing:?}"
    );
}

#[test]
fn the_example_parser_finds_pairs_and_rejects_strays() {
    let doc = "x\n```hex\n81 a4\n74\n```\n\n```json\n{\"type\": \"ping\"}\n```\n```json\n{}\n```\n";
    let found = examples(doc);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].hex_lines, 2..4);
    assert_eq!(parse_hex(&found[0].hex), Ok(vec![0x81, 0xa4, 0x74]));
    assert_eq!(type_of(&found[0].json).as_deref(), Some("ping"));
    let stray = std::panic::catch_unwind(|| examples("```hex\n00\n```\ntext\n```json\n{}\n```"));
    assert!(stray.is_err());
    assert_eq!(
        minify("{ \"a b\" : [1, \"\\\" x\"] }"),
        "{\"a b\":[1,\"\\\" x\"]}"
    );
    assert_eq!(format_hex(&[0; 17]).lines().count(), 2);
}

/// One message of every client variant. The match stops compiling when a variant is added,
/// so whoever adds one also adds it here (and then to PROTOCOL.md).
pub fn every_client_variant() -> Vec<ClientMessage> {
    let all: Vec<ClientMessage> = vec![
        Subscribe::default().into(),
        Resume::default().into(),
        Unsubscribe::default().into(),
        List::default().into(),
        Ping::default().into(),
        Publish::default().into(),
    ];
    for msg in &all {
        match msg {
            ClientMessage::Subscribe(_)
            | ClientMessage::Resume(_)
            | ClientMessage::Unsubscribe(_)
            | ClientMessage::List(_)
            | ClientMessage::Ping(_)
            | ClientMessage::Publish(_) => {}
        }
    }
    all
}

/// One message of every server variant; see [`every_client_variant`].
pub fn every_server_variant() -> Vec<ServerMessage> {
    let all: Vec<ServerMessage> = vec![
        Welcome::default().into(),
        Ack {
            id: None,
            op: Op::Subscribe,
            topics: vec![],
            subscriptions: vec![],
        }
        .into(),
        Error {
            id: None,
            code: ErrorCode::Internal,
            message: String::new(),
        }
        .into(),
        Topics::default().into(),
        Pong::default().into(),
        Tick::default().into(),
        Snapshot::default().into(),
        Bar::default().into(),
        Book::default().into(),
        BookUpdate::default().into(),
        Status {
            topic: String::new(),
            state: MarketState::Halted,
            ts: 0,
        }
        .into(),
        Lagged::default().into(),
        Heartbeat::default().into(),
        Shutdown::default().into(),
    ];
    for msg in &all {
        match msg {
            ServerMessage::Welcome(_)
            | ServerMessage::Ack(_)
            | ServerMessage::Error(_)
            | ServerMessage::Topics(_)
            | ServerMessage::Pong(_)
            | ServerMessage::Tick(_)
            | ServerMessage::Snapshot(_)
            | ServerMessage::Bar(_)
            | ServerMessage::Book(_)
            | ServerMessage::BookUpdate(_)
            | ServerMessage::Status(_)
            | ServerMessage::Lagged(_)
            | ServerMessage::Heartbeat(_)
            | ServerMessage::Shutdown(_) => {}
        }
    }
    all
}

/// The `TYPES` lists (which the example check relies on) name exactly the enums' variants.
#[test]
fn types_lists_name_every_variant() {
    fn names<T: Message>(msgs: &[T]) -> BTreeSet<String> {
        msgs.iter()
            .map(|m| {
                let json = encode(Encoding::Json, m).expect("encodes");
                type_of(std::str::from_utf8(&json).expect("utf-8")).expect("has a type")
            })
            .collect()
    }
    let set = |types: &[&str]| types.iter().map(|t| t.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(names(&every_client_variant()), set(ClientMessage::TYPES));
    assert_eq!(names(&every_server_variant()), set(ServerMessage::TYPES));
    assert_eq!(ClientMessage::TYPES.len(), every_client_variant().len());
    assert_eq!(ServerMessage::TYPES.len(), every_server_variant().len());
}

/// The clients printed in "Write your own client" are the files that scripts/test-clients.sh runs.
#[test]
fn protocol_md_shows_the_example_clients_verbatim() {
    let doc = std::fs::read_to_string(PATH).expect("proto/PROTOCOL.md is readable");
    for (lang, file) in [
        ("python", "examples/clients/python/client.py"),
        ("js", "examples/clients/js/client.mjs"),
    ] {
        let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
        let code = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            doc.contains(&format!("```{lang}\n{code}```\n")),
            "PROTOCOL.md must show {file} verbatim in a ```{lang} block"
        );
    }
}

/// The checksum test vectors of PROTOCOL.md section 8 ("Order books"): every row's string and
/// CRC-32 are what `tickcast_proto::book` computes.
#[test]
fn protocol_md_checksum_vectors_hold() {
    let doc = std::fs::read_to_string(PATH).expect("proto/PROTOCOL.md is readable");
    let rows: Vec<&str> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| bids | asks | tick_size |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(rows.len() >= 3, "the checksum vectors table");
    for row in rows {
        let inner = row
            .strip_prefix("| ")
            .and_then(|r| r.strip_suffix(" |"))
            .expect("a table row");
        let cells: Vec<&str> = inner.split(" | ").map(|c| c.trim_matches('`')).collect();
        let levels =
            |cell: &str| -> Vec<(f64, u64)> { serde_json::from_str(cell).expect("levels") };
        let (bids, asks) = (levels(cells[0]), levels(cells[1]));
        let tick_size: f64 = cells[2].parse().expect("tick size");
        let text = cells[3].replace("\\|", "|");
        let crc: u32 = cells[4].parse().expect("checksum");
        assert_eq!(
            tickcast_proto::book::checksum_text(&bids, &asks, tick_size),
            text,
            "{row}"
        );
        assert_eq!(
            tickcast_proto::book::checksum(&bids, &asks, tick_size),
            crc,
            "{row}"
        );
    }
}
