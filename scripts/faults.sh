#!/usr/bin/env bash
# Fault-injection suite of a tickcast cluster (issue #14): nats-server, one tickcast-sim source,
# three tickcast-server nodes, observers (tickcast-sub, the Python and JavaScript example
# clients, the web page in headless Chromium, a node-hopping, a slow and a stalled reader); kills, stops and restarts nodes,
# nats-server and the source, and checks that no observer saw a duplicate, a regression or an
# unannounced hole. See scripts/faults/README.md.
#
#   scripts/faults.sh                    # short form (CI), about 1-2 minutes
#   scripts/faults.sh --long             # or FAULTS_LONG=1: 3 cycles + a 10-minute soak
#   scripts/faults.sh --bin-dir DIR      # or TICKCAST_BIN_DIR=DIR: use these binaries, build nothing
#
# Other flags go to scripts/faults/main.py (--soak MIN, --cycles N, --rate R, --symbols N, ...).
# Records and process logs: $CARGO_TARGET_DIR/artifacts/faults (default target/artifacts/faults).
# Installs what it needs: nats-server, a venv in $TARGET/venv, npm packages of examples/clients/js
# and scripts/web, Chromium.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
log() { printf '== %s\n' "$*" >&2; }

bindir=${TICKCAST_BIN_DIR:-}
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --bin-dir) bindir=$2; shift 2 ;;
        --bin-dir=*) bindir=${1#*=}; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
[[ ${FAULTS_LONG:-0} == 1 ]] && args+=(--long)

source scripts/ensure-cmd.sh
ensure_cmd nats-server nats-server

if [[ -z $bindir ]]; then
    log "building tickcast-server, tickcast-sim, tickcast-sub (debug; --bin-dir to use others)"
    cargo build -p tickcast-server -p tickcast-simulator -p tickcast-dashboard --bins
    bindir=$target/debug
fi
for bin in tickcast-server tickcast-sim tickcast-sub; do
    [[ -x $bindir/$bin ]] || { echo "FAIL: no $bindir/$bin" >&2; exit 1; }
done

venv=$target/venv
if ! "$venv/bin/python" -c 'import websockets, msgpack' 2>/dev/null; then
    log "installing websockets and msgpack into $venv"
    python3 -m venv "$venv" || { apt-get install -y python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r examples/clients/python/requirements.txt
fi
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' \
    || { echo "FAIL: the JavaScript client needs Node 20.10 or newer (found $(node --version))" >&2; exit 1; }
if [[ ! -d examples/clients/js/node_modules/@msgpack/msgpack ]]; then
    log "installing @msgpack/msgpack into examples/clients/js/node_modules"
    (cd examples/clients/js && npm ci --no-audit --no-fund --loglevel=error)
fi

# The web page observer: headless Chromium driven by playwright-core (as scripts/test-web.sh).
if [[ ! -x /usr/bin/chromium ]]; then
    log "installing chromium (Debian package)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q chromium >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
        || { echo "FAIL: could not install chromium" >&2; exit 1; }
fi
if [[ ! -d scripts/web/node_modules/playwright-core ]]; then
    log "installing the npm packages of scripts/web"
    (cd scripts/web && npm ci --no-audit --no-fund --loglevel=error)
fi

exec "$venv/bin/python" scripts/faults/main.py --bin-dir "$bindir" --python "$venv/bin/python" \
    --artifacts "$target/artifacts/faults" ${args[@]+"${args[@]}"}
