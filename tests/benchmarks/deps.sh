#!/usr/bin/env bash
# `make bench-deps`: what the benchmark needs beyond the project's own dependencies.
#
#   wrk, redis-server        Debian packages (apt-get; needs root or sudo)
#   py-spy, waitress         PyPI, into $SEEDANCE_BENCH_HOME/pydeps (pip --target), so the
#                            project's .venv is left as `make` built it (granian is a
#                            dependency of the project itself); waitress is one more
#                            production WSGI server for the serving-options table
#   Prism, WireMock          npm, into $SEEDANCE_BENCH_HOME/peers
#
# $SEEDANCE_BENCH_HOME defaults to ~/.cache/seedance-mock-bench (outside the work tree,
# so nothing here reaches git, the sdist or pytest's collection). Each step is skipped
# when its tool is already there; a step that fails is reported and the benchmark
# skips what it would have provided (only wrk is required).
set -uo pipefail

PYTHON=${PYTHON:-.venv/bin/python}
HOME_DIR=${SEEDANCE_BENCH_HOME:-$HOME/.cache/seedance-mock-bench}
mkdir -p "$HOME_DIR"

say() { printf 'bench-deps: %s\n' "$*"; }

apt_install() {
    local runner=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null; then runner=(sudo -n); else
            say "cannot install $* (not root, no sudo)"; return 1
        fi
    fi
    if [ ! -e /tmp/.seedance-bench-apt-updated ]; then
        "${runner[@]}" apt-get update -qq && touch /tmp/.seedance-bench-apt-updated
    fi
    DEBIAN_FRONTEND=noninteractive "${runner[@]}" apt-get install -y -qq "$@" >/dev/null
}

command -v wrk >/dev/null || { say "installing wrk"; apt_install wrk || say "wrk: install failed (required)"; }
command -v redis-server >/dev/null || {
    say "installing redis-server"; apt_install redis-server || say "redis-server: install failed (redis rows will be skipped)"
}

# one pip call for both: `pip --target --upgrade` replaces the target's bin/ whole, so
# installing one after the other would remove the first one's script
if [ ! -x "$HOME_DIR/pydeps/bin/py-spy" ] || [ ! -d "$HOME_DIR/pydeps/waitress" ]; then
    say "installing py-spy and waitress into $HOME_DIR/pydeps"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --upgrade \
        --target "$HOME_DIR/pydeps" 'py-spy>=0.4' 'waitress>=3' \
        || say "py-spy, waitress: install failed (profile_server.py and the waitress rows need them)"
fi

if [ ! -x "$HOME_DIR/peers/node_modules/.bin/prism" ] || [ ! -x "$HOME_DIR/peers/node_modules/.bin/wiremock" ]; then
    if command -v npm >/dev/null; then
        say "installing @stoplight/prism-cli and wiremock into $HOME_DIR/peers"
        mkdir -p "$HOME_DIR/peers"
        [ -f "$HOME_DIR/peers/package.json" ] || echo '{"private": true}' > "$HOME_DIR/peers/package.json"
        (cd "$HOME_DIR/peers" && npm install --no-audit --no-fund --loglevel=error \
            '@stoplight/prism-cli@5' 'wiremock@3') \
            || say "npm install failed: the peers that did not install will be skipped"
    else
        say "npm is not installed: Prism and WireMock will be skipped"
    fi
fi
command -v java >/dev/null || say "java is not installed: WireMock will be skipped"
exit 0
