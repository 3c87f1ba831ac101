"""The UI benchmark runs end to end on its tiny size and reports every page and the RSS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.slow
def test_ui_benchmark_reports_server_times_and_memory() -> None:
    done = subprocess.run([sys.executable, str(BENCH / "ui_pages.py"), "--quick"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and " ms |" in line]
    assert len(rows) == 5
    assert any("runs list, first page (50 of 201 runs)" in r for r in rows)
    assert any("run page of a 103-task run" in r for r in rows)
    assert "MB idle after start" in done.stdout
