//! Universe files: TOML and JSON parse into validated universes; bad files are typed
//! errors.

use tickcast_simulator::{Config, Market, Universe, UniverseError};

use crate::support::{sim, sim_output, temp_path};

const TOML: &str = r#"
[[instruments]]
symbol = "ACME"
name = "Acme Corp."
sector = "Industrials"
price = 12.5
volatility = 0.4
drift = 0.05
weight = 2.0
tick_size = 0.05
lot_size = 10

[[instruments]]
symbol = "BETA"
price = 99.0
volatility = 0.2
"#;

const JSON: &str = r#"{"instruments": [
  {"symbol": "ACME", "name": "Acme Corp.", "sector": "Industrials", "price": 12.5,
   "volatility": 0.4, "drift": 0.05, "weight": 2.0, "tick_size": 0.05, "lot_size": 10},
  {"symbol": "BETA", "price": 99.0, "volatility": 0.2}
]}"#;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let path = temp_path(name);
    std::fs::write(&path, text).expect("temp file written");
    path
}

fn check(u: &Universe) {
    let acme = u.get("ACME").expect("ACME");
    assert_eq!(
        (acme.name.as_str(), acme.sector.as_str()),
        ("Acme Corp.", "Industrials")
    );
    assert_eq!(
        (acme.price, acme.volatility, acme.drift, acme.weight),
        (12.5, 0.4, 0.05, 2.0)
    );
    let beta = u.get("BETA").expect("BETA");
    assert_eq!((acme.tick_size, acme.lot_size), (0.05, 10));
    assert_eq!(
        (beta.name.as_str(), beta.drift, beta.weight),
        ("BETA", 0.0, 1.0)
    );
    assert_eq!((beta.tick_size, beta.lot_size), (0.01, 100), "the defaults");
    assert_eq!(u.len(), 2);
}

#[test]
fn toml_and_json_files_parse_alike() {
    let t = Universe::from_file(write("u.toml", TOML)).unwrap();
    let j = Universe::from_file(write("u.json", JSON)).unwrap();
    let bare = JSON
        .trim()
        .trim_start_matches(r#"{"instruments": "#)
        .trim_end_matches('}');
    let a = Universe::from_file(write("bare.json", bare)).unwrap();
    check(&t);
    assert_eq!(t, j);
    assert_eq!(t, a);
    let market = Market::new(Config {
        universe: t,
        ..Config::default()
    })
    .unwrap();
    assert_eq!(market.instruments()[0].symbol, "ACME");
}

#[test]
fn bad_files_are_typed_errors() {
    let err = |name: &str, text: &str| Universe::from_file(write(name, text)).unwrap_err();
    assert!(matches!(
        Universe::from_file(temp_path("missing.toml")),
        Err(UniverseError::Io { .. })
    ));
    assert!(matches!(
        err("u.txt", TOML),
        UniverseError::Extension { .. }
    ));
    assert!(matches!(
        err("bad.toml", "instruments = 3"),
        UniverseError::Toml { .. }
    ));
    assert!(matches!(
        err("bad.json", "{\"instruments\": [1]}"),
        UniverseError::Json { .. }
    ));
    assert!(matches!(
        err(
            "typo.toml",
            &TOML.replace("volatility = 0.2", "volatilty = 0.2")
        ),
        UniverseError::Toml { .. }
    ));
    assert!(matches!(err("empty.json", "[]"), UniverseError::Empty));
    assert!(
        matches!(err("dup.toml", &TOML.replace("BETA", "ACME")), UniverseError::DuplicateSymbol(s) if s == "ACME")
    );
    assert!(matches!(
        err("sym.toml", &TOML.replace("BETA", "BE TA")),
        UniverseError::InvalidSymbol { .. }
    ));
    assert!(matches!(
        err("neg.toml", &TOML.replace("price = 99.0", "price = -1.0")),
        UniverseError::InvalidField { field: "price", .. }
    ));
    assert!(matches!(
        err(
            "tick.toml",
            &TOML.replace("tick_size = 0.05", "tick_size = 0.0")
        ),
        UniverseError::InvalidField {
            field: "tick_size",
            ..
        }
    ));
    assert!(matches!(
        err("lot.toml", &TOML.replace("lot_size = 10", "lot_size = 0")),
        UniverseError::InvalidField {
            field: "lot_size",
            ..
        }
    ));
}

#[test]
fn trades_are_on_each_instruments_grid() {
    let universe = Universe::from_file(write("grid.toml", TOML)).unwrap();
    let ticks = Market::new(Config {
        universe,
        ..Config::default()
    })
    .unwrap()
    .filter_map(|e| e.as_tick().cloned())
    .take(5_000);
    for t in ticks {
        let tick = if t.symbol == "ACME" { 0.05 } else { 0.01 };
        for price in [t.price, t.bid, t.ask] {
            let n = price / tick;
            assert!((n - n.round()).abs() < 1e-6, "{price} off the {tick} grid");
        }
        assert!(t.ask - t.bid >= tick - 1e-9, "{t:?}");
    }
}

#[test]
fn the_binary_trades_a_universe_file_and_reports_bad_ones() {
    let path = write("cli.toml", TOML);
    let out = String::from_utf8(sim(&[
        "--universe",
        path.to_str().unwrap(),
        "--count",
        "200",
    ]))
    .unwrap();
    assert!(
        out.lines()
            .all(|l| l.contains("\"ACME\"") || l.contains("\"BETA\""))
    );
    assert_eq!(out.lines().count(), 200);

    let bad = write("cli-bad.toml", "nonsense");
    let out = sim_output(&["--universe", bad.to_str().unwrap(), "--count", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cli-bad.toml") && stderr.contains("invalid TOML"),
        "{stderr}"
    );
}
