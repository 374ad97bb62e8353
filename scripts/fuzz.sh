#!/usr/bin/env bash
# Bounded fuzzing with cargo-fuzz (libFuzzer + AddressSanitizer) on the machine's stable
# toolchain: cargo-fuzz only needs nightly *flags* (-Zsanitizer, sancov passes), which
# stable rustc accepts with RUSTC_BOOTSTRAP=1. Targets (fuzz/fuzz_targets/):
#   proto_decode  decode_client/decode_server on arbitrary bytes, both encodings; round trips
#   proto_topic   Pattern/validate_topic parsing; matches/covers consistency (token scopes)
#   ws_frames     arbitrary client bytes after the handshake into a real server on loopback
#
# Env: FUZZ_SECONDS per target (default 30), FUZZ_TARGETS (default: all three),
# FUZZ_PROFILE (dev or release; default: dev for runs of 60 s or less, as CI's short run:
# its cold build takes about 160 s on 2 cores against about 450 s optimised, which pays off
# only in longer runs).
# Corpora grow in fuzz/corpus/<target> (not committed) from fuzz/seeds/<target>. A crash
# fails the script; the input is in fuzz/artifacts/<target>/: turn it into a regression
# test (proto/tests/it or server/tests/it/hostile.rs) before fixing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/fuzz"
seconds=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-proto_decode proto_topic ws_frames}
profile=${FUZZ_PROFILE:-$( ((seconds <= 60)) && echo dev || echo release)}
case $profile in
    dev) profile_flag=--dev ;;
    release) profile_flag=-O ;;
    *) echo "FAIL: FUZZ_PROFILE must be dev or release" >&2; exit 1 ;;
esac
cargo_fuzz_version=0.13.2
logs=${CARGO_TARGET_DIR:-$root/target}/fuzz-logs
mkdir -p "$logs"

log() { printf '== %s\n' "$*" >&2; }

if ! cargo fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
    log "installing cargo-fuzz $cargo_fuzz_version"
    cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi
export RUSTC_BOOTSTRAP=1

started=$SECONDS
log "building fuzz targets ($profile + ASan)"
cargo fuzz build "$profile_flag"
log "built in $((SECONDS - started)) s"

for target in $targets; do
    mkdir -p "corpus/$target" "seeds/$target"
    log "fuzzing $target for $seconds s"
    t0=$SECONDS
    # -timeout: one input that takes 10 s is a hang (ws_frames waits at most 5 s per input).
    if ! cargo fuzz run "$profile_flag" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        >"$logs/$target.log" 2>&1; then
        grep -v '^"' "$logs/$target.log" | tail -n 60 >&2
        log "FAIL: $target found a crash: see fuzz/artifacts/$target/"
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$target.log" | grep -o '[0-9]*$' || echo '?')
    log "$target: $runs inputs in $((SECONDS - t0)) s, no crash"
done
log "fuzzing passed ($((SECONDS - started)) s)"
