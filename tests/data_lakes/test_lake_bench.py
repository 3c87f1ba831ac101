"""The lake-pruning benchmark runs end to end at its quick size and keeps its bar."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_reads_under_three_percent_of_the_lake(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, "benchmarks/lake_pruning.py", "--quick",
                           "--doc", str(doc)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = doc.read_text()
    assert "<!-- bench:lake_pruning -->" in text
    assert "| lamina `parquet` source |" in text and "| bare pyarrow.dataset" in text
    assert "under the 3% bar" in text
