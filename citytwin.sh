#!/usr/bin/env bash
# CityTwin on a fresh Debian 12 machine: installs what it needs, then runs.
#   ./citytwin.sh demo    set up, then serve a generated demo city at http://127.0.0.1:8000
#   ./citytwin.sh test    set up, then run the checks and the whole test suite
#   ./citytwin.sh serve   set up, then serve what has been ingested
#   ./citytwin.sh bench   set up, then run the benchmarks (bench/README.md)
#   ./citytwin.sh setup   only set up
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
RUNTIME_APT=(make python3 python3-venv python3-dev build-essential postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting mosquitto redis-server nodejs npm openscenegraph)
BENCH_APT=(wrk nginx-light)
TEST_APT=(chromium fonts-dejavu-core fonts-wqy-microhei gdal-bin)

log() { printf '\033[1;34m[citytwin]\033[0m %s\n' "$*" >&2; }

apt_install() {
    local missing=()
    for pkg in "$@"; do
        case "$pkg" in
            nodejs) command -v node >/dev/null 2>&1 && continue ;;
            npm) command -v npm >/dev/null 2>&1 && continue ;;
            python3) command -v python3 >/dev/null 2>&1 && continue ;;
            python3-venv) python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && continue ;;
            python3-dev) python3 -c 'import sysconfig,os,sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' >/dev/null 2>&1 && continue ;;
            build-essential) command -v gcc >/dev/null 2>&1 && continue ;;
            make) command -v make >/dev/null 2>&1 && continue ;;
        esac
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

python_env() {
    local stamp=".venv/.citytwin-installed"
    local want
    want=$(sha256sum pyproject.toml | cut -c1-16)
    if [ ! -x .venv/bin/python ]; then
        log "creating the Python environment in .venv"
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "installing Python dependencies"
        .venv/bin/pip install -q --upgrade pip >/dev/null
        .venv/bin/pip install -q -e ".[dev]"
        echo "$want" > "$stamp"
    fi
}

viewer_env() {
    local stamp="web_viewer/node_modules/.citytwin-installed"
    local want
    want=$(sha256sum web_viewer/package-lock.json | cut -c1-16)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        log "installing the viewer's npm packages (CesiumJS)"
        (cd web_viewer && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" > "$stamp"
    fi
}

setup() {
    apt_install "${RUNTIME_APT[@]}"
    python_env
    viewer_env
}

cmd="${1:-demo}"
shift || true
case "$cmd" in
    setup) setup ;;
    demo) setup; exec .venv/bin/citytwin demo "$@" ;;
    serve) setup; exec .venv/bin/citytwin serve "$@" ;;
    test)
        setup
        apt_install "${TEST_APT[@]}"
        log "ruff"; .venv/bin/ruff check .
        log "import contracts"; .venv/bin/lint-imports
        log "mypy"; .venv/bin/mypy
        log "pytest"; exec .venv/bin/python -m pytest "$@"
        ;;
    bench) setup; apt_install "${BENCH_APT[@]}"; exec .venv/bin/python -m bench "$@" ;;
    *) echo "usage: $0 demo|test|serve|bench|setup [args]" >&2; exit 2 ;;
esac
