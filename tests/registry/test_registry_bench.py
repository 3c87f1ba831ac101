"""The model-checks benchmark's quick mode runs and both sides agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_model_checks_benchmark_quick_mode() -> None:
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(repo / "benchmarks" / "model_checks.py"),
                          "--quick"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["rows"] == 20_000 and result["slices"] == 20 and result["same_answers"]
    assert set(result["seconds"]) == {"lamina", "pandas"}
