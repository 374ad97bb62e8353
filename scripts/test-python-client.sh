#!/usr/bin/env bash
# Tests the Python client library (clients/python/, package `tickcast`) against the real
# tickcast-server: builds the server (debug), makes a venv in $TARGET/venv-pylib, installs
# ./clients/python[test,docs] into it (websockets, msgpack, pytest, pytest-asyncio,
# pytest-timeout, mypy, pdoc), type-checks the package with mypy --strict, checks
# `python -m pydoc tickcast`, generates the API reference (scripts/api-docs.sh python), and
# runs pytest. Installs openssl (the wss:// test) and nats-server (the cluster test) when
# missing and makes them required: without them those tests fail instead of skipping. Any
# failure exits non-zero with the failing step named.
# TICKCAST_SERVER=/path/to/tickcast-server tests that binary instead of building one;
# TICKCAST_PY_VENV=DIR uses that venv instead of $TARGET/venv-pylib.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
venv=${TICKCAST_PY_VENV:-$target/venv-pylib}

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'FAIL: test-python-client: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/ensure-cmd.sh
source scripts/ensure-cmd.sh
ensure_cmd openssl || fail "openssl (for the wss:// test) is missing and could not be installed"
ensure_cmd nats-server nats-server || fail "nats-server (for the cluster test) is missing and could not be installed"
export TICKCAST_REQUIRE_OPENSSL=1 TICKCAST_REQUIRE_NATS=1

if [[ -n ${TICKCAST_SERVER:-} ]]; then
    [[ -x $TICKCAST_SERVER ]] || fail "TICKCAST_SERVER=$TICKCAST_SERVER is not an executable"
    log "testing against $TICKCAST_SERVER (not building)"
else
    log "building tickcast-server"
    cargo build -p tickcast-server --bin tickcast-server || fail "cargo build -p tickcast-server"
    export TICKCAST_SERVER=$target/debug/tickcast-server
fi

if [[ ! -x $venv/bin/python ]]; then
    log "creating $venv"
    python3 -m venv "$venv" || { apt-get install -y python3-venv && python3 -m venv "$venv"; } \
        || fail "python3 -m venv $venv"
fi
log "installing ./clients/python[test,docs] into $venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps ./clients/python \
    || fail "pip install ./clients/python"
"$venv/bin/pip" install --quiet --disable-pip-version-check './clients/python[test,docs]' \
    || fail "pip install ./clients/python[test,docs]"

log "mypy --strict"
"$venv/bin/python" -m mypy --config-file clients/python/pyproject.toml clients/python/src/tickcast \
    || fail "mypy --strict found type errors"

log "python -m pydoc tickcast"
"$venv/bin/python" -m pydoc tickcast >/dev/null || fail "python -m pydoc tickcast"

log "API reference (scripts/api-docs.sh python)"
TICKCAST_PY_VENV=$venv scripts/api-docs.sh python || fail "scripts/api-docs.sh python"

log "pytest clients/python/tests"
(cd clients/python && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests) \
    || fail "pytest (clients/python/tests)"
echo "test-python-client: all passed"
