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
    for row in ("lamina store", "boto3 `upload_file`", "lamina load", "boto3 `download_file`"):
        assert row in text
    assert "Throughput ratio lamina / boto3: store **" in text
