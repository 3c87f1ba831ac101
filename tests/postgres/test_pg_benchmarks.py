"""The team-store benchmarks run end to end on their tiny size (``--quick``) against the
test session's PostgreSQL server, and print their tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _quick(script: str, server_url: str, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", "--server", server_url, *extra],
        cwd=BENCH.parent, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_metadata_postgres_benchmark_on_a_tiny_size(pg_server) -> None:
    out = _quick("metadata_postgres.py", pg_server.url())
    assert "| `lamina run grid.py`: 10 x 10 = 100-task product foreach |" in out
    assert "200 runs" in out


@pytest.mark.slow
def test_teams_read_benchmark_on_a_tiny_size(pg_server) -> None:
    out = _quick("teams_read.py", pg_server.url(), "--no-metaflow")
    assert "| then the latest run of a flow plus one artifact (connect, query, load) |" in out
    assert "| list 200 runs of one flow (after imports) |" in out
    assert "Metaflow (local)" in out
