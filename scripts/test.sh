#!/usr/bin/env bash
# Runs every test of tickcast: the cargo workspace, then the suites that need things
# outside cargo (each installs what it needs itself: tmux, nats-server, Chromium, Python
# and npm packages, the Autobahn virtualenv). This is the README's test command and what
# .ci/run runs (plus fmt, clippy and a short fuzz run).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

log() { printf '\n== %s\n' "$*" >&2; }

# shellcheck source=scripts/ensure-cmd.sh
source scripts/ensure-cmd.sh

# The dashboard's end-to-end tests drive the real binary in tmux.
ensure_cmd tmux
export TICKCAST_REQUIRE_TMUX=1
ensure_cmd nats-server nats-server
export TICKCAST_REQUIRE_NATS=1

log "cargo test --workspace"
cargo test --workspace --locked
# `cargo test --workspace` has built every binary and example with the workspace's features:
# the suites below use those (a `cargo build -p ...` of one package would resolve other
# features and rebuild the server and its dependencies, over a minute each on 2 cores).
bin_dir=${CARGO_TARGET_DIR:-$root/target}/debug
export TICKCAST_SERVER=$bin_dir/tickcast-server
export TICKCAST_ECHO_BIN=$bin_dir/examples/echo

log "tickcast-sub builds without the server crate (dashboard feature embedded-server off)"
cargo check -p tickcast-dashboard --no-default-features --bins --locked  # check: keeps target/debug binaries the full ones
if cargo tree -p tickcast-dashboard --no-default-features -e normal --locked | grep -q tickcast-server; then
    echo "FAIL: tickcast-dashboard without default features still links tickcast-server" >&2
    exit 1
fi

log "docs: every path the codemaps name exists"
python3 scripts/check-docs.py

log "example clients of PROTOCOL.md (Python, JavaScript)"
scripts/test-clients.sh

log "client libraries (clients/python, clients/js) against the real server"
scripts/test-python-client.sh
scripts/test-js-client.sh

log "web page in headless Chromium"
scripts/test-web.sh

log "fault injection: a NATS cluster under faults, every observer's seqs checked (RELIABILITY.md)"
scripts/faults.sh --bin-dir "$bin_dir"

log "Autobahn|Testsuite (cases 1-10) against the server's connection code"
scripts/test-autobahn.sh

log "all tests passed"
