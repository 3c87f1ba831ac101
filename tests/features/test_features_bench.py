"""The benchmark script runs end to end at its quick size, and the feature store's modules
stay light to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_writes_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    proc = subprocess.run(
        [sys.executable, "benchmarks/features_pit.py", "--quick", "--data", str(tmp_path / "d"),
         "--doc", str(doc)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = doc.read_text()
    assert "<!-- bench:features_pit -->" in text
    assert "| 20,000 x 20,000 |" in text and "| 20,000 x 100,000 |" in text
    assert "Online lookup of 100 keys" in text and "lamina (SQLite online store)" in text


def test_definitions_and_plugin_do_not_import_heavy_modules() -> None:
    code = (
        "import sys, lamina.features, lamina.builtin.features_plugin\n"
        "from lamina.features import Entity, Feature, FeatureView, FeatureService\n"
        "FeatureView('v', entities=[Entity('e')], source='x.parquet', features=['f'])\n"
        "heavy = [m for m in ('duckdb', 'pyarrow', 'pandas', 'numpy') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.strip() == "[]"
