#!/usr/bin/env bash
# The recommended tickcast cluster (ARCHITECTURE.md, "Scale-out"), on this machine, loopback
# only: three nats-servers with JetStream routed into one cluster (nats-1.conf .. nats-3.conf),
# one source (tickcast-sim --nats, stream replicated 3 times), N tickcast-server nodes
# (--no-simulator, all three NATS URLs), and HAProxy in front on 127.0.0.1:8080, health
# checking GET /healthz. See deploy/cluster/README.md.
#
#   deploy/cluster/run.sh                  # start, print the URLs, run until Ctrl-C
#   deploy/cluster/run.sh --nodes 5        # five nodes (ports 8081..8085)
#   deploy/cluster/run.sh --check 30       # 50 subscribers through the LB for 30 s, then a late
#                                          # node; exit 1 on gaps or if it never gets ready
#
# Options: --nodes N (3), --check SECONDS, --rate TICKS_PER_S (the source's; default: the
# simulator's 200 over 50 symbols; with --check 200 on one symbol, see the README),
# --preroll DURATION (market time the source publishes first, e.g. 30m; default a trading
# day), --connections C (with --check, 50), --keep (keep the run folder with the logs).
# Binaries: target/release of this repository, built with cargo when missing;
# TICKCAST_BIN_DIR=DIR uses the ones in DIR instead. Installs nats-server, haproxy and curl
# with apt-get when missing (python3 too, for --check).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

nodes=3
check=""
rate=""
preroll=""
connections=50
keep=0
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --nodes) nodes=${2:?--nodes N}; shift 2 ;;
        --check) check=${2:?--check SECONDS}; shift 2 ;;
        --rate) rate=${2:?--rate TICKS_PER_S}; shift 2 ;;
        --preroll) preroll=${2:?--preroll DURATION}; shift 2 ;;
        --connections) connections=${2:?--connections C}; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

log() { printf '== %s\n' "$*" >&2; }
[[ $nodes =~ ^[1-9][0-9]?$ ]] || { log "--nodes: 1 to 99"; exit 2; }
[[ -z $check || $check =~ ^[1-9][0-9]*$ ]] || { log "--check: a number of seconds"; exit 2; }
[[ $connections =~ ^[1-9][0-9]*$ ]] || { log "--connections: a positive number"; exit 2; }
[[ -z $rate || $rate =~ ^[0-9]+([.][0-9]+)?$ ]] || { log "--rate: ticks per second"; exit 2; }
[[ -n $check && -z $rate ]] && rate=200

# Ports (the NATS ones are in nats-N.conf).
lb_port=8080
stats_port=8404
nats_ports=(4222 4223 4224)
nats_cluster_ports=(6222 6223 6224)
nats_http_ports=(8222 8223 8224)
node_port() { echo $((lb_port + $1)); } # node i on 8080 + i
# With --check, one more node starts late: HAProxy knows it from the start (DOWN until ready).
slots=$nodes
[[ -n $check ]] && slots=$((nodes + 1))

# shellcheck source=scripts/ensure-cmd.sh
source "$root/scripts/ensure-cmd.sh"
ensure_cmd nats-server nats-server
ensure_cmd haproxy haproxy
ensure_cmd curl curl
[[ -n $check ]] && ensure_cmd python3 python3

bindir=${TICKCAST_BIN_DIR:-$target/release}
needed=(tickcast-server tickcast-sim)
[[ -n $check ]] && needed+=(tickcast-bench)
missing=()
for b in "${needed[@]}"; do
    [[ -x $bindir/$b ]] || missing+=("$b")
