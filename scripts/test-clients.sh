#!/usr/bin/env bash
# Runs the example clients of proto/PROTOCOL.md (examples/clients/: Python and JavaScript)
# against a real tickcast-server. Each must print --count ticks of `ticks.*` with seq going
# up by exactly 1 per topic, and must carry on by itself when the server restarts. Subscribed
# to `book.AAPL`, each must print book lines (each only after its checksum was verified) and
# report no mismatch and no missed update; through a proxy that corrupts one checksum, each
# must report that one mismatch and carry on with a fresh book. Against a server started with --subscribe-token,
# each must connect with --token; without it, the Python client must stop with status 1
# (HTTP 401; the browser API of the JavaScript one hides the status).
# Installs what it needs: a venv in $TARGET/venv, npm packages in examples/clients/js/.
# TICKCAST_SERVER=/path/to/tickcast-server tests that binary instead of building one;
# TICKCAST_PY_VENV=DIR uses that venv (with websockets and msgpack) instead of $TARGET/venv.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
count=${TICKCAST_CLIENT_COUNT:-20}
work=$(mktemp -d)
server_pid=""
client_pid=""
proxy_pid=""
url=""
passed=0

log() { printf '== %s\n' "$*" >&2; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    for f in "$work"/*; do
        [[ -s $f ]] && { printf -- '--- %s (last 20 lines)\n' "${f##*/}" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

