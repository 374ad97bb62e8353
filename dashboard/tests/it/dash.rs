//! `tickcast-dash` end to end in a real terminal (tmux): symbols and moving prices show up,
//! the 1m chart is full of candles right away (history), `b` shows the depth ladder with
//! prices on both sides of the spread, `q` exits 0, and the terminal is restored (alternate
//! screen left, mouse off, cooked mode).

use std::{
    process::Command,
    time::{Duration, Instant},
};

use tickcast_testkit::tmux_bin;

use crate::support::{LIMIT, start_server};

const DASH: &str = env!("CARGO_BIN_EXE_tickcast-dash");

/// A private tmux server running one pane, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `command` (then prints its exit status and the tty mode, and idles) in a
    /// `width` x `height` pane.
    fn start(name: &str, command: &str, width: u16, height: u16) -> Self {
        let socket = format!("tickcast-it-{name}-{}", std::process::id());
        let script = format!(
            "{command}; echo \"tickcast-exit=$?\"; stty -a | tr ';' '\\n' | tr ' ' '\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo; sleep 60"
        );
        let tmux = Self { socket };
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-s",
            "t",
            "sh",
            "-c",
            &script,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .env_remove("NO_COLOR")
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    fn flag(&self, name: &str) -> String {
        self.run(&["display-message", "-p", "-t", "t", &format!("#{{{name}}}")])
            .trim()
            .to_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Polls the screen until `check` passes; panics with the screen after `LIMIT`.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < LIMIT,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

/// The watchlist rows (the lines between its header and its bottom border).
#[cfg(feature = "embedded-server")]
fn watchlist(screen: &str) -> String {
    screen
        .lines()
        .skip_while(|l| !l.contains("Symbol"))
        .skip(1)
        .take_while(|l| !l.starts_with('└'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Columns of the chart's plot (left of its price axis) that hold a candle.
#[cfg(feature = "embedded-server")]
fn candle_columns(screen: &str) -> usize {
    let chart: Vec<Vec<char>> = screen
        .lines()
        .skip_while(|l| !l.contains("candles · 1m"))
        .skip(2) // the title and the quote line
        .take_while(|l| !l.starts_with('└') && !l.contains("vol "))
        .map(|l| l.chars().collect())
        .collect();
    let Some(axis) = chart
        .iter()
        .find_map(|row| row.iter().position(|&c| c == '┤' || c == '◀'))
    else {
        return 0;
    };
    (1..axis)
        .filter(|&x| {
            chart
                .iter()
                .any(|row| matches!(row.get(x), Some('│' | '█' | '░' | '─')))
        })
        .count()
}

/// The depth ladder's rows (from its title to its bottom border), cut out of the screen.
#[cfg(feature = "embedded-server")]
fn ladder(screen: &str) -> Vec<String> {
    let lines: Vec<Vec<char>> = screen.lines().map(|l| l.chars().collect()).collect();
    let Some((top, col)) = lines.iter().enumerate().find_map(|(i, l)| {
        let text: String = l.iter().collect();
        let at = text[..text.find(" book · depth")?].chars().count();
        Some((i, l[..at].iter().rposition(|&c| c == '┌')?))
    }) else {
        return Vec::new();
    };
    lines[top..]
        .iter()
        .map(|l| l.iter().skip(col).collect::<String>())
        .take_while(|l| !l.starts_with('└'))
        .collect()
}

/// Whether the ladder shows a price on the rows next to its spread line, ask and bid.
#[cfg(feature = "embedded-server")]
fn ladder_has_both_sides(screen: &str) -> bool {
    let rows = ladder(screen);
    let priced = |row: &str| {
        row.split(|c: char| c.is_whitespace() || c == '│')
            .any(|w| w.contains('.') && w.parse::<f64>().is_ok_and(|p| p > 0.0))
    };
    let Some(spread) = rows.iter().position(|r| r.contains(" spread ")) else {
        return false;
    };
    spread > 1
        && rows.get(spread - 1).is_some_and(|r| priced(r))
        && rows.get(spread + 1).is_some_and(|r| priced(r))
}

fn check_quit_restores(tmux: &Tmux) {
    assert_eq!(
        tmux.flag("alternate_on"),
        "1",
        "the dashboard uses the alternate screen"
    );
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("exit and tty mode", |s| {
        s.contains("tickcast-exit=") && s.contains("icanon") && s.contains("echo")
    });
    assert!(screen.contains("tickcast-exit=0"), "{screen}");
    let words: Vec<&str> = screen.split_whitespace().collect();
    assert!(
        words.contains(&"icanon") && words.contains(&"echo"),
        "raw mode left on:\n{screen}"
    );
    assert_eq!(tmux.flag("alternate_on"), "0", "alternate screen left");
    assert_eq!(tmux.flag("mouse_any_flag"), "0", "mouse capture off");
    assert_eq!(tmux.flag("cursor_flag"), "1", "cursor visible");
}

#[cfg(feature = "embedded-server")]
#[test]
fn embedded_dashboard_shows_moving_prices_and_quits_cleanly() {
    if tmux_bin().is_none() {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_TMUX is set
    }
    let tmux = Tmux::start("embedded", DASH, 120, 36);
    let first = tmux.wait_for("symbols", |s| {
        s.contains("LIVE")
            && watchlist(s)
                .lines()
                .filter(|l| l.chars().any(|c| c.is_ascii_digit()))
                .count()
                >= 5
    });
    tmux.wait_for("prices to change", |s| watchlist(s) != watchlist(&first));
    // Candles, 1m: the chart is filled from the history the server pre-rolled, at once
    // (live, a 1m bar comes once a minute).
    tmux.keys(&["c", "t"]);
    tmux.wait_for("a 1m chart full of candles", |s| candle_columns(s) >= 40);
    // The depth ladder of the selected symbol: asks and bids around the spread.
    tmux.keys(&["b"]);
    tmux.wait_for("a ladder with prices on both sides", ladder_has_both_sides);
    tmux.keys(&["b"]);
    tmux.wait_for("the ladder hidden", |s| !s.contains(" book · depth"));
    // Keys reach the app: the help overlay opens and closes.
    tmux.keys(&["?"]);
    tmux.wait_for("help", |s| s.contains("tickcast-dash · keys"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| !s.contains("tickcast-dash · keys"));
    check_quit_restores(&tmux);
}

#[test]
fn remote_dashboard_survives_server_loss() {
    if tmux_bin().is_none() {
        return; // skipped (printed), or failed when TICKCAST_REQUIRE_TMUX is set
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let server = runtime.block_on(start_server());
    let command = format!("{DASH} --url {} --topics 'ticks.*'", server.ws_url());
    let tmux = Tmux::start("remote", &command, 100, 30);
    tmux.wait_for("live data", |s| s.contains("LIVE") && s.contains("msg/s"));
    runtime.block_on(server.shutdown());
    tmux.wait_for("reconnecting", |s| {
        s.contains("RECONNECTING") || s.contains("CONNECTING")
    });
    check_quit_restores(&tmux);
}
