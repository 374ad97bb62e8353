#!/usr/bin/env bash
# Tests the live web page served at / (server/assets/): the MessagePack module against
# @msgpack/msgpack (node:test), then an end-to-end test in real headless Chromium, driven
# by playwright-core, against a real tickcast-server (scripts/web/test/e2e.test.js).
# Installs what it needs itself: Debian's chromium (apt-get) when /usr/bin/chromium is
# missing, and the npm packages of scripts/web/ (package-lock.json) into its node_modules.
# Screenshots and logs: $CARGO_TARGET_DIR/artifacts (default target/artifacts).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
web=$root/scripts/web

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

if [[ ! -x /usr/bin/chromium ]]; then
    log "installing chromium (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q chromium >/dev/null \
        || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q chromium >/dev/null; } \
        || fail "could not install chromium"
fi
[[ -x /usr/bin/chromium ]] || fail "/usr/bin/chromium missing after install"

command -v node >/dev/null || fail "node is needed (Node.js 20 or newer)"
command -v npm >/dev/null || fail "npm is needed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || fail "Node.js 20 or newer is needed, found $(node --version)"

log "npm ci (scripts/web)"
(cd "$web" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed"

if [[ -n ${TICKCAST_SERVER:-} ]]; then
    [[ -x $TICKCAST_SERVER ]] || fail "TICKCAST_SERVER=$TICKCAST_SERVER is not an executable"
    log "testing against $TICKCAST_SERVER (not building)"
else
    log "cargo build -p tickcast-server"
    cargo build -q -p tickcast-server --bin tickcast-server
    TICKCAST_SERVER=$target/debug/tickcast-server
fi

mkdir -p "$target/artifacts"

log "unit tests: clients/js/msgpack.js (served at /msgpack.js) against @msgpack/msgpack"
(cd "$web" && timeout 300 node --test --test-reporter=spec test/msgpack.test.js) || fail "msgpack unit tests"

log "end-to-end: the page in headless Chromium against tickcast-server"
(cd "$web" && TICKCAST_SERVER="$TICKCAST_SERVER" TICKCAST_ARTIFACTS="$target/artifacts" \
    timeout 300 node --test --test-reporter=spec test/e2e.test.js) \
    || fail "web end-to-end test (logs and screenshots in $target/artifacts: web-*.log, web*.png)"

log "web tests passed; screenshot: $target/artifacts/web.png"
