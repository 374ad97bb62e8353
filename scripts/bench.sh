#!/usr/bin/env bash
# Runs the standard benchmark scenarios of BENCHMARKS.md against release builds:
# tickcast-server under tickcast-bench, the Node `ws` reference server, the criterion
# micro-benchmarks and a profile. Each run writes its JSON report and table under $OUT.
#
#   scripts/bench.sh                 # every scenario but the profile
#   scripts/bench.sh rates slow      # only these
#   DURATION=5 LONG=20 scripts/bench.sh all
#   SERVER=/path/to/tickcast-server SERVER_ARGS="--threads 1" scripts/bench.sh rates
#
# Scenarios: ceiling rates tenk idle maxconn slow node criterion profile (all = every one).
# With 2+ CPUs the server is pinned to CPU 0 and the bench to CPU 1 (SERVER_CPUS,
# CLIENT_CPUS). The cores may be shared: every report has a "machine" line saying how
# busy they were with other work, and a tickcast run whose "others" figure is above
# NOISY_PCT (default 15 % of a core) is repeated, up to RETRIES (default 2) more times.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
OUT=${OUT:-$target/bench/$(date +%Y%m%d-%H%M%S)}
DURATION=${DURATION:-10}
LONG=${LONG:-60}
RATES=${RATES:-"100 250 500 1000 1500 2000 2500 3000"}
NODE_RATES=${NODE_RATES:-"100 250 500 1000"}
PORT=${PORT:-8080}
mkdir -p "$OUT"

log() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

