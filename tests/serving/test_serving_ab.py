"""`lamina ab report`: counts, CIs and tests from the logs, checked against SciPy."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from scipy import stats as sps

from lamina.serving import ServingError, ab_report, log_outcomes
from lamina.serving.experiment import Experiment
from lamina.serving.prediction_log import PredictionLogWriter
from lamina.serving.router import Router
from lamina.serving.schema import Field, Schema
from lamina.stack import Stack

SCHEMA = Schema([Field("x", "FP64")], [Field("y", "FP64")])


def _log(stack: Stack, deployment: str, variants: dict[str, int]) -> dict[str, list[str]]:
    writer = PredictionLogWriter(stack.datastore, deployment, [SCHEMA], flush_seconds=60)
    ids: dict[str, list[str]] = {}
    now = time.time_ns() // 1000
    for v, n in variants.items():
        ids[v] = [f"{v}-{i}" for i in range(n)]
        for rid in ids[v]:
            writer.record(rid, now, v, f"flow/run-{v}/model", 2.0 if v == "a" else 3.0, 200, 1,
                          {"x": np.array([1.0])}, {"y": np.array([0.5])})
    writer.record("bad", now, "a", "flow/run-a/model", 1.0, 400, 0, None, None)
    writer.close()
    return ids


def test_binary_outcomes_use_a_two_proportion_z_test(project) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _log(stack, "conv", {"a": 400, "b": 300})
    rng = np.random.default_rng(3)
    ya = (rng.random(400) < 0.20).astype(float)
    yb = (rng.random(300) < 0.30).astype(float)
    log_outcomes(stack, "conv", dict(zip(ids["a"], ya, strict=True)))
    log_outcomes(stack, "conv", dict(zip(ids["b"], yb, strict=True)))
    report = ab_report(stack, "conv")
    assert report.binary
    a, b = report.variants
    assert (a.variant, a.requests, a.n) == ("a", 400, 400)  # the failed request is not counted
    assert b.mean == pytest.approx(yb.mean())
    assert a.ci_low < a.mean < a.ci_high
    (cmp,) = report.comparisons
    p = ya.sum() / 400
    q = yb.sum() / 300
    pool = (ya.sum() + yb.sum()) / 700
    z = (q - p) / np.sqrt(pool * (1 - pool) * (1 / 400 + 1 / 300))
    assert cmp.test == "two-proportion z" and cmp.statistic == pytest.approx(z)
    assert cmp.fixed_p_value == pytest.approx(2 * sps.norm.sf(abs(z)), rel=1e-6)
    # read any time: the always-valid p-value is never below the fixed-horizon one
    assert cmp.p_value >= cmp.fixed_p_value
    assert "significant" in str(report)


def test_continuous_outcomes_use_welch_and_t_intervals(project) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _log(stack, "rev", {"a": 40, "b": 25})
    rng = np.random.default_rng(5)
    ya, yb = rng.normal(10, 2, 40), rng.normal(11, 4, 25)
    log_outcomes(stack, "rev", dict(zip(ids["a"], ya, strict=True)))
    log_outcomes(stack, "rev", dict(zip(ids["b"], yb, strict=True)))
    log_outcomes(stack, "rev", {ids["a"][0]: ya[0]})  # a repeated outcome counts once
    report = ab_report(stack, "rev", control="b")
    a = report.variants[0]
    lo, hi = sps.t.interval(0.95, 39, loc=ya.mean(), scale=sps.sem(ya))
    assert (a.ci_low, a.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    (cmp,) = report.comparisons
    ref = sps.ttest_ind(ya, yb, equal_var=False)
    assert cmp.variant == "a" and cmp.control == "b" and cmp.test == "Welch t"
    assert cmp.statistic == pytest.approx(ref.statistic)  # variant minus control
    assert cmp.fixed_p_value == pytest.approx(ref.pvalue, rel=1e-6)
    fixed = ab_report(stack, "rev", control="b", experiment=Experiment(method="fixed"))
    assert fixed.comparisons[0].p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert "fixed-horizon (valid only when read once" in str(fixed)
    lat = ab_report(stack, "rev", metric="latency_ms")
    assert [v.mean for v in lat.variants] == [2.0, 3.0]


def test_report_errors_name_what_is_missing(project) -> None:
    stack = Stack.load(cwd=project, env={})
    with pytest.raises(ServingError, match="no logged predictions"):
        ab_report(stack, "nothing")
    _log(stack, "quiet", {"a": 3, "b": 3})
    with pytest.raises(ServingError, match="no outcome values") as info:
        ab_report(stack, "quiet")
    assert "outcomes" in str(info.value)
    with pytest.raises(ServingError, match=r"numeric columns: .*latency_ms"):
        ab_report(stack, "quiet", metric="revenue")
    with pytest.raises(ServingError, match="control variant 'c'"):
        ab_report(stack, "quiet", metric="latency_ms", control="c")


def test_cli_prints_the_report(project) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _log(stack, "cli-ab", {"a": 30, "b": 30})
    log_outcomes(stack, "cli-ab", {r: float(i % 2) for i, r in enumerate(ids["a"] + ids["b"])})
    proc = subprocess.run([sys.executable, "-m", "lamina", "ab", "report", "cli-ab"],
                          cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "variant" in proc.stdout and "b vs a" in proc.stdout and "p = " in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "lamina", "ab", "report", "nope"],
                          cwd=project, capture_output=True, text=True)
    assert proc.returncode == 1 and "no logged predictions" in proc.stderr


def test_router_split_and_stickiness() -> None:
    router = Router("dep", [80, 20], seed=1)
    picks = [router.choose() for _ in range(10_000)]
    assert abs(picks.count(0) / 10_000 - 0.8) <= 0.02
    keyed = [router.choose(f"user-{i}") for i in range(10_000)]
    assert abs(keyed.count(0) / 10_000 - 0.8) <= 0.02
    assert all(router.choose(f"user-{i}") == keyed[i] for i in range(0, 10_000, 7))
    assert Router("dep", [0, 100]).choose() == 1
    other = Router("other-dep", [50, 50])
    assert [other.choose(f"u{i}") for i in range(50)] != [Router("dep", [50, 50]).choose(f"u{i}")
                                                         for i in range(50)]


def test_a_mirror_never_takes_the_outcome_of_a_request(project) -> None:
    stack = Stack.load(cwd=project, env={})
    writer = PredictionLogWriter(stack.datastore, "mir", [SCHEMA], flush_seconds=60)
    now = time.time_ns() // 1000
    for i in range(20):
        variant = "a" if i % 2 else "b"
        for who, later in ((variant, 0), ("mirror", 500)):  # the mirror answers afterwards
            writer.record(f"m{i}", now + i * 1000 + later, who, "m", 1.0, 200, 1,
                          {"x": np.array([1.0])}, {"y": np.array([0.5])})
    writer.close()
    log_outcomes(stack, "mir", {f"m{i}": float(i % 3 == 0) for i in range(20)})
    report = ab_report(stack, "mir")
    by_name = {v.variant: v for v in report.variants}
    # its answers came second: never credited (a log without a recorded design may still
    # list it as a variant, with no outcome)
    assert "mirror" not in by_name or by_name["mirror"].n == 0
    assert by_name["a"].n == 10 and by_name["b"].n == 10
    assert [c.variant for c in report.comparisons] == ["b"]
