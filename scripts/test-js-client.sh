#!/usr/bin/env bash
# Tests the JavaScript client library (clients/js/) against the real tickcast-server:
# installs its devDependencies (npm ci: TypeScript, typedoc), type-checks index.d.ts and the
# README's examples (tsc --noEmit), generates the API reference (scripts/api-docs.sh js), then
# runs `node --test` in clients/js/test/ (subscribe and wildcards, since, options, the README's
# example, pattern changes and reconnect on request, the backoff schedule, a cut connection, a
# dead peer, server restarts, a move between cluster nodes, a slow consumer, tokens, publish,
# final close codes, wss:// with a private CA). Installs openssl (the wss:// test) and
# nats-server (the cluster test) when missing and makes them required: without them those
# tests fail instead of skipping. Needs Node 20.10 or newer; builds the
# server if it is missing. TICKCAST_SERVER=/path/to/tickcast-server tests that binary
# instead (nothing is built).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/ensure-cmd.sh
source scripts/ensure-cmd.sh
ensure_cmd openssl || fail "openssl (for the wss:// test) is missing and could not be installed"
ensure_cmd nats-server nats-server || fail "nats-server (for the cluster test) is missing and could not be installed"
export TICKCAST_REQUIRE_OPENSSL=1 TICKCAST_REQUIRE_NATS=1

command -v node >/dev/null || fail "node is not installed (the JavaScript client needs Node 20.10 or newer)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' \
    || fail "the JavaScript client needs Node 20.10 or newer (found $(node --version))"

if [[ -n ${TICKCAST_SERVER:-} ]]; then
    [[ -x $TICKCAST_SERVER ]] || fail "TICKCAST_SERVER=$TICKCAST_SERVER is not an executable"
    log "testing against $TICKCAST_SERVER (not building)"
else
    if [[ ! -x $target/debug/tickcast-server ]]; then
        log "building tickcast-server"
        cargo build -p tickcast-server --bin tickcast-server
    fi
    export TICKCAST_SERVER=$target/debug/tickcast-server
fi

cd clients/js
log "npm ci (clients/js devDependencies: TypeScript, typedoc)"
npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed in clients/js"

log "tsc --noEmit (index.d.ts and test/types.ts)"
npx --no-install tsc --noEmit -p . || fail "type check failed"

log "API reference (scripts/api-docs.sh js)"
"$root/scripts/api-docs.sh" js || fail "scripts/api-docs.sh js"

# Node 20 has the global WebSocket behind a flag; 22 and newer have it by default.
flags=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || flags+=(--experimental-websocket)
log "node --test clients/js/test/"
timeout 300 node "${flags[@]}" --test --test-concurrency=1 --test-timeout=60000 test/*.test.js \
    || fail "clients/js tests failed (exit $?)"
echo "test-js-client: all passed"
