"""The gc benchmark runs end to end on its tiny size (``--quick``): it builds a store,
runs ``lamina gc --dry-run`` and ``lamina gc``, and checks what they deleted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "gc.py"


def test_gc_benchmark_quick(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "| lamina gc | " in proc.stdout
    assert "| 150 | 1,500 of 2,011 |" in proc.stdout, proc.stdout
