"""The A/B report as a reader meets it: the split checked first, every metric with an
always-valid interval, CUPED, guardrails, secondaries, and the decision recorded."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lamina.serving import ServingError, ab_report, log_outcomes
from lamina.serving.experiment import (
    Covariate,
    Experiment,
    MetricSpec,
    decisions,
    record_design,
)
from lamina.serving.prediction_log import PredictionLogWriter
from lamina.serving.schema import Field, Schema
from lamina.serving.spec import Deployment, Variant
from lamina.stack import Stack

SCHEMA = Schema([Field("x", "FP64")], [Field("y", "FP64")])
DAY_US = 86_400 * 1_000_000


def _experiment_log(stack: Stack, name: str, *, users: dict[str, int], days: int = 3,
                    latency: dict[str, float] | None = None, seed: int = 0,
                    weights: dict[str, float] | None = None) -> dict[str, list[tuple[str, str]]]:
    """Users spread over days, one request each, a sticky key per user; returns, per
    variant, (request id, user) pairs. Records the deployment's design like a server."""
    rng = np.random.default_rng(seed)
    variants = list(users)
    split = weights or {v: 100 / len(variants) for v in variants}
    record_design(stack.datastore, Deployment(name, tuple(Variant(v, f"f/{v}/m", split[v])
                                                          for v in variants)))
    writer = PredictionLogWriter(stack.datastore, name, [SCHEMA], flush_seconds=60)
    start = time.time_ns() // 1000 - days * DAY_US
    out: dict[str, list[tuple[str, str]]] = {}
    for v, n in users.items():
        out[v] = []
        for i in range(n):
            rid, user = f"{v}-{i}", f"user-{v}-{i}"
            ts = start + int(rng.integers(0, days * DAY_US))
            lat = (latency or {}).get(v, 2.0) * float(rng.uniform(0.8, 1.2))
            writer.record(rid, ts, v, f"f/{v}/m", lat, 200, 1, {"x": np.array([1.0])},
                          {"y": np.array([float(rng.random())])}, key=user)
            out[v].append((rid, user))
    writer.close()
    return out


