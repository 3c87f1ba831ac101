#!/usr/bin/env bash
# Every test: sets up the environment from scratch if needed, lints, type-checks, runs the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/bootstrap.sh --group dev --extra examples
.venv/bin/ruff check .
.venv/bin/mypy          # the core, plugins and contrib type-check (config in pyproject.toml)
.venv/bin/lint-imports  # import contracts: plugins use only lamina.sdk; the kernel imports no layer
.venv/bin/python -m pytest "$@"
