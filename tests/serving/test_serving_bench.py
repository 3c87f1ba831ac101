"""The throughput benchmark runs end to end at its --quick size, both tables."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from envs_util import REPO

pytestmark = pytest.mark.slow


def test_benchmark_quick_runs_both_servers_and_logs_every_request() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "serving_throughput.py"),
                           "--quick", "--json"], capture_output=True, text=True, timeout=900,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(proc.stdout.splitlines()[0])
    assert summary["lamina"]["rps"] > 0 and summary["mlserver"]["rps"] > 0
    assert summary["logged"] == summary["sent"] > 0
    assert summary["lamina, batching on"]["rps"] > 0 and summary["mlserver, batching on"]["rps"] > 0
    assert "| 1 |" in proc.stdout and "| median |" in proc.stdout  # every round, then medians
    assert "MLServer, batching on" in proc.stdout
    assert "round 1: lamina" in proc.stderr and "mean batch" in proc.stderr
