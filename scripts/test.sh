#!/usr/bin/env bash
# Every test: sets up the environment from scratch if needed, lints, type-checks, runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/bootstrap.sh --group dev --extra examples
.venv/bin/ruff check .
.venv/bin/mypy          # the core type-checks (config in pyproject.toml)
.venv/bin/python -m pytest "$@"
