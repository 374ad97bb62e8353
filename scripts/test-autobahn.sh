#!/usr/bin/env bash
# RFC 6455 conformance: Autobahn|Testsuite (`wstest -m fuzzingclient`, cases 1-10; 12/13
# are permessage-deflate, which tickcast does not offer) against server/examples/echo.rs,
# an echo endpoint on the server's own connection code.
#
# Installs what it needs: pyenv's CPython 2.7.18 (`pyenv install` when missing), a
# virtualenv in $TARGET/autobahn-venv with the suite's upstream pins
# (scripts/autobahn/requirements.txt). wstest exits 0 whatever the results, so this script
# reads reports/index.json and fails when any case FAILED (NON-STRICT, INFORMATIONAL and
# UNIMPLEMENTED pass). Reports: $TARGET/autobahn/reports (index.html for people).
#
# Env: AUTOBAHN_PROFILE=debug|release (default debug: the whole run, 16 MiB messages of the
# 9.x cases included, takes about 20 s on a debug build, which `cargo test` has already made),
# AUTOBAHN_CASES='["1.*"]' (a JSON list, to run a subset), AUTOBAHN_TIMEOUT (seconds for
# wstest, default 600), TICKCAST_ECHO_BIN (a debug echo example already built, e.g. by
# `cargo test --workspace`: not built again).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
profile=${AUTOBAHN_PROFILE:-debug}
py_version=2.7.18
venv=$target/autobahn-venv
out=$target/autobahn
server_pid=""

log() { printf '== %s\n' "$*" >&2; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    [[ -s $out/echo.err ]] && { echo '--- echo server stderr (last 20 lines)' >&2; tail -n 20 "$out/echo.err" >&2; }
    exit 1
}
cleanup() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# --- Python 2.7 and the suite --------------------------------------------------------------
find_python2() {
    local pyenv_root
    pyenv_root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    local py=$pyenv_root/versions/$py_version/bin/python2.7
    if [[ ! -x $py ]]; then
        command -v pyenv >/dev/null || fail "CPython $py_version is needed and pyenv is not installed"
        log "pyenv install $py_version (builds from source: minutes)"
        pyenv install -s "$py_version" >&2 || fail "pyenv install $py_version failed"
    fi
    echo "$py"
}

# Runs a pip command quietly; on failure shows its output and fails.
quiet_pip() {
    local pip_log=$target/autobahn-pip.log
    if ! "$@" >"$pip_log" 2>&1; then
        grep -v DEPRECATION "$pip_log" | tail -n 30 >&2
        fail "pip failed: $*"
    fi
}

install_suite() {
    local stamp=$venv/.tickcast-requirements
    if [[ -x $venv/bin/wstest ]] && cmp -s scripts/autobahn/requirements.txt "$stamp"; then
        return 0
    fi
    local py boot=$target/autobahn-boot
    py=$(find_python2)
    log "creating $venv (CPython $("$py" -c 'import platform; print(platform.python_version())'))"
    rm -rf "$venv" "$boot"
    mkdir -p "$target"
    # Python 2 has no venv module: bootstrap virtualenv (its last release for Python 2) aside.
    quiet_pip "$py" -m pip install --disable-pip-version-check --no-warn-script-location \
        --target "$boot" 'virtualenv==20.15.1'
    PYTHONPATH=$boot "$py" -m virtualenv -q "$venv" >&2 || fail "virtualenv failed"
    quiet_pip "$venv/bin/pip" install --disable-pip-version-check -r scripts/autobahn/requirements.txt
    [[ -x $venv/bin/wstest ]] || fail "wstest did not install"
    cp scripts/autobahn/requirements.txt "$stamp"
    rm -rf "$boot"
}

install_suite
"$venv/bin/wstest" --autobahnversion >&2 2>/dev/null || true

# --- The echo server -----------------------------------------------------------------------
if [[ -n ${TICKCAST_ECHO_BIN:-} && $profile != release ]]; then
    echo_bin=$TICKCAST_ECHO_BIN
    [[ -x $echo_bin ]] || fail "TICKCAST_ECHO_BIN=$echo_bin is not an executable"
    log "testing $echo_bin (not building)"
else
    log "building the echo example ($profile)"
    if [[ $profile == release ]]; then
        cargo build --release -p tickcast-server --example echo
    else
        cargo build -p tickcast-server --example echo
    fi
    echo_bin=$target/$profile/examples/echo
fi

rm -rf "$out"
mkdir -p "$out"
: >"$out/echo.out"
"$echo_bin" 127.0.0.1:0 >"$out/echo.out" 2>"$out/echo.err" &
server_pid=$!
url=""
for _ in $(seq 100); do
    line=$(head -n 1 "$out/echo.out")
    if [[ $line =~ ^listening\ on\ (ws://[^/]+/ws)$ ]]; then
        url=${BASH_REMATCH[1]}
        break
    fi
    kill -0 "$server_pid" 2>/dev/null || fail "the echo server exited"
    sleep 0.1
done
[[ -n $url ]] || fail "the echo server printed no 'listening on ws://ADDR/ws' in 10 s"
log "echo server at $url"

# --- wstest --------------------------------------------------------------------------------
sed -e "s|@OUTDIR@|$out/reports|" -e "s|@URL@|$url|" scripts/autobahn/fuzzingclient.json >"$out/fuzzingclient.json"
if [[ -n ${AUTOBAHN_CASES:-} ]]; then
    python3 - "$out/fuzzingclient.json" "$AUTOBAHN_CASES" <<'EOF'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["cases"] = json.loads(sys.argv[2])
json.dump(spec, open(sys.argv[1], "w"), indent=4)
EOF
fi
log "wstest -m fuzzingclient (cases $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["cases"]))' "$out/fuzzingclient.json"))"
started=$SECONDS
(cd "$out" && timeout "${AUTOBAHN_TIMEOUT:-600}" "$venv/bin/wstest" -m fuzzingclient -s "$out/fuzzingclient.json") \
    >"$out/wstest.log" 2>&1 || fail "wstest failed or timed out (exit $?): see $out/wstest.log"
log "wstest took $((SECONDS - started)) s"
kill -0 "$server_pid" 2>/dev/null || fail "the echo server died during the run"

if ! python3 scripts/autobahn/summarize.py "$out/reports" tickcast | tee "$out/summary.md"; then
    fail "Autobahn cases FAILED (see $out/summary.md and $out/reports/index.html)"
fi
log "Autobahn|Testsuite: no FAILED case"
