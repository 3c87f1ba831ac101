#!/usr/bin/env bash
# Every test: sets up the environment from scratch if needed, lints, type-checks, runs the suite.
# With no arguments (CI) it also runs what stands in for macOS and Windows (docs/platforms.md):
# the runtime tests with spawned workers, and the core's tests on the newest CPython (3.13).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
scripts/bootstrap.sh --group dev --extra examples
.venv/bin/ruff check .
.venv/bin/mypy          # the core, plugins and contrib type-check (config in pyproject.toml)
.venv/bin/mypy --platform darwin    # ... as on macOS
.venv/bin/mypy --platform win32     # ... and as on Windows
.venv/bin/lint-imports  # import contracts: plugins use only lamina.sdk; the kernel imports no layer
.venv/bin/python -m pytest "$@"
if [ $# -eq 0 ]; then
    # Workers started as on macOS and Windows: the local-runtime, resume, cache and datastore tests.
    LAMINA_START_METHOD=spawn .venv/bin/python -m pytest -q -p no:cacheprovider \
        tests/test_runtime.py tests/test_resume.py tests/test_versioning.py \
        tests/test_datastore_file.py tests/test_datastore_portable.py
    # The core's tests on CPython 3.13, in an environment of its own.
    UV_PROJECT_ENVIRONMENT=.venv-py313 PYTHON_VERSION=3.13 \
        scripts/bootstrap.sh --group dev --extra examples
    .venv-py313/bin/python -m pytest -q -p no:cacheprovider tests/test_*.py
fi
