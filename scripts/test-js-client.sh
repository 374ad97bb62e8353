#!/usr/bin/env bash
# Tests the JavaScript client library (clients/js/) against the real tickcast-server:
# installs its devDependencies (npm ci: TypeScript), type-checks index.d.ts and the README's
# examples (tsc --noEmit), then runs `node --test` in clients/js/test/ (subscribe and
# wildcards, since, pattern changes and reconnect on request, a cut connection, a dead peer,
# server restarts, a slow consumer, tokens, publish, final close codes, wss:// with a
# private CA). Needs Node 20.10 or newer; builds the
# server if it is missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null || fail "node is not installed (the JavaScript client needs Node 20.10 or newer)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' \
    || fail "the JavaScript client needs Node 20.10 or newer (found $(node --version))"

if [[ ! -x $target/debug/tickcast-server ]]; then
    log "building tickcast-server"
    cargo build -p tickcast-server --bin tickcast-server
fi
export TICKCAST_SERVER=$target/debug/tickcast-server

cd clients/js
log "npm ci (clients/js devDependencies)"
npm ci --no-audit --no-fund --loglevel=error || fail "npm ci failed in clients/js"

log "tsc --noEmit (index.d.ts and test/types.ts)"
npx --no-install tsc --noEmit -p . || fail "type check failed"

# Node 20 has the global WebSocket behind a flag; 22 and newer have it by default.
flags=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || flags+=(--experimental-websocket)
log "node --test clients/js/test/"
timeout 300 node "${flags[@]}" --test --test-concurrency=1 --test-timeout=60000 test/*.test.js \
    || fail "clients/js tests failed (exit $?)"
echo "test-js-client: all passed"
