#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with uv.
# Needs only Python 3.11+ and pip; installs uv with pip when it is missing.
# PYTHON_VERSION=3.13 builds the environment on that CPython instead (found on the machine,
# else installed by uv); UV_PROJECT_ENVIRONMENT=DIR puts it in DIR instead of .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
BASE="${BASE_PYTHON:-python3}"      # the Python that runs uv
if ! "$BASE" -m uv --version >/dev/null 2>&1; then
    "$BASE" -m pip install --quiet --disable-pip-version-check uv
fi
uv() { "$BASE" -m uv "$@"; }

# An interpreter of version $1: on PATH, known to uv, installed by pyenv, else installed by uv.
find_python() {
    local v="$1" found
    if "python$v" -c "" >/dev/null 2>&1; then command -v "python$v"; return; fi
    if found="$(uv python find --no-python-downloads "$v" 2>/dev/null)"; then echo "$found"; return; fi
    for found in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
        if [ -x "$found" ]; then echo "$found"; return; fi
    done
    uv python install --quiet "$v" >&2
    uv python find --no-python-downloads "$v"
}
if [ -n "${PYTHON_VERSION:-}" ]; then
    PYTHON="$(find_python "$PYTHON_VERSION")"
fi

export UV_COMPILE_BYTECODE=1        # compiled once at install: imports are fast afterwards
uv sync --quiet --python "$PYTHON" --all-packages "$@"
