"""The Dask join benchmark runs end to end at its quick size and finds the two training
sets equal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, "benchmarks/features_dask.py", "--quick",
                           "--data", str(tmp_path / "data"), "--doc", str(doc)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = doc.read_text()
    assert "<!-- bench:features_dask -->" in text
    assert "Training sets equal row by row: **True** (20,000 rows)" in text
    assert "| Dask, 2 workers |" in text
