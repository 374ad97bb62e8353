#!/usr/bin/env bash
# Generates the client libraries' API reference as HTML from their docstrings and type
# declarations, failing on any warning of the generator (a broken link or reference, a
# module that does not import, a type error):
#   python  clients/python/src/tickcast (the package `tickcast`, its public API) with pdoc,
#           into $TARGET/api-docs/python (open index.html);
#   js      clients/js/index.d.ts (and orderbook.d.ts, which it re-exports) with typedoc,
#           into $TARGET/api-docs/js (open index.html).
# $TARGET is ${CARGO_TARGET_DIR:-target}. Usage: scripts/api-docs.sh [python] [js] (default:
# both). scripts/test-python-client.sh and scripts/test-js-client.sh run it, so CI checks it.
# Installs what it needs: pdoc (the extra `docs` of ./clients/python) into the Python suite's
# venv ($TICKCAST_PY_VENV, default $TARGET/venv-pylib; made if missing), and clients/js's
# devDependencies (npm ci: typedoc, TypeScript) when they are missing. Nothing generated is
# committed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
out=$target/api-docs
venv=${TICKCAST_PY_VENV:-$target/venv-pylib}

log() { printf '== %s\n' "$*" >&2; }
fail() { printf 'FAIL: api-docs: %s\n' "$*" >&2; exit 1; }

python_docs() {
    if [[ ! -x $venv/bin/python ]]; then
        log "creating $venv"
        python3 -m venv "$venv" || fail "python3 -m venv $venv"
    fi
    if ! "$venv/bin/python" -c 'import pdoc, websockets, msgpack' 2>/dev/null; then
        log "installing ./clients/python[docs] (pdoc) into $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check './clients/python[docs]' \
            || fail "pip install ./clients/python[docs]"
    fi
    log "pdoc: clients/python/src/tickcast -> $out/python"
    rm -rf "$out/python"
    # -W error: pdoc reports what it cannot document as warnings; each one fails the build.
    "$venv/bin/python" -W error -m pdoc --docformat markdown --footer-text "tickcast (Python)" \
        -o "$out/python" clients/python/src/tickcast \
        || fail "pdoc failed on clients/python/src/tickcast"
    [[ -s $out/python/tickcast.html ]] || fail "pdoc wrote no $out/python/tickcast.html"
}

js_docs() {
    if [[ ! -x clients/js/node_modules/.bin/typedoc ]]; then
        log "npm ci (clients/js devDependencies: typedoc, TypeScript)"
        (cd clients/js && npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed in clients/js"
    fi
    log "typedoc: clients/js/index.d.ts -> $out/js"
    (cd clients/js && npx --no-install typedoc --tsconfig tsconfig.json --treatWarningsAsErrors \
        --logLevel Warn --name "tickcast (JavaScript)" --out "$out/js" index.d.ts) \
        || fail "typedoc failed on clients/js/index.d.ts"
    [[ -s $out/js/classes/Feed.html ]] || fail "typedoc wrote no $out/js/classes/Feed.html"
}

langs=("$@")
[[ ${#langs[@]} -gt 0 ]] || langs=(python js)
for lang in "${langs[@]}"; do
    case $lang in
        python) python_docs ;;
        js) js_docs ;;
        *) fail "unknown library '$lang' (python or js)" ;;
    esac
done
echo "api-docs: ${langs[*]} in $out"
