"""The overhead benchmark runs end to end at a tiny size (the real size is run by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_dask_overhead_benchmark_runs_quick() -> None:
    proc = subprocess.run(
        [sys.executable, "benchmarks/dask_overhead.py", "--quick"], cwd=REPO,
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| lamina foreach on `dask` compute |" in proc.stdout
    assert "Per-task overhead, lamina / plain Dask" in proc.stdout
