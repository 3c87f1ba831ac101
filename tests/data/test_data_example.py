"""examples/data: make the database, run the flow, run it again from the cache, change the
data and see the read computed again; all through the CLI, as its README says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    done = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**env, "NO_COLOR": "1", "COLUMNS": "200"})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_data_example_reads_sqlite_and_reuses_an_unchanged_read(tmp_path: Path) -> None:
    example = tmp_path / "data"
    shutil.copytree(REPO / "examples" / "data", example,
                    ignore=shutil.ignore_patterns("*.db", ".lamina"))
    assert "3000 orders" in _run(example, "make_db.py")
    first = _run(example, "-m", "lamina", "run", "flow.py")
    assert "flow shop  succeeded" in first and "data inputs" in first
    assert "shop (sqlite): select region, amount from orders" in first
    import sqlite3

    with sqlite3.connect(example / "reports.db") as db:
        assert [r[0] for r in db.execute("select region from region_totals")] == [
            "apac", "eu", "us"]
    again = _run(example, "-m", "lamina", "run", "flow.py", "--cache")
    assert "orders   1      reused" in again and "publish  1      reused" in again
    _run(example, "make_db.py")  # a new version of shop.db (same rows)
    third = _run(example, "-m", "lamina", "run", "flow.py", "--cache")
    assert "orders   1      succeeded" in third and "changed since" in third
    assert "totals   1      reused" in third, "same rows read: the next step is reused"
