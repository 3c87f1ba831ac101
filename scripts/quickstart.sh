#!/usr/bin/env bash
# The main job: run the quickstart flow end to end on the embedded default stack
# (a local folder and a SQLite file, nothing else), then print its answer: the models
# ranked by held-out accuracy, the winner, the runner-up, and three commands to try next.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh --extra examples
.venv/bin/lamina run examples/quickstart/flow.py
echo
.venv/bin/python examples/quickstart/leaderboard.py
