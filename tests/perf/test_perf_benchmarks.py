"""Each benchmark script runs end to end on its tiny size (``--quick``), against Metaflow
too when its environment is built, and prints its table; ``run_all`` finds them all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "benchmarks"


def _quick(script: str, *extra: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *extra],
        cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_wide_foreach_benchmark_runs_both_sides_on_a_tiny_size() -> None:
    out = _quick("runtime_foreach.py")
    assert "| 10 |" in out and "lamina per task" in out


@pytest.mark.slow
def test_scale_benchmark_reports_time_and_memory() -> None:
    out = _quick("runtime_scale.py")
    row = next(line for line in out.splitlines() if line.startswith("| 10 x 10 = 100"))
    assert row.count("MB") == 2


@pytest.mark.slow
def test_big_artifact_benchmark_stores_the_same_value_once() -> None:
    out = _quick("artifacts_big.py")
    assert "new bytes written: none" in out
    assert "new objects: 0" in out
    # the Arrow comparison: one row per consecutive run, with its load and ratio
    row = next(line for line in out.splitlines() if line.startswith("| 1 | "))
    assert row.count(" ms") == 4 and len(re.findall(r"\d\.\d\dx", row)) == 2
    assert "of feather in" in out and " of 1 runs." in out


@pytest.mark.slow
def test_client_benchmark_reads_results_and_lists_runs() -> None:
    out = _quick("client_read.py")
    assert "list 200 runs of one flow" in out and "the 20 results" in out


@pytest.mark.slow
def test_startup_benchmark_prints_the_budgets() -> None:
    out = _quick("startup.py", "--no-metaflow")
    assert "`lamina --help`" in out and "Budgets:" in out


def test_run_all_finds_every_benchmark_and_rejects_unknown_names() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        import run_all
    finally:
        sys.path.remove(str(BENCH))
    names = {p.stem for p in run_all.benchmark_scripts()}
    assert {"runtime_foreach", "runtime_scale", "artifacts_big", "client_read",
            "startup"} <= names
    assert not {"common", "report", "run_all"} & names
    assert run_all.main(["no_such_benchmark"]) == 2


def test_start_methods_benchmark_runs_every_method_on_a_tiny_size() -> None:
    out = _quick("runtime_start_methods.py")
    assert "| `fork` |" in out and "| `spawn` |" in out
    assert "`uptime` before the runs: load average" in out


@pytest.mark.slow
def test_ab_report_benchmark_reads_every_row_on_a_tiny_size() -> None:
    out = _quick("ab_report.py")
    assert "over 100,000 predictions and 100,000 outcomes" in out
    for side in ("lamina `ab_report`", "floor (bare pyarrow)"):
        for credit in ("with", "without"):
            assert f"| {side}, outcomes {credit} credit |" in out


def test_foreach_floor_benchmark_runs_lamina_and_its_floor_side_by_side() -> None:
    out = _quick("foreach_floor.py")
    row = next(line for line in out.splitlines() if line.startswith("| 50 |"))
    assert row.count("x |") == 2 and row.rstrip().endswith("MB |")  # wall and CPU ratios
    assert "Targets: 1,000 tasks at most 2x the floor" in out
