#!/usr/bin/env bash
# 100,000 subscribed connections on one host, heartbeats on, ticks flowing (BENCHMARKS.md,
# "100,000 connections").
#
# One process may hold at most `ulimit -Hn` sockets (20,000 on the benchmark machine, and
# raising it needs CAP_SYS_RESOURCE), so the server side is a cluster on one host: NODES
# tickcast-server processes sharing one port (--reuse-port; the kernel spreads connections
# over them), fed through a local nats-server by tickcast-sim --nats. The load side is
# several tickcast-bench processes, each on its own loopback source addresses. The nodes
# (and nats-server, tickcast-sim) are pinned to SERVER_CPUS, the benches to CLIENT_CPUS.
#
#   scripts/bench-100k.sh
#   CONNECTIONS=20000 NODES=2 DURATION=10 scripts/bench-100k.sh
#
# Knobs: CONNECTIONS (100000), NODES (6), RATE (ticks/s of the one topic, 0.2),
# HEARTBEAT_MS (5000), DURATION (30 s), RAMP (new connections/s over all benches, 3000),
# PORT (8095), NATS_PORT (4333), OUT (results).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
OUT=${OUT:-$target/bench/100k-$(date +%Y%m%d-%H%M%S)}
CONNECTIONS=${CONNECTIONS:-100000}
NODES=${NODES:-6}
RATE=${RATE:-0.2}
HEARTBEAT_MS=${HEARTBEAT_MS:-5000}
DURATION=${DURATION:-30}
RAMP=${RAMP:-3000}
PORT=${PORT:-8095}
NATS_PORT=${NATS_PORT:-4333}
SERVER_CPUS=${SERVER_CPUS:-0}
CLIENT_CPUS=${CLIENT_CPUS:-1}
mkdir -p "$OUT"

log() { printf '\n== %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fds=$(ulimit -n)
log "file descriptors per process: $fds"
# Connections per bench process, and per node on average: both must fit under the limit.
per_bench_max=$((fds - 1000))
benches=$(((CONNECTIONS + per_bench_max - 1) / per_bench_max))
per_node=$(((CONNECTIONS + NODES - 1) / NODES))
((per_node * 110 / 100 < fds - 500)) ||
    fail "$NODES nodes x $per_node connections do not fit under $fds descriptors (NODES=$((CONNECTIONS / (fds / 2) + 1))?)"

# shellcheck source=scripts/ensure-cmd.sh
source scripts/ensure-cmd.sh
ensure_cmd nats-server nats-server
ensure_cmd taskset util-linux
nats=$(command -v nats-server)

log "cargo build --release (tickcast-server, tickcast-bench, tickcast-sim)"
cargo build --release --locked -q -p tickcast-server -p tickcast-bench -p tickcast-simulator --features tickcast-simulator/cli
bin=$OUT/bin
mkdir -p "$bin"
cp "$target/release/tickcast-server" "$target/release/tickcast-bench" "$target/release/tickcast-sim" "$bin/"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

taskset -c "$SERVER_CPUS" "$nats" -a 127.0.0.1 -p "$NATS_PORT" >"$OUT/nats.log" 2>&1 &
pids+=($!)
sleep 0.5

node_pids=()
for ((i = 0; i < NODES; i++)); do
    RUST_LOG=warn taskset -c "$SERVER_CPUS" "$bin/tickcast-server" --listen "127.0.0.1:$PORT" \
        --reuse-port --no-simulator --broker "nats://127.0.0.1:$NATS_PORT" --threads 1 \
        --heartbeat-ms "$HEARTBEAT_MS" --max-connections 100000 \
        --max-connections-per-ip 100000 >"$OUT/node-$i.log" 2>&1 &
    pids+=($!)
    node_pids+=($!)
done
node_list=$(IFS=,; echo "${node_pids[*]}")
sleep 2

taskset -c "$SERVER_CPUS" "$bin/tickcast-sim" --nats "nats://127.0.0.1:$NATS_PORT" --symbols 1 \
    --rate "$RATE" --arrivals constant >"$OUT/sim.log" 2>&1 &
pids+=($!)

per_bench=$(((CONNECTIONS + benches - 1) / benches))
sources=$(((per_bench + 7999) / 8000))
settle=$((per_bench * benches / RAMP / 4 + 10))
log "$NODES nodes, $benches benches x $per_bench connections ($sources source addresses each)"
bench_pids=()
left=$CONNECTIONS
for ((b = 0; b < benches; b++)); do
    n=$((left < per_bench ? left : per_bench))
    left=$((left - n))
    RUST_LOG=warn taskset -c "$CLIENT_CPUS" "$bin/tickcast-bench" --label "100k-$b" \
        --url "ws://127.0.0.1:$PORT/ws" -c "$n" --source-ip-first $((1 + b * sources)) \
        --source-ips "$sources" --ramp $((RAMP / benches)) --max-pending $((256 / benches + 8)) \
        --settle "$settle" --warmup 5 --duration "$DURATION" --expect-rate "$RATE" \
        --server-pid "$node_list" --json "$OUT/bench-$b.json" >"$OUT/bench-$b.txt" 2>&1 &
    bench_pids+=($!)
done
status=0
for pid in "${bench_pids[@]}"; do wait "$pid" || status=1; done
cat "$OUT/bench-0.txt"
((status == 0)) || fail "a bench process failed (see $OUT/bench-*.txt)"

log "100k summary ($OUT)"
python3 - "$CONNECTIONS" "$NODES" "$HEARTBEAT_MS" "$RATE" "$OUT"/bench-*.json <<'EOF' | tee "$OUT/summary.txt"
import json, sys
want, nodes, hb, rate = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = [json.load(open(p)) for p in sys.argv[5:]]
subscribed = sum(r["connect"]["subscribed"] for r in runs)
failed = sum(r["connect"]["failed"] for r in runs)
disc = sum(r["disconnects"]["reading"] + r["disconnects"]["stalled"] for r in runs)
delivered = min(r["delivery"]["delivered_pct"] for r in runs)
msgs = sum(r["delivery"]["msgs_per_s"] for r in runs)
p50 = max(r["latency"]["p50_ms"] for r in runs)
p99 = max(r["latency"]["p99_ms"] for r in runs)
# Every bench sampled all nodes; the first one's samples stand for the cluster.
s = runs[0]["server"]
per_conn = (s["rss_connected_kib"] - s["rss_before_kib"]) * 1024 / max(1, subscribed)
print(f"connections   {subscribed} subscribed of {want}, {failed} failed, over {nodes} nodes")
print(f"heartbeat     {hb} ms; one topic at {rate} ticks/s")
print(f"delivered     {msgs:.0f} msgs/s in all; the worst bench got {delivered:.1f} % of the published ticks")
print(f"latency ms    p50 {p50:.1f} / p99 {p99:.1f} (worst bench)")
print(f"disconnects   {disc}")
print(f"server        {nodes} nodes: CPU {s['cpu_pct']:.0f} % of a core, RSS {s['rss_before_kib']} -> "
      f"{s['rss_connected_kib']} KiB ({per_conn:.0f} B per connection), peak {s['rss_peak_kib']} KiB")
EOF