def _outcomes(stack: Stack, name: str, ids: dict[str, list[tuple[str, str]]],
              rate: dict[str, float], seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for v, pairs in ids.items():
        log_outcomes(stack, name, {rid: float(rng.random() < rate[v]) for rid, _ in pairs})


def test_a_broken_split_stops_the_experiment_and_fails_the_command(project: Path) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _experiment_log(stack, "srm", users={"a": 5_300, "b": 4_700})  # 50/50 intended
    _outcomes(stack, "srm", ids, {"a": 0.1, "b": 0.2})  # a huge "win" that cannot be trusted
    report = ab_report(stack, "srm")
    assert report.srm.unit == "sticky keys" and report.srm.passed is False
    assert report.srm.observed == {"a": 5_300, "b": 4_700}
    assert report.decision.action == "stop" and "sample ratio mismatch" in report.decision.reason
    text = str(report)
    assert text.index("sample ratio: MISMATCH") < text.index("primary metric")  # shown first
    proc = subprocess.run([sys.executable, "-m", "lamina", "ab", "report", "srm"], cwd=project,
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "sample ratio mismatch in 'srm'" in proc.stderr
    # the intended split can be given when the recorded one is not the one meant
    assert ab_report(stack, "srm", experiment=Experiment(weights={"a": 53, "b": 47})).srm.passed


def test_a_clear_winner_ships_with_an_always_valid_interval(project: Path) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _experiment_log(stack, "win", users={"a": 3_000, "b": 3_000}, days=5)
    _outcomes(stack, "win", ids, {"a": 0.10, "b": 0.16})
    report = ab_report(stack, "win")
    assert report.srm.passed and report.days in (5, 6)
    (cmp,) = report.comparisons
    assert cmp.significant and cmp.ci_low > 0 and cmp.p_value < 0.05
    # wider than the fixed-horizon interval: the price of reading at any time
    assert cmp.p_value >= cmp.fixed_p_value
    assert report.decision.action == "ship" and report.decision.variant == "b"
    assert "always-valid" in str(report)


def test_no_difference_keeps_running(project: Path) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _experiment_log(stack, "same", users={"a": 800, "b": 800})
    _outcomes(stack, "same", ids, {"a": 0.1, "b": 0.1})
    report = ab_report(stack, "same")
    assert report.decision.action == "keep running"
    assert report.comparisons[0].ci_low < 0 < report.comparisons[0].ci_high


def test_a_degraded_guardrail_stops_a_winning_variant(project: Path) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _experiment_log(stack, "guard", users={"a": 2_000, "b": 2_000},
                          latency={"a": 10.0, "b": 13.0})
    _outcomes(stack, "guard", ids, {"a": 0.10, "b": 0.18})
    experiment = Experiment(guardrails=(MetricSpec("latency_ms", "guardrail", "decrease", 0.10),))
    report = ab_report(stack, "guard", experiment=experiment)
    guard = next(m for m in report.metrics if m.role == "guardrail")
    assert guard.comparisons[0].relative == pytest.approx(0.3, abs=0.03)
    assert report.decision.action == "stop" and "guardrail latency_ms" in report.decision.reason
    # within its threshold, the guardrail lets the winner ship
    loose = Experiment(guardrails=(MetricSpec("latency_ms", "guardrail", "decrease", 0.5),))
    assert ab_report(stack, "guard", experiment=loose).decision.action == "ship"


def test_secondaries_are_adjusted_for_false_discoveries(project: Path) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _experiment_log(stack, "sec", users={"a": 500, "b": 500})
    _outcomes(stack, "sec", ids, {"a": 0.1, "b": 0.1})
    experiment = Experiment(secondary=(MetricSpec("latency_ms", "secondary"),
                                       MetricSpec("out.y", "secondary")), method="fixed")
    report = ab_report(stack, "sec", experiment=experiment)
    secondary = [m.comparisons[0] for m in report.metrics if m.role == "secondary"]
    raw = sorted(c.p_value for c in secondary)
    adjusted = sorted(c.adjusted_p_value for c in secondary)
    assert adjusted == pytest.approx([min(1, raw[0] * 2, raw[1]), raw[1]])  # BH with m = 2
    assert "BH-adjusted p" in str(report)


def test_cuped_narrows_the_interval_with_a_pre_period_covariate(project: Path) -> None:
    stack = Stack.load(cwd=project, env={})
    rng = np.random.default_rng(5)
    ids = _experiment_log(stack, "cuped", users={"a": 2_000, "b": 2_000})
    pre: dict[str, float] = {}
    outcomes: dict[str, float] = {}
    for v, pairs in ids.items():
        for rid, user in pairs:
            x = float(rng.normal(50, 10))
            pre[user] = x
            outcomes[rid] = 0.8 * x + float(rng.normal(0, 6)) + (1.0 if v == "b" else 0.0)
    log_outcomes(stack, "cuped", outcomes)
    path = project / "pre.parquet"
    pq.write_table(pa.table({"user_id": list(pre), "spend": list(pre.values())}), path)
    plain = ab_report(stack, "cuped").comparisons[0]
    experiment = Experiment(covariate=Covariate(path, "user_id", "spend"))
    report = ab_report(stack, "cuped", experiment=experiment)
    adjusted = report.comparisons[0]
    assert report.metrics[0].variance_reduction >= 0.5
    assert (adjusted.ci_high - adjusted.ci_low) < 0.75 * (plain.ci_high - plain.ci_low)
    assert adjusted.difference == pytest.approx(1.0, abs=0.6)
    with pytest.raises(ServingError, match="no column 'uid'"):
        ab_report(stack, "cuped", experiment=Experiment(covariate=Covariate(path, "uid", "spend")))


def test_experiment_files_and_their_errors(project: Path) -> None:
    path = project / "exp.toml"
    path.write_text('primary = "outcome"\nmethod = "fixed"\nsecondary = ["out.y"]\n'
                    '[[guardrails]]\nmetric = "latency_ms"\nthreshold = 0.1\n'
                    '[covariate]\npath = "pre.parquet"\nkey = "u"\ncolumn = "x"\n')
    exp = Experiment.from_file(path)
    assert exp.method == "fixed" and exp.secondary[0].name == "out.y"
    assert exp.guardrails == (MetricSpec("latency_ms", "guardrail", "decrease", 0.1),)
    assert exp.covariate is not None and exp.covariate.source == project / "pre.parquet"
    path.write_text('primary = "outcome"\nmetod = "fixed"\n')
    with pytest.raises(ServingError, match=r"exp.toml: unknown key 'metod'"):
        Experiment.from_file(path)
    with pytest.raises(ServingError, match="method 'bayes'"):
        Experiment(method="bayes")
    with pytest.raises(ServingError, match="not NAME=PERCENT"):
        Experiment.from_dict({"weights": "a:50"})


def test_decisions_are_recorded_with_who_and_why_and_never_against_the_report_silently(
    project: Path,
) -> None:
    stack = Stack.load(cwd=project, env={})
    ids = _experiment_log(stack, "dec", users={"a": 3_000, "b": 3_000})
    _outcomes(stack, "dec", ids, {"a": 0.10, "b": 0.16})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lamina", "ab", *args], cwd=project,
                              capture_output=True, text=True, env={**_env(), "LAMINA_USER": "dana"})

    refused = cli("decide", "dec", "--action", "stop")
    assert refused.returncode == 1 and "the report says ship b" in refused.stderr
    assert "--force" in refused.stderr
    done = cli("decide", "dec", "--reason", "b converts better")
    assert done.returncode == 0, done.stderr
    assert "recorded: ship b for dec by dana: b converts better" in done.stdout
    forced = cli("decide", "dec", "--action", "stop", "--force", "--json")
    assert json.loads(forced.stdout)["forced"] is True
    history = decisions(stack.datastore, "dec")
    assert [(d["action"], d["variant"], d["user"], d["forced"]) for d in history] == [
        ("ship", "b", "dana", False), ("stop", None, "dana", True)]
    assert history[0]["report"]["decision"]["action"] == "ship"
    listed = cli("decisions", "dec")
    assert listed.returncode == 0 and "ship b  by dana" in listed.stdout and "(forced)" in listed.stdout


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    for var in ("LAMINA_STACK", "LAMINA_CONFIG"):
        env.pop(var, None)
    return env
