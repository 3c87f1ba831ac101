"""Model performance: predictions joined to outcomes by request id, per variant."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import accuracy_score, mean_squared_error, roc_auc_score

from lamina.monitoring import MonitorOptions, alerts_for, analyze


def _log(pred: np.ndarray, variants: np.ndarray, feature: np.ndarray) -> pa.Table:
    n = pred.size
    return pa.table({
        "request_id": [f"r{i}" for i in range(n)],
        "timestamp": pa.array(np.arange(n) * 1_000_000, pa.timestamp("us", tz="UTC")),
        "variant": variants,
        "in.x": feature,
        "out.score": pred,
    })


def test_classification_accuracy_and_auc_by_variant_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(0, 2, n)
    variants = np.where(rng.random(n) < 0.5, "a", "b")
    noise = np.where(variants == "a", 0.35, 0.7)       # variant b is worse
    score = np.clip(y + rng.normal(0, 1, n) * noise, 0, 1)
    log = _log(score, variants, rng.normal(size=n))
    # outcomes for 3/4 of the requests, shuffled, plus one corrected label (later wins)
    have = rng.permutation(n)[: 3 * n // 4]
    ids = [f"r{i}" for i in have]
    outcomes = pa.table({
        "request_id": [*ids, ids[0]],
        "timestamp": pa.array([1, *([1] * (len(ids) - 1)), 2], pa.timestamp("us", tz="UTC")),
        "outcome": [1.0 - y[have[0]], *[float(y[i]) for i in have[1:]], float(y[have[0]])],
    })
    report = analyze(pa.table({"x": rng.normal(size=n)}), log, outcomes=outcomes)
    perf = report.performance
    assert perf["task"] == "classification" and perf["with_outcome"] == len(have)
    for v in ("a", "b"):
        idx = np.array([i for i in have if variants[i] == v])
        assert perf["variants"][v]["n"] == idx.size
        assert perf["variants"][v]["accuracy"] == pytest.approx(
            accuracy_score(y[idx], score[idx] >= 0.5))
        assert perf["variants"][v]["auc"] == pytest.approx(roc_auc_score(y[idx], score[idx]))
    assert perf["variants"]["a"]["accuracy"] > perf["variants"]["b"]["accuracy"]
    alerts = alerts_for(report, MonitorOptions(min_accuracy=perf["variants"]["a"]["accuracy"] - 0.01))
    names = {a.name for a in alerts}
    assert "performance:b:accuracy" in names and "performance:a:accuracy" not in names


def test_regression_rmse() -> None:
    rng = np.random.default_rng(1)
    n = 500
    y = rng.normal(10, 2, n)
    pred = y + rng.normal(0, 0.5, n)
    log = _log(pred, np.array(["only"] * n), rng.normal(size=n))
    outcomes = pa.table({"request_id": [f"r{i}" for i in range(n)], "outcome": y})
    perf = analyze(pa.table({"x": rng.normal(size=n)}), log, outcomes=outcomes).performance
    assert perf["task"] == "regression"
    assert perf["variants"]["only"]["rmse"] == pytest.approx(mean_squared_error(y, pred) ** 0.5)
    alerts = alerts_for(analyze(pa.table({"x": rng.normal(size=n)}), log, outcomes=outcomes),
                        MonitorOptions(max_rmse=0.1))
    assert {a.name for a in alerts} >= {"performance:only:rmse", "performance:all:rmse"}
