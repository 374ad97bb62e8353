//! Programs from outside cargo that some tests need (tmux, nats-server, ...): found, or a
//! loud skip, or — when CI demands the program through its `TICKCAST_REQUIRE_*` variable —
//! a failed test.

use std::io::Write as _;
use std::path::PathBuf;

/// Where a program is looked for besides `PATH` (Debian installs `nats-server` in /usr/sbin).
const EXTRA_DIRS: [&str; 2] = ["/usr/sbin", "/usr/local/sbin"];

/// The executable `name` (on `PATH` or in /usr/sbin, /usr/local/sbin), for a test that cannot
/// run without it.
///
/// When it is missing: with `require_var` set in the environment (`scripts/test.sh` installs
/// the program and sets it), this panics, failing the test; otherwise it writes
/// `skipped: <test>: ...` to stderr, past the test harness's capture so that it shows in every
/// run, and returns `None`; the caller then returns without asserting anything.
pub fn require_tool(name: &str, require_var: &str) -> Option<PathBuf> {
    if let Some(found) = find_tool(name) {
        return Some(found);
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    assert!(
        std::env::var_os(require_var).is_none(),
        "{test}: {name} is required ({require_var} is set) but not found on PATH or in {}",
        EXTRA_DIRS.join(", ")
    );
    // `eprintln!` would be captured (and hidden) by the test harness for a passing test.
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped: {test}: {name} not found on PATH (install it, or set {require_var} to make \
         this a failure)"
    );
    None
}

/// `tmux`, for the dashboard's terminal end-to-end tests ([`require_tool`]).
pub fn tmux_bin() -> Option<PathBuf> {
    require_tool("tmux", "TICKCAST_REQUIRE_TMUX")
}

/// `nats-server`, for the cluster-mode tests ([`require_tool`]).
pub fn nats_server_bin() -> Option<PathBuf> {
    require_tool("nats-server", "TICKCAST_REQUIRE_NATS")
}

/// The first executable file called `name` on `PATH` or in [`EXTRA_DIRS`].
fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_DIRS.map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|bin| bin.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_tool_is_found() {
        assert!(require_tool("sh", "TICKCAST_REQUIRE_NOTHING_HERE").is_some());
    }

    #[test]
    fn a_missing_tool_is_a_skip() {
        assert_eq!(
            require_tool("tickcast-no-such-tool", "TICKCAST_REQUIRE_NOTHING_HERE"),
            None
        );
    }

    #[test]
    #[should_panic(expected = "is required (PATH is set)")]
    fn a_missing_required_tool_fails() {
        // PATH is always set, so it stands for a CI variable that demands the tool.
        let _ = require_tool("tickcast-no-such-tool", "PATH");
    }
}