done
if ((${#missing[@]})); then
    [[ -n ${TICKCAST_BIN_DIR:-} ]] && { log "missing in TICKCAST_BIN_DIR=$bindir: ${missing[*]}"; exit 1; }
    packages=(-p tickcast-server -p tickcast-simulator)
    [[ -n $check ]] && packages+=(-p tickcast-bench)
    log "building ${missing[*]}: cargo build --release ${packages[*]} --features tickcast-simulator/cli"
    (cd "$root" && cargo build --release "${packages[@]}" --features tickcast-simulator/cli)
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ports=("$lb_port" "$stats_port" "${nats_ports[@]}" "${nats_cluster_ports[@]}" "${nats_http_ports[@]}")
for ((i = 1; i <= slots; i++)); do ports+=("$(node_port "$i")"); done
for p in "${ports[@]}"; do
    port_busy "$p" && { log "127.0.0.1:$p is in use (another run.sh still running?)"; exit 1; }
done

run=$(mktemp -d "${TMPDIR:-/tmp}/tickcast-cluster.XXXXXX")
pids=()
names=()

# spawn NAME COMMAND...: runs COMMAND in the background, output in $run/NAME.log.
spawn() {
    local name=$1
    shift
    "$@" >"$run/$name.log" 2>&1 &
    pids+=("$!")
    names+=("$name")
    echo "$!" >"$run/$name.pid"
}
pid_of() { cat "$run/$1.pid"; }
alive() { kill -0 "$(pid_of "$1")" 2>/dev/null; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if ((${#pids[@]})); then
        log "stopping ${names[*]}"
        kill -TERM "${pids[@]}" 2>/dev/null || true
        local p left
        for _ in {1..50}; do
            left=0
            for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
            ((left)) || break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
        wait 2>/dev/null || true
    fi
    if ((keep)); then
        log "logs kept in $run"
    else
        rm -rf "$run"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail MESSAGE: the last lines of the logs of processes that died, then exit 1.
fail() {
    local name
    printf 'FAIL: %s\n' "$*" >&2
    for name in "${names[@]}"; do
        alive "$name" && continue
        printf -- '--- %s (exited) %s.log:\n' "$name" "$name" >&2
        tail -n 15 "$run/$name.log" >&2 || true
    done
    exit 1
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true; }
http_ok() { [[ $(http_code "$1") == 200 ]]; }

# wait_until SECONDS WHAT PROCESS COMMAND...: polls COMMAND every 50 ms; fails after SECONDS
# or when PROCESS exited.
wait_until() {
    local limit=$1 what=$2 proc=$3
    shift 3
    local deadline
    deadline=$(($(now_ms) + limit * 1000))
    until "$@"; do
        [[ -n $proc ]] && ! alive "$proc" && fail "$proc exited while waiting for $what"
        (($(now_ms) < deadline)) || fail "$what: not within $limit s"
        sleep 0.05
    done
}

# HAProxy's view of the nodes: "node-1 UP" lines, from its stats page (CSV).
lb_states() {
    { curl -s --max-time 1 "http://127.0.0.1:$stats_port/;csv" || true; } |
        awk -F, '$1 == "nodes" && $2 ~ /^node-/ { print $2, $18 }'
}
lb_up() { lb_states | grep -qx "$1 UP"; }
lb_up_count() { lb_states | grep -c ' UP$' || true; }

log "run folder $run"

# --- NATS: three servers, one cluster, JetStream ------------------------------------------
for i in 1 2 3; do
    mkdir -p "$run/nats-$i"
    spawn "nats-$i" env TICKCAST_NATS_STORE="$run/nats-$i" nats-server -c "$here/nats-$i.conf"
done
t0=$(now_ms)
for i in 1 2 3; do
    # 200 once the server runs and JetStream has its meta leader.
    wait_until 30 "nats-$i /healthz" "nats-$i" http_ok "http://127.0.0.1:${nats_http_ports[i - 1]}/healthz"
done
log "NATS cluster up, JetStream leader elected ($(($(now_ms) - t0)) ms)"

broker=""
for p in "${nats_ports[@]}"; do broker+="${broker:+,}nats://127.0.0.1:$p"; done

# --- the nodes -----------------------------------------------------------------------------
# They start first, on the empty stream (the first one creates it, 3 replicas), ready at once,
# and take the source's pre-roll as it comes; the load balancer opens once they have read it.
start_node() {
    spawn "node-$1" "$bindir/tickcast-server" --no-simulator --listen "127.0.0.1:$(node_port "$1")" \
        --broker "$broker" --stream-replicas 3
}
for ((i = 1; i <= nodes; i++)); do start_node "$i"; done
t0=$(now_ms)
for ((i = 1; i <= nodes; i++)); do
    wait_until 60 "node-$i /healthz ready" "node-$i" http_ok "http://127.0.0.1:$(node_port "$i")/healthz"
done
log "$nodes nodes ready ($(($(now_ms) - t0)) ms)"

# --- the source ----------------------------------------------------------------------------
sim_args=(--nats "nats://127.0.0.1:${nats_ports[0]}" --stream-replicas 3)
if [[ -n $check ]]; then
    # One topic: the bench's gap count follows one seq per connection.
    sim_args+=(--symbols 1 --arrivals constant)
fi
[[ -n $rate ]] && sim_args+=(--rate "$rate")
[[ -n $preroll ]] && sim_args+=(--preroll "$preroll")
spawn source "$bindir/tickcast-sim" "${sim_args[@]}"
t0=$(now_ms)
if [[ $preroll =~ ^0+[a-z]*$ ]]; then
    sim_up() { grep -q 'tickcast-sim: publishing to' "$run/source.log"; }
else
    sim_up() { grep -q 'tickcast-sim: pre-rolled' "$run/source.log"; }
fi
wait_until 300 "the source's pre-roll" source sim_up
preroll_count=$(grep -o 'pre-rolled [0-9]*' "$run/source.log" | grep -o '[0-9]*$' || true)
log "source: tickcast-sim ${sim_args[*]}: pre-rolled ${preroll_count:-no} messages ($(($(now_ms) - t0)) ms)"

# Let the nodes read the pre-roll before clients come: a trading day of 50 symbols is some
# 250,000 messages, which takes a while on a small machine. Progress every 10 s.
node_received() {
    { curl -s --max-time 1 "http://127.0.0.1:$(node_port "$1")/metrics" || true; } |
        awk '$1 == "tickcast_nats_received_total" { print $2 }'
}
next_report=$((t0 + 10000))
for ((i = 1; i <= nodes; i++)); do
    while (($(node_received "$i") + 0 < ${preroll_count:-0})); do
        alive "node-$i" || fail "node-$i exited while reading the pre-roll"
        t=$(now_ms)
        ((t < t0 + 600000)) || fail "node-$i has not read the pre-roll within 600 s"
        if ((t >= next_report)); then
            progress=""
            for ((j = 1; j <= nodes; j++)); do progress+=" node-$j $(node_received "$j"),"; done
            log "nodes reading the pre-roll ($preroll_count messages):${progress%,}"
            next_report=$((t + 10000))
        fi
        sleep 0.2
    done
done
log "every node has read the pre-roll ($(($(now_ms) - t0)) ms since the source started)"

# --- the load balancer ---------------------------------------------------------------------
{
    cat <<EOF
# Generated by deploy/cluster/run.sh.
# No maxconn: HAProxy derives it from the open-files limit (two descriptors per connection).
global

defaults
    mode tcp
    timeout connect 2s
    timeout client 5m
    timeout server 5m

frontend tickcast
    bind 127.0.0.1:$lb_port
    default_backend nodes

# WebSocket (/ws) and HTTP pass through as TCP. A node takes connections while its GET /healthz
# answers 200: it has a NATS connection and has loaded the history the stream holds.
backend nodes
    balance leastconn
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server check inter 1s fastinter 250ms downinter 500ms fall 2 rise 1
EOF
    for ((i = 1; i <= slots; i++)); do
        echo "    server node-$i 127.0.0.1:$(node_port "$i")"
    done
    cat <<EOF

listen stats
    mode http
    bind 127.0.0.1:$stats_port
    stats enable
    stats uri /
    stats refresh 2s
EOF
} >"$run/haproxy.cfg"
haproxy -c -q -f "$run/haproxy.cfg" || fail "haproxy.cfg does not validate"
spawn haproxy haproxy -db -f "$run/haproxy.cfg"
lb_ready() { [[ $(lb_up_count) -ge $nodes ]] && http_ok "http://127.0.0.1:$lb_port/healthz"; }
wait_until 30 "HAProxy with $nodes nodes UP" haproxy lb_ready
if [[ -n $check ]]; then
    # HAProxy starts every server UP; the late one is DOWN once its checks have failed.
    lb_late_down() { lb_states | grep -qx "node-$slots DOWN"; }
    wait_until 30 "HAProxy marking the not yet started node-$slots DOWN" haproxy lb_late_down
fi

summary() {
    local i
    echo
    echo "tickcast cluster on 127.0.0.1 (run folder $run)"
    echo "  web page       http://127.0.0.1:$lb_port/"
    echo "  WebSocket      ws://127.0.0.1:$lb_port/ws"
    echo "  HAProxy stats  http://127.0.0.1:$stats_port/"
    for ((i = 1; i <= nodes; i++)); do
        printf '  node-%-9s http://127.0.0.1:%s/healthz  pid %s\n' "$i" "$(node_port "$i")" "$(pid_of "node-$i")"
    done
    for i in 1 2 3; do
        printf '  nats-%-9s nats://127.0.0.1:%s  monitor http://127.0.0.1:%s/  pid %s\n' \
            "$i" "${nats_ports[i - 1]}" "${nats_http_ports[i - 1]}" "$(pid_of "nats-$i")"
    done
    printf '  source         tickcast-sim %s  pid %s\n' "${sim_args[*]}" "$(pid_of source)"
    printf '  haproxy        %s/haproxy.cfg  pid %s\n' "$run" "$(pid_of haproxy)"
    echo
}

if [[ -z $check ]]; then
    summary
    echo "Logs: $run/*.log. Ctrl-C stops everything and removes the run folder."
    # Report what changes (a process exits, HAProxy marks a node DOWN or UP) until Ctrl-C.
    declare -A gone=()
    last=$(lb_states)
    while true; do
        sleep 1
        for name in "${names[@]}"; do
            if [[ -z ${gone[$name]:-} ]] && ! alive "$name"; then
                gone[$name]=1
                log "$name (pid $(pid_of "$name")) exited: $run/$name.log"
            fi
        done
        now=$(lb_states)
        if [[ $now != "$last" && -n $now ]]; then
            log "HAProxy: $(echo "$now" | tr '\n' ' ')"
            last=$now
        fi
    done
fi

# --- --check: load through the LB, then a late node ------------------------------------------
summary
node_pids=""
for ((i = 1; i <= nodes; i++)); do node_pids+="${node_pids:+,}$(pid_of "node-$i")"; done
{ curl -s --max-time 1 "http://127.0.0.1:$stats_port/;csv" || true; } >"$run/sessions-before.csv"
log "tickcast-bench: $connections subscribers of ticks.> through ws://127.0.0.1:$lb_port/ws for $check s"
"$bindir/tickcast-bench" --url "ws://127.0.0.1:$lb_port/ws" -c "$connections" --topic 'ticks.>' \
    --duration "$check" --warmup 2 --expect-rate "$rate" --server-pid "$node_pids" \
    --label "cluster: $nodes nodes behind HAProxy" --json "$run/bench.json" | tee "$run/bench.txt" ||
    fail "tickcast-bench failed"
read -r delivered gaps out_of_order lagged subscribed failed dropped cpu < <(python3 - "$run/bench.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
d = r["delivery"]
cpu = r["server"]["cpu_pct"] if r.get("server") else 0
print(f'{d["msgs_per_s"]:.0f}', d["gaps"], d["out_of_order"], d["lagged"], r["connect"]["subscribed"],
      r["connect"]["failed"], r["disconnects"]["reading"], f"{cpu:.0f}")
EOF
)
# Connections each node got from HAProxy during the bench (its total sessions, after - before).
spread=$(awk -F, -v n="$nodes" 'FNR == NR { if ($1 == "nodes") before[$2] = $8; next }
    $1 == "nodes" && $2 ~ /^node-/ && substr($2, 6) + 0 <= n { printf "%s%s %d", sep, $2, $8 - before[$2]; sep = ", " }' \
    "$run/sessions-before.csv" <({ curl -s --max-time 1 "http://127.0.0.1:$stats_port/;csv" || true; }))

# The newest tick seq a node holds (one topic with --check), "?" when it has none.
topic_seq() {
    { curl -s --max-time 1 "http://127.0.0.1:$1/topics" || true; } | python3 -c '
import json, sys
seqs = [t["seq"] for t in json.load(sys.stdin) if t["topic"].startswith("ticks.")]
print(max(seqs, default="?"))' 2>/dev/null || echo "?"
}
late=node-$slots
late_port=$(node_port "$slots")
log "starting $late late, on 127.0.0.1:$late_port"
t0=$(now_ms)
start_node "$slots"
caught_ms=""
ready_ms=""
lb_ms=""
deadline=$((t0 + 120000))
while alive "$late" && (($(now_ms) < deadline)); do
    # Caught up: it holds node-1's newest tick (read just before).
    if [[ -z $caught_ms ]]; then
        seq_first=$(topic_seq "$(node_port 1)")
        seq_late=$(topic_seq "$late_port")
        if [[ $seq_first =~ ^[0-9]+$ && $seq_late =~ ^[0-9]+$ ]] && ((seq_late >= seq_first)); then
            caught_ms=$(($(now_ms) - t0))
        fi
    fi
    if [[ -z $ready_ms ]] && http_ok "http://127.0.0.1:$late_port/healthz"; then
        ready_ms=$(($(now_ms) - t0))
    fi
    if [[ -n $ready_ms && -z $lb_ms ]] && lb_up "$late"; then
        lb_ms=$(($(now_ms) - t0))
    fi
    [[ -n $caught_ms && -n $lb_ms ]] && break
    sleep 0.05
done

ok=1
echo
echo "== check summary ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "cluster          3 nats-servers (JetStream, R3), 1 source at $rate ticks/s on one topic, $nodes nodes, HAProxy"
echo "subscribers      $subscribed of $connections subscribed through 127.0.0.1:$lb_port ($failed failed); HAProxy sessions per node: $spread"
echo "delivered        $delivered ticks/s through the cluster (all subscribers together; node CPU $cpu % of one core)"
echo "anomalies        $gaps gaps, $out_of_order out of order, $lagged lagged, $dropped subscribers dropped"
if [[ -n $caught_ms ]]; then
    echo "late node        $late holds node-1's newest tick $caught_ms ms after its start"
else
    echo "late node        $late never held node-1's newest tick (within 120 s)"
fi
if [[ -n $ready_ms ]]; then
    echo "                 /healthz ready $ready_ms ms after its start (history loaded from JetStream); HAProxy UP at ${lb_ms:-never} ms"
else
    echo "                 /healthz never ready (within 120 s)"
    ok=0
fi
((gaps == 0 && out_of_order == 0)) || ok=0
((subscribed > 0 && delivered > 0)) || ok=0
if ((ok)); then
    echo "result           OK"
else
    echo "result           FAIL"
    fail "the check failed (see above)"
fi
