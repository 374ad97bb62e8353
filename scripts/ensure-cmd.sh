# Sourced by scripts that need system tools: `ensure_cmd CMD [DEBIAN-PACKAGE]` installs the
# package when CMD is missing (as root, or with sudo). Needs a `log` function.
ensure_cmd() {
    local cmd=$1 pkg=${2:-$1}
    command -v "$cmd" >/dev/null 2>&1 && return 0
    log "installing $pkg (needed for $cmd)"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || true
    $sudo apt-get install -y -qq "$pkg" >/dev/null
}
