"""The benchmark script runs end to end at its quick size, and the feature store's modules
stay light to import."""

from __future__ import annotations

import json
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
    assert "Time ratio run by run" in text and "20,000 x 20,000: tie rule " in text
    assert "lamina's DuckDB engine on the same view" in text


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


SECTION = """<!-- bench:features_pit -->
## Feature store: point-in-time join and online lookup

Versions: duckdb 2.0.1, lamina 0.1.0 (Feast 0.67.0 in the earlier run).

| entity x feature rows | raw DuckDB ASOF | lamina, tie rule | ratio | lamina, no created column | ratio | DuckDB peak RSS | lamina peak RSS (tie rule / none) | RSS ratio | Feast 0.67 local |
|---|---|---|---|---|---|---|---|---|---|
| 1,000,000 x 1,000,000 | 0.73 s | 1.24 s | 1.71x | 1.00 s | 1.37x | 320 MiB | 398 / 351 MiB | 1.24x / 1.10x | killed after 1010 s in an earlier run |
| 1,000,000 x 10,000,000 | 2.82 s | 3.78 s | 1.34x | 3.59 s | 1.27x | 1116 MiB | 1203 / 1173 MiB | 1.08x / 1.05x | not run |

Online lookup of 100 keys: lamina (SQLite online store) 0.453 ms; Feast 0.67 (SQLite online store) 26.7 ms in the earlier run.

The Feast columns are not rerun here: they take a quarter of an hour.
<!-- /bench:features_pit -->
"""


def test_a_run_without_feast_keeps_the_earlier_feast_results(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n" + SECTION + "\n## after\n")
    row = {"duckdb_s": 0.7, "lamina_s": 0.8, "bare_s": 0.75, "duckdb_mib": 300,
           "lamina_mib": 310, "bare_mib": 305, "lamina_rows": 10, "lamina_nonnull": 5,
           "duckdb_nonnull": 9, "duckdb_cpu": 1.0, "lamina_cpu": 1.1, "bare_cpu": 1.05}
    results = {"quick": False, "reps": 3, "machine": "m", "calls": 1000,
               "versions": {"duckdb": "2.0.1", "lamina": "0.1.0"}, "online_rows": 100_000,
               "online": {"lamina": {"median_ms": 0.4}},
               "rows": [dict(row, case="1,000,000 x 1,000,000"),
                        dict(row, case="1,000,000 x 10,000,000")]}
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(results))
    for _ in range(2):  # twice: what is kept survives being kept
        subprocess.run([sys.executable, "benchmarks/features_pit.py", "--render", str(saved),
                        "--doc", str(doc)], cwd=REPO, capture_output=True, text=True,
                       timeout=120, check=True)
    text = doc.read_text()
    assert "| 0.70 s | 0.80 s | 1.14x |" in text
    assert "| killed after 1010 s in an earlier run |" in text
    assert text.count("| not run |") == 1
    assert "lamina 0.1.0 (Feast 0.67.0 in the earlier run)." in text
    assert ("0.400 ms; Feast 0.67 (SQLite online store) 26.7 ms in the earlier run."
            in text)
    assert "The Feast columns are not rerun here: they take a quarter of an hour." in text
    assert text.endswith("\n## after\n")
