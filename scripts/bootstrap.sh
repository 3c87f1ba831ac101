#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv with uv.
# Needs only Python 3.11+ and pip; installs uv with pip when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -m uv --version >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet --disable-pip-version-check uv
fi
export UV_COMPILE_BYTECODE=1        # compiled once at install: imports are fast afterwards
"$PYTHON" -m uv sync --quiet --python "$PYTHON" --all-packages "$@"
