"""The S3 transfer benchmark runs end to end at its quick size and writes its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "s3_transfer.py"


@pytest.mark.slow
def test_quick_benchmark_writes_its_section(tmp_path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--doc", str(doc)],
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr
    text = doc.read_text()
    assert "<!-- bench:s3_transfer -->" in text
    assert "python benchmarks/s3_transfer.py --quick" in text
    for column in ("lamina store", "boto3 upload", "lamina load", "boto3 download",
                   "store ratio", "load ratio"):
        assert column in text
    assert "| 16 MiB | 1 |" in text, "every round is shown"
    assert "| 16 MiB | **median** |" in text
    assert "16 MiB round 1: store" in proc.stdout, "every round is printed"
