#!/usr/bin/env bash
# The main job: run the quickstart flow end to end on the embedded default stack
# (a local folder and a SQLite file, nothing else), then show the recorded run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --extra examples
.venv/bin/lamina run examples/quickstart/flow.py
.venv/bin/lamina show quickstart/latest
