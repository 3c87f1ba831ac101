"""Drift detection on generated data: the shifts the issue names are found, unchanged
columns are not, over several seeds; the effect floor and overrides work."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from monitoring_util import SHIFTED, make_table

from lamina.errors import ConfigError
from lamina.monitoring import ColumnOptions, MonitorOptions, analyze

ROWS = 100_000


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_all_five_shifts_flagged_and_no_unchanged_column(seed: int) -> None:
    reference = make_table(ROWS, seed, shifted=False)
    current = make_table(ROWS, seed + 100, shifted=True)
    report = analyze(reference, current)
    assert len(report.columns) == 25
    assert sorted(report.drifted_columns) == sorted(SHIFTED)
    by_name = {c["column"]: c for c in report.columns}
    assert by_name["count_0"]["method"] == "ks"          # Poisson 3 -> 3.1, a count column
    assert by_name["count_0"]["pvalue"] < 1e-10
    assert by_name["cat_1"]["new_categories"] == ["new"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_unchanged_data_flags_nothing(seed: int) -> None:
    # Independent samples of the same distributions: 100k rows, 25 columns, discrete ones
    # among them. No column may be flagged (multiple comparisons and ties handled).
    report = analyze(make_table(ROWS, seed, shifted=False), make_table(ROWS, seed + 50, shifted=False))
    assert report.drifted_columns == []
    assert report.quality_issues == []
    assert not report.dataset_drift


@pytest.mark.slow
def test_discrete_column_unflagged_where_uncorrected_per_column_tests_would_fire() -> None:
    # Over many seeds, some unchanged column's raw p-value falls under 0.05 (what a
    # per-column test without correction flags); the Holm-adjusted decision does not.
    raw_hits = 0
    for seed in range(20, 26):
        ref = make_table(20_000, seed, shifted=False)
        cur = make_table(20_000, seed + 50, shifted=False)
        report = analyze(ref, cur)
        raw_hits += sum(c["pvalue"] < 0.05 for c in report.columns)
        assert report.drifted_columns == []
    assert raw_hits > 0


@pytest.mark.slow
def test_effect_floor_ignores_a_significant_but_tiny_shift() -> None:
    rng = np.random.default_rng(5)
    n = 1_000_000
    ref = pa.table({"x": rng.normal(0, 1, n)})
    cur = pa.table({"x": rng.normal(0.012, 1, n)})
    report = analyze(ref, cur)
    col = report.columns[0]
    assert col["pvalue_adjusted"] < 1e-4          # the test sees it...
    assert col["effect"] < 0.02                   # ...but it is 1% of a standard deviation
    assert report.drifted_columns == []
    assert analyze(ref, cur, MonitorOptions(numeric_min_effect=0.0)).drifted_columns == ["x"]


def test_per_column_overrides() -> None:
    rng = np.random.default_rng(0)
    ref = pa.table({"code": rng.integers(0, 4, 5000), "x": rng.normal(0, 1, 5000),
                    "y": rng.normal(0, 1, 5000)})
    cur = pa.table({"code": rng.integers(0, 4, 5000), "x": rng.normal(0.3, 1, 5000),
                    "y": rng.normal(0, 1, 5000)})
    options = MonitorOptions(columns={
        "code": ColumnOptions(kind="categorical"),
        "x": ColumnOptions(method="wasserstein", threshold=0.5),
        "y": ColumnOptions(ignore=True),
    })
    report = analyze(ref, cur, options)
    by_name = {c["column"]: c for c in report.columns}
    assert set(by_name) == {"code", "x"}
    assert by_name["code"]["kind"] == "categorical" and by_name["code"]["method"] == "chi2"
    assert by_name["x"]["method"] == "wasserstein" and by_name["x"]["threshold"] == 0.5
    assert not by_name["x"]["drifted"]            # 0.3 sd < the 0.5 threshold asked for
    assert analyze(ref, cur).drifted_columns == ["x"]   # the default test flags it


def test_psi_method_and_wrong_method_for_kind() -> None:
    rng = np.random.default_rng(1)
    ref = pa.table({"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b"], 5000)})
    cur = pa.table({"x": rng.normal(1, 1, 5000), "c": rng.choice(["a", "b"], 5000)})
    report = analyze(ref, cur, MonitorOptions(columns={"x": ColumnOptions(method="psi")}))
    x = report.columns[0]
    assert x["method"] == "psi" and x["score"] == x["psi"] > 0.2 and x["drifted"]
    with pytest.raises(ConfigError, match=r"'c' is categorical.*method 'ks'"):
        analyze(ref, cur, MonitorOptions(columns={"c": ColumnOptions(method="ks")}))


def test_too_few_rows_is_insufficient_not_drift() -> None:
    ref = pa.table({"x": [1.0, 2.0, 3.0] * 20})
    cur = pa.table({"x": [100.0, 200.0]})
    report = analyze(ref, cur)
    assert report.columns[0]["status"] == "insufficient"
    assert report.drifted_columns == []


def test_json_summary_is_strict_json() -> None:
    import json

    report = analyze(make_table(2000, 0, shifted=False), make_table(2000, 1, shifted=True))
    data = json.loads(report.to_json(allow_nan=False))
    assert data["summary"]["columns"] == 25
    assert {"column", "method", "score", "threshold", "drifted", "psi"} <= set(data["columns"][0])
