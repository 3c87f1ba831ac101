"""Data quality: nulls, out-of-range values, new categories, schema changes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lamina.monitoring import analyze


def _tables() -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(3)
    n = 5000
    ref = pa.table({
        "age": rng.normal(40, 10, n),
        "income": rng.normal(50, 5, n),
        "plan": rng.choice(["basic", "pro"], n),
        "dropped": rng.normal(0, 1, n),
        "code": rng.integers(0, 5, n),
    })
    age = rng.normal(40, 10, n)
    mask = rng.random(n) < 0.2
    income = rng.normal(50, 5, n)
    income[:200] = 1e6                                  # 4% far outside the reference range
    plan = rng.choice(["basic", "pro", "enterprise"], n, p=[0.45, 0.45, 0.10])
    cur = pa.table({
        "age": pa.array(age, mask=mask),                # 20% nulls now
        "income": income,
        "plan": plan,
        "code": pa.array([str(v) for v in rng.integers(0, 5, n)]),   # int -> string
        "extra": rng.normal(0, 1, n),
    })
    return ref, cur


def test_quality_problems_are_reported_per_column() -> None:
    ref, cur = _tables()
    report = analyze(ref, cur)
    problems = {(i["column"], i["problem"].split(" ")[0]) for i in report.quality_issues}
    text = {i["column"]: i["problem"] for i in report.quality_issues}
    assert ("age", "null") in problems and text["age"].startswith("null share rose from 0.0% to 1")
    assert "outside the reference range" in text["income"]
    assert "new categories ('enterprise')" in text["plan"]
    assert report.schema["missing"] == ["dropped"]
    assert report.schema["new"] == ["extra"]
    assert report.schema["type_changed"] == [
        {"column": "code", "reference": "int64", "current": "string"}]
    assert "type changed from int64 to string" in text["code"]
    by_name = {c["column"]: c for c in report.columns}
    assert "code" not in by_name                    # a retyped column is not compared
    assert by_name["age"]["null_share"]["current"] > 0.18
    assert by_name["age"]["rows"]["current"] < 4100   # drift compares non-null values


def test_clean_current_has_no_quality_issue() -> None:
    ref, _ = _tables()
    assert analyze(ref, ref).quality_issues == []


def test_failed_requests_of_a_prediction_log_are_not_null_problems() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    x = rng.normal(0, 1, n)
    status = np.where(rng.random(n) < 0.1, 503, 200).astype(np.int32)
    log = pa.table({
        "request_id": [f"r{i}" for i in range(n)],
        "status": status,
        "in.x": pa.array(x, mask=status >= 400),      # failed requests carry no inputs
    })
    report = analyze(pa.table({"x": rng.normal(0, 1, n)}), log)
    assert report.quality_issues == []
    assert report.columns[0]["rows"]["current"] == int((status < 400).sum())


def test_training_set_columns_that_are_not_model_inputs_are_not_missing() -> None:
    rng = np.random.default_rng(6)
    train = pa.table({"x": rng.normal(size=500), "label": rng.integers(0, 2, 500)})
    log = pa.table({"request_id": [f"r{i}" for i in range(500)], "in.x": rng.normal(size=500)})
    report = analyze(train, log)
    assert report.quality_issues == []
    assert report.schema["not_model_inputs"] == ["label"]
    plain = analyze(train, pa.table({"x": rng.normal(size=500)}))
    assert plain.schema["missing"] == ["label"] and len(plain.quality_issues) == 1