scenarios=("$@")
if ((${#scenarios[@]} == 0)); then
    scenarios=(ceiling rates tenk idle maxconn slow node criterion)
elif [[ ${scenarios[0]} == all ]]; then
    scenarios=(ceiling rates tenk idle maxconn slow node criterion profile)
fi
wants() {
    local s
    for s in "${scenarios[@]}"; do [[ $s == "$1" ]] && return 0; done
    return 1
}

# Connections need file descriptors on both sides; raise the soft limit as far as the
# hard limit allows (raising the hard limit needs CAP_SYS_RESOURCE).
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log "file descriptors per process: $(ulimit -n) (hard $(ulimit -Hn))"

SERVER_CPUS=${SERVER_CPUS:-}
CLIENT_CPUS=${CLIENT_CPUS:-}
if [[ -z $SERVER_CPUS ]] && command -v taskset >/dev/null && (($(nproc) >= 2)); then
    SERVER_CPUS=0
    CLIENT_CPUS=1
fi
pin_client=()
[[ -n $CLIENT_CPUS ]] && pin_client=(taskset -c "$CLIENT_CPUS")
server_pin=()
[[ -n $SERVER_CPUS ]] && server_pin=(--server-cpus "$SERVER_CPUS")

log "cargo build --release (tickcast-server, tickcast-bench)"
cargo build --release --locked -q -p tickcast-server -p tickcast-bench
# Copies, so that another build in the same target directory cannot swap them mid-run.
bin=$OUT/bin
mkdir -p "$bin"
cp "$target/release/tickcast-server" "$target/release/tickcast-bench" "$bin/"
# SERVER benchmarks another build of tickcast-server (e.g. a branch) with the same bench.
[[ -n ${SERVER:-} ]] && { cp "$SERVER" "$bin/tickcast-server" || fail "no server at $SERVER"; }
server=$bin/tickcast-server
bench=$bin/tickcast-bench
read -r -a server_extra <<<"${SERVER_ARGS:-}"

NOISY_PCT=${NOISY_PCT:-15}
RETRIES=${RETRIES:-2}

# CPU that other processes used during a run (from its JSON report).
others_pct() {
    python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["machine"]["others_pct"]))' "$1"
}

# Waits (at most QUIET_WAIT seconds, default 600) until the CPUs are busy with other
# work for less than NOISY_PCT % of a core over 3 seconds.
wait_quiet() {
    local waited=0 busy
    while ((waited < ${QUIET_WAIT:-600})); do
        busy=$(python3 -c '
import time
def read():
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return sum(v[:8]), v[3] + v[4]
t0, i0 = read(); time.sleep(3); t1, i1 = read()
ncpu = sum(1 for l in open("/proc/stat") if l.startswith("cpu") and l[3].isdigit())
print(int((1 - (i1 - i0) / max(1, t1 - t0)) * 100 * ncpu))')
        ((busy <= NOISY_PCT)) && return 0
        ((waited == 0)) && log "waiting for other work to stop (busy: $busy % of a core)"
        sleep 10
        waited=$((waited + 13))
    done
}

# bench_run NAME [tickcast-bench arguments]: one run, repeated while it was noisy.
bench_run() {
    local name=$1 try
    shift
    for ((try = 0; try <= RETRIES; try++)); do
        wait_quiet
        log "$name"
        RUST_LOG=${RUST_LOG:-warn} "${pin_client[@]}" "$bench" --label "$name" \
            --json "$OUT/$name.json" "${server_pin[@]}" "$@" | tee "$OUT/$name.txt"
        (($(others_pct "$OUT/$name.json") <= NOISY_PCT)) && return 0
        log "$name: other processes used more than $NOISY_PCT % of a core; running it again"
    done
}

# bench_tickcast NAME [tickcast-bench options] -- SERVER ARGS (of the spawned tickcast-server)
bench_tickcast() {
    local name=$1
    shift
    bench_run "$name" --url "ws://127.0.0.1:$PORT/ws" --spawn-server "$server" "$@" "${server_extra[@]}"
}

tick_server=(--listen "127.0.0.1:$PORT" --symbols 1 --arrivals constant)

if wants ceiling; then
    # The bench's own ceiling: a server that only writes pre-framed ticks in 512-frame writes.
    bench_run ceiling --url "ws://127.0.0.1:9100/ws" -c 1000 --duration 5 --warmup 1 \
        --spawn-server "$bench" -- blast --listen 127.0.0.1:9100
fi

if wants rates; then
    # 1,000 subscribers on one topic; deliveries/s = 1,000 x ticks/s.
    for rate in $RATES; do
        bench_tickcast "rate-$rate" -c 1000 --duration "$DURATION" --expect-rate "$rate" \
            -- "${tick_server[@]}" --rate "$rate"
    done
fi

if wants tenk; then
    # 10,000 subscribers at 100 ticks/s each: 1M deliveries/s for LONG seconds.
    bench_tickcast tenk -c 10000 --duration "$LONG" --warmup 5 --ramp 4000 --expect-rate 100 \
        -- "${tick_server[@]}" --rate 100
fi

if wants idle; then
    # Server RSS per connected, subscribed, idle client (heartbeats on, no ticks).
    bench_tickcast idle -c 10000 --duration 2 --warmup 0 --settle 5 --ramp 4000 \
        -- --listen "127.0.0.1:$PORT" --no-simulator
fi

if wants maxconn; then
    # As many subscribed connections as the descriptor limit allows (100,000 is the
    # target), one tick per second, heartbeats on.
    fds=$(ulimit -n)
    n=$((fds - 500))
    ((n > 100000)) && n=100000
    bench_tickcast "maxconn-$n" -c "$n" --duration 20 --warmup 5 --settle 5 --ramp 4000 --expect-rate 1 \
        -- "${tick_server[@]}" --rate 1 --max-connections 200000 --max-connections-per-ip 100000
fi

if wants slow; then
    # The 1M deliveries/s run with 10 % of clients that stop reading (64 KiB receive
    # buffers), with the default 64 KiB send buffers and with the kernel's autotuned ones
    # (--socket-send-buffer 0, up to 4 MiB per socket); and the same without stalled
    # clients, for comparison.
    bench_tickcast slow-none -c 1000 --duration "$DURATION" --warmup 5 --expect-rate 1000 \
        -- "${tick_server[@]}" --rate 1000
    bench_tickcast slow -c 1000 --duration "$DURATION" --warmup 5 --expect-rate 1000 \
        --stop-reading-fraction 0.1 --stalled-rcvbuf 65536 \
        -- "${tick_server[@]}" --rate 1000
    bench_tickcast slow-autotuned -c 1000 --duration "$DURATION" --warmup 5 --expect-rate 1000 \
        --stop-reading-fraction 0.1 --stalled-rcvbuf 65536 \
        -- "${tick_server[@]}" --rate 1000 --socket-send-buffer 0
fi

if wants node; then
    command -v node >/dev/null || fail "node is needed for the reference server"
    log "npm ci (scripts/bench/node-ws)"
    (cd scripts/bench/node-ws && timeout 300 npm ci --no-audit --no-fund --loglevel=error)
    for rate in $NODE_RATES; do
        # Node starts publishing once all 1,000 clients have subscribed: its event loop,
        # busy broadcasting, accepts new connections too slowly to ramp up under load.
        bench_run "node-ws-rate-$rate" --url ws://127.0.0.1:8090/ws -c 1000 \
            --duration "$DURATION" --expect-rate "$rate" --spawn-server "$(command -v node)" \
            -- scripts/bench/node-ws/server.js --port 8090 --rate "$rate" --subscribers 1000
    done
fi

if wants criterion; then
    log "criterion: proto codec + topic matching, broker fan-out, simulator"
    quick=(--warm-up-time 1 --measurement-time 3)
    {
        cargo bench --locked -q -p tickcast-proto --bench codec -- "${quick[@]}"
        cargo bench --locked -q -p tickcast-proto --bench topic -- "${quick[@]}"
        cargo bench --locked -q -p tickcast-server --bench fanout -- "${quick[@]}"
        cargo bench --locked -q -p tickcast-simulator --bench market -- "${quick[@]}"
    } 2>&1 | grep -Ev '^(Gnuplot|Benchmarking|Found|  [0-9]+ \(|$)' | tee "$OUT/criterion.txt"
fi

if wants profile; then
    # Where the server's time goes at 1M deliveries/s: perf sampling when the kernel
    # allows it (a software clock is enough), else callgrind instruction counts.
    if perf record -e cpu-clock -o /dev/null true >/dev/null 2>&1; then
        wait_quiet
        log "profile (perf, cpu-clock) at 1,000 subscribers x 1,000 ticks/s"
        RUST_LOG=${RUST_LOG:-warn} "${pin_client[@]}" "$bench" --label profile \
            --json "$OUT/profile.json" -c 1000 --duration 12 --warmup 2 \
            --url "ws://127.0.0.1:$PORT/ws" "${server_pin[@]}" --spawn-server "$server" \
            -- "${tick_server[@]}" --rate 1000 "${server_extra[@]}" >"$OUT/profile.txt" &
        runner=$!
        sleep 5
        pid=$(pgrep -n -f "$server --listen") || fail "server not found for perf"
        perf record -F 1999 -e cpu-clock -p "$pid" -o "$OUT/perf.data" -- sleep 8 2>/dev/null
        wait "$runner"
        # Whole reports to files first: `head` on a pipe would stop perf with SIGPIPE.
        perf report -i "$OUT/perf.data" --stdio --no-children --sort dso >"$OUT/profile-dso.txt" 2>/dev/null
        perf report -i "$OUT/perf.data" --stdio --no-children --sort sym >"$OUT/profile-sym.txt" 2>/dev/null
        grep -v -e '^#' -e '^$' "$OUT/profile-dso.txt" | sed -n 1,6p
        grep -v -e '^#' -e '^$' "$OUT/profile-sym.txt" | sed -n 1,60p
    else
        log "profile (callgrind) at 200 subscribers x 200 ticks/s"
        valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$server" \
            "${tick_server[@]}" --rate 200 >/dev/null 2>"$OUT/callgrind.log" &
        vg=$!
        sleep 5
        "${pin_client[@]}" "$bench" --label profile -c 200 --duration 10 \
            --url "ws://127.0.0.1:$PORT/ws" --server-pid "$vg" | tee "$OUT/profile.txt"
        kill -TERM "$vg"
        wait "$vg" || true
        callgrind_annotate "$OUT/callgrind.out" >"$OUT/profile-sym.txt" 2>/dev/null
        sed -n 1,60p "$OUT/profile-sym.txt"
    fi
fi

if compgen -G "$OUT/*.json" >/dev/null; then
    log "summary ($OUT)"
    python3 - "$OUT"/*.json <<'EOF'
import json, sys
print(f"{'run':<22}{'conns':>7}{'msgs/s':>11}{'req%':>7}{'deliv%':>8}{'spread%':>8}{'p50 ms':>9}{'p99 ms':>9}{'p99.9':>9}{'disc':>6}{'srv CPU':>8}{'KiB/conn':>9}{'others':>7}")
for path in sys.argv[1:]:
    r = json.load(open(path))
    d, l, s = r["delivery"], r["latency"], r.get("server") or {}
    req = d.get("of_requested_pct")
    req = f"{req:>7.1f}" if req is not None else f"{'-':>7}"
    print(f"{r['label']:<22}{r['connect']['subscribed']:>7}{d['msgs_per_s']:>11.0f}{req}{d['delivered_pct']:>8.1f}"
          f"{d['per_connection']['spread_pct']:>8.2f}{l['p50_ms']:>9.2f}{l['p99_ms']:>9.2f}{l['p999_ms']:>9.2f}"
          f"{r['disconnects']['reading'] + r['disconnects']['stalled']:>6}{s.get('cpu_pct', 0):>8.0f}"
          f"{s.get('rss_per_connection_bytes', 0) / 1024:>9.2f}{r['machine']['others_pct']:>7.0f}")
EOF
fi