cleanup() {
    [[ -n $client_pid ]] && kill "$client_pid" 2>/dev/null || true
    [[ -n $proxy_pid ]] && kill "$proxy_pid" 2>/dev/null || true
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

# Starts the server on $1 (default 127.0.0.1:0), with the flags that follow, and sets $url from
# its first stdout line.
start_server() {
    local listen=${1:-127.0.0.1:0} line
    shift || true
    # A calm 40 ticks/s: a client must not reach its --count before the restart test
    # has stopped the server.
    "$server_bin" --listen "$listen" --rate 40 "$@" >"$work/server.out" 2>>"$work/server.err" &
    server_pid=$!
    for _ in $(seq 100); do
        if [[ $(wc -l <"$work/server.out") -ge 1 ]]; then
            line=$(head -n 1 "$work/server.out")
            [[ $line =~ ^listening\ on\ (ws://[^/]+/ws)$ ]] || fail "first stdout line is '$line'"
            url=${BASH_REMATCH[1]}
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || fail "tickcast-server --listen $listen exited"
        sleep 0.1
    done
    fail "tickcast-server printed nothing in 10 s"
}

# Checks that $1 holds exactly $2 tick lines, seq up by 1 per topic between lines.
check_ticks() {
    awk -v want="$2" '
        $1 != "tick" { next }
        { n++ }
        ($2 in last) && $3 != last[$2] + 1 { printf "%s: seq %s after %s\n", $2, $3, last[$2]; bad = 1 }
        { last[$2] = $3 }
        END {
            if (n != want) { printf "%d ticks, want %d\n", n, want; bad = 1 }
            exit bad
        }' "$1"
}

# Waits up to 30 s for $1 to have at least $2 lines.
wait_for_lines() {
    for _ in $(seq 300); do
        [[ $(wc -l <"$1") -ge $2 ]] && return 0
        sleep 0.1
    done
    return 1
}

# Runs client $1 (the command in the remaining args) twice: plainly, and across a server restart.
test_client() {
    local name=$1 addr
    shift
    log "$name: $count ticks of ticks.*"
    timeout 60 "$@" --url "$url" --count "$count" 'ticks.*' >"$work/$name.out" 2>"$work/$name.err" \
        || fail "$name exited with $?"
    check_ticks "$work/$name.out" "$count" >"$work/$name.check" || fail "$name: $(cat "$work/$name.check")"
    ! grep '^gap ' "$work/$name.err" || fail "$name saw gaps"
    passed=$((passed + 1))

    log "$name: resumes when the server restarts"
    addr=${url#ws://}
    addr=${addr%/ws}
    : >"$work/$name-restart.out"
    timeout 90 "$@" --url "$url" --count $((2 * count)) 'ticks.*' \
        >"$work/$name-restart.out" 2>"$work/$name-restart.err" &
    client_pid=$!
    wait_for_lines "$work/$name-restart.out" "$count" || fail "$name printed under $count ticks in 30 s"
    stop_server
    start_server "$addr"
    wait "$client_pid" || fail "$name exited with $? across a restart"
    client_pid=""
    [[ $(grep -c '^tick ' "$work/$name-restart.out") -eq $((2 * count)) ]] || fail "$name: wrong tick count"
    grep -q 'reconnecting' "$work/$name-restart.err" || fail "$name did not reconnect"
    ! grep '^gap ' "$work/$name-restart.err" || fail "$name saw gaps"
    passed=$((passed + 1))
}

# Runs client $1 (the command in the remaining args) with --rewind: the server pre-rolled a
# trading day, so every topic starts with 10 messages of history (a snapshot, then 9 ticks),
# and live ticks follow with no hole.
test_rewind() {
    local name=$1 want=$((50 * 9 + 10))
    shift
    log "$name: --rewind 10"
    timeout 60 "$@" --url "$url" --rewind 10 --count "$want" 'ticks.*' \
        >"$work/$name-rewind.out" 2>"$work/$name-rewind.err" || fail "$name --rewind exited with $?"
    check_ticks "$work/$name-rewind.out" "$want" >"$work/$name-rewind.check" \
        || fail "$name --rewind: $(cat "$work/$name-rewind.check")"
    ! grep '^gap ' "$work/$name-rewind.err" || fail "$name --rewind saw gaps"
    # History: the first tick of a topic is far past seq 1.
    awk '$1 == "tick" && !($2 in seen) { seen[$2] = 1; if ($3 < 100) bad = 1 } END { exit bad }' \
        "$work/$name-rewind.out" || fail "$name --rewind printed no history"
    passed=$((passed + 1))
}

# Runs client $1 (the command in the remaining args) on `book.AAPL`: it prints a book line only
# once the book's checksum matched (the book, then after each update), so $book_count lines
# are that many verified books in a row; and it must report no gap (a checksum mismatch or a
# missed update), and every line must have its best bid below its best ask.
test_book() {
    local name=$1
    shift
    log "$name: book.AAPL, $book_count verified books"
    timeout 60 "$@" --url "$url" --count "$book_count" book.AAPL \
        >"$work/$name-book.out" 2>"$work/$name-book.err" || fail "$name book.AAPL exited with $?"
    [[ $(grep -c '^book AAPL ' "$work/$name-book.out") -eq $book_count ]] \
        || fail "$name: want $book_count 'book AAPL' lines"
    ! grep '^gap ' "$work/$name-book.err" || fail "$name: a book mismatch or a missed update"
    awk '{ split($3, bid, "@"); split($4, ask, "@") }
         $3 != "-" && $4 != "-" && bid[1] + 0 >= ask[1] + 0 { print "crossed: " $0; bad = 1 }
         END { exit bad }' "$work/$name-book.out" >"$work/$name-book.check" \
        || fail "$name: $(cat "$work/$name-book.check")"
    passed=$((passed + 1))
}

# Starts a TCP proxy to the server at $url that flips a bit of the 5th book checksum on each
# connection (the server's frames are unmasked and uncompressed: the MessagePack bytes as
# encoded, `checksum` a uint 32), and sets $tamper_url.
start_tamper_proxy() {
    local addr=${url#ws://}
    addr=${addr%/ws}
    "$venv/bin/python" - "$addr" >"$work/proxy.out" 2>"$work/proxy.err" <<'PY' &
import asyncio, sys

HOST, PORT = sys.argv[1].rsplit(":", 1)
KEY = b"\xa8checksum\xce"  # the key, then a uint 32
FLIP = 5  # the book is the 1st, its updates the next

async def pipe(reader, writer, tamper):
    seen, held = 0, b""
    try:
        while data := await reader.read(65536):
            data, at = held + data, 0
            while tamper and seen < FLIP and (i := data.find(KEY, at)) >= 0 and i + 14 <= len(data):
                seen, at = seen + 1, i + 1
                if seen == FLIP:
                    data = data[: i + 13] + bytes([data[i + 13] ^ 1]) + data[i + 14 :]
            held = data[-len(KEY) - 4 :] if tamper and seen < FLIP else b""
            writer.write(data[: len(data) - len(held)])
            await writer.drain()
    finally:
        writer.close()

async def accept(client_r, client_w):
    server_r, server_w = await asyncio.open_connection(HOST, int(PORT))
    await asyncio.gather(pipe(client_r, server_w, False), pipe(server_r, client_w, True),
                         return_exceptions=True)

async def main():
    proxy = await asyncio.start_server(accept, "127.0.0.1", 0)
    print(f"ws://127.0.0.1:{proxy.sockets[0].getsockname()[1]}/ws", flush=True)
    await proxy.serve_forever()

asyncio.run(main())
PY
    proxy_pid=$!
    wait_for_lines "$work/proxy.out" 1 || fail "the tamper proxy did not start"
    tamper_url=$(head -n 1 "$work/proxy.out")
}

# Runs client $1 (the command in the remaining args) on `book.AAPL` through the tamper proxy:
# it must report exactly one checksum mismatch (a gap line), subscribe again, and go on
# printing verified books.
test_book_mismatch() {
    local name=$1
    shift
    log "$name: book.AAPL with a corrupted checksum"
    timeout 60 "$@" --url "$tamper_url" --count "$book_count" book.AAPL \
        >"$work/$name-tamper.out" 2>"$work/$name-tamper.err" || fail "$name (tampered) exited with $?"
    [[ $(grep -c '^gap book.AAPL checksum mismatch' "$work/$name-tamper.err") -eq 1 ]] \
        || fail "$name: want one checksum mismatch reported"
    [[ $(grep -c '^gap ' "$work/$name-tamper.err") -eq 1 ]] || fail "$name: more than one gap"
    [[ $(grep -c '^book AAPL ' "$work/$name-tamper.out") -eq $book_count ]] \
        || fail "$name (tampered): want $book_count 'book AAPL' lines"
    passed=$((passed + 1))
}

# Runs client $1 (the command in the remaining args) against a server that requires token $token.
test_token() {
    local name=$1 status=0
    shift
    log "$name: --token"
    timeout 60 "$@" --url "$url" --token "$token" --count 3 'ticks.*' \
        >"$work/$name-token.out" 2>"$work/$name-token.err" || fail "$name --token exited with $?"
    check_ticks "$work/$name-token.out" 3 >"$work/$name-token.check" \
        || fail "$name --token: $(cat "$work/$name-token.check")"
    if [[ $name == python ]]; then
        timeout 30 "$@" --url "$url" --count 3 'ticks.*' >"$work/$name-401.out" 2>"$work/$name-401.err" \
            || status=$?
        [[ $status -eq 1 ]] || fail "$name without a token exited with $status, want 1"
        grep -q 'HTTP 401' "$work/$name-401.err" || fail "$name did not report HTTP 401"
    fi
    passed=$((passed + 1))
}

if [[ -n ${TICKCAST_SERVER:-} ]]; then
    server_bin=$TICKCAST_SERVER
    [[ -x $server_bin ]] || fail "TICKCAST_SERVER=$server_bin is not an executable"
    log "testing against $server_bin (not building)"
else
    log "building tickcast-server"
    cargo build -p tickcast-server --bin tickcast-server
    server_bin=$target/debug/tickcast-server
fi
book_count=${TICKCAST_BOOK_COUNT:-$((5 * count))}

venv=${TICKCAST_PY_VENV:-$target/venv}
if ! "$venv/bin/python" -c 'import websockets, msgpack' 2>/dev/null; then
    log "installing websockets and msgpack into $venv"
    python3 -m venv "$venv" || { apt-get install -y python3-venv && python3 -m venv "$venv"; }
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r examples/clients/python/requirements.txt
fi

node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 10) ? 0 : 1)' \
    || fail "the JavaScript client needs Node 20.10 or newer (found $(node --version))"
if [[ ! -d examples/clients/js/node_modules/@msgpack/msgpack ]]; then
    log "installing @msgpack/msgpack into examples/clients/js/node_modules"
    (cd examples/clients/js && npm ci --no-audit --no-fund --loglevel=error)
fi

start_server
log "server at $url"
test_client python "$venv/bin/python" examples/clients/python/client.py
test_client js node --experimental-websocket examples/clients/js/client.mjs
test_rewind python "$venv/bin/python" examples/clients/python/client.py
test_rewind js node --experimental-websocket examples/clients/js/client.mjs
test_book python "$venv/bin/python" examples/clients/python/client.py
test_book js node --experimental-websocket examples/clients/js/client.mjs
start_tamper_proxy
test_book_mismatch python "$venv/bin/python" examples/clients/python/client.py
test_book_mismatch js node --experimental-websocket examples/clients/js/client.mjs
kill "$proxy_pid" 2>/dev/null || true
proxy_pid=""

stop_server
token=test-token-$RANDOM
start_server 127.0.0.1:0 --subscribe-token "$token"
log "server requiring a token at $url"
test_token python "$venv/bin/python" examples/clients/python/client.py
test_token js node --experimental-websocket examples/clients/js/client.mjs
echo "test-clients: $passed passed, 0 failed"
