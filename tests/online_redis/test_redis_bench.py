"""The Redis online-lookup benchmark runs end to end at its quick size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run([sys.executable, "benchmarks/online_redis.py", "--quick",
                           "--doc", str(doc)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = doc.read_text()
    assert "<!-- bench:online_redis -->" in text
    assert "| lamina (redis online store) |" in text
    assert "| 100 |" in text  # every key found: the TTL keeps the fresh rows
