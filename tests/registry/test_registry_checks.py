"""Black-box checks: suites in TOML and Python, slices, the paired comparison with the
champion, invariance and directional checks catching deliberately broken models,
calibration, latency, schema; the gates they put on promote and deploy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from churn_flow import FEATURES, make_data
from sklearn.linear_model import LogisticRegression

from lamina import checks, registry
from lamina.errors import CheckSuiteError, GateFailedError
from lamina.stack import Stack

DATA = make_data(4000, seed=11)


def _fit(labels: Any = None) -> LogisticRegression:
    y = DATA["churn"].to_numpy() if labels is None else labels
    return LogisticRegression(max_iter=1000).fit(DATA[FEATURES].to_numpy(), y)


GOOD = _fit()


class Hypersensitive:
    """Broken: its answer flips with the third decimal of spend."""

    def predict(self, X: Any) -> Any:
        return (np.floor(X[:, 1] * 1000) % 2).astype(int)


class Overconfident:
    """The good model's ranking with probabilities pushed to 0 and 1 (miscalibrated)."""

    def predict(self, X: Any) -> Any:
        return GOOD.predict(X)

    def predict_proba(self, X: Any) -> Any:
        p = GOOD.predict_proba(X)[:, 1]
        sharp = np.where(p > 0.5, 0.99, 0.01)
        return np.column_stack([1 - sharp, sharp])


def _suite(*kinds: checks.Check, **kw: Any) -> checks.Suite:
    return checks.Suite(name="t", target="churn", features=tuple(FEATURES), checks=kinds, **kw)


def test_invariance_and_directional_checks_catch_broken_models() -> None:
    suite = _suite(
        checks.Check(kind="invariance", column="spend", add=0.0004, max_changed=0.01),
        checks.Check(kind="directional", column="calls", add=2, expect="increase"),
        checks.Check(kind="directional", column="tenure", add=3, expect="decrease",
                     name="longer tenure, less churn"),
    )
    good = checks.run(suite, GOOD, DATA)
    assert good.passed, str(good)
    flipped = checks.run(suite, _fit(1 - DATA["churn"].to_numpy()), DATA)
    assert not flipped.passed
    assert flipped.failed == ["directional:calls", "longer tenure, less churn"]
    assert flipped.checks[1].value == 1.0  # every row moved the wrong way
    sensitive = checks.run(suite, Hypersensitive(), DATA)
    assert [c.name for c in sensitive.checks if not c.passed] == ["invariance:spend"]
    assert sensitive.checks[0].value > 0.3


def test_a_metric_check_fails_on_the_one_slice_that_is_broken() -> None:
    blind = lambda cols: np.where(cols["spend"] > 60, 0, GOOD.predict(  # noqa: E731
        np.column_stack([cols[f] for f in FEATURES])))
    suite = _suite(checks.Check(kind="metric", metric="accuracy", min=0.7,
                                slices=("segment",)))
    result = checks.run(suite, blind, DATA)
    (check,) = result.checks
    assert check.value > 0.7  # fine overall...
    by_slice = {s["slice"]: s for s in check.slices}
    assert by_slice["segment=premium"]["passed"] is False  # ...but not for premium customers
    assert by_slice["segment=basic"]["passed"] and by_slice["segment=standard"]["passed"]
    expected = (DATA[DATA.segment == "premium"].churn == 0).mean()
    assert by_slice["segment=premium"]["value"] == pytest.approx(expected, abs=1e-6)
    assert result.failed == ["metric:accuracy [segment=premium]"]
    # a slice with fewer rows than min_rows is reported, not judged
    tiny = checks.run(_suite(checks.Check(kind="metric", metric="accuracy", min=0.7,
                                          slices=("segment",), min_rows=10_000)), blind, DATA)
    assert tiny.passed and {s["passed"] for s in tiny.checks[0].slices} == {None}


def test_the_champion_comparison_is_a_paired_one_sided_test() -> None:
    from scipy import stats

    worse = _fit(np.where(np.arange(len(DATA)) % 4 == 0, 1 - DATA["churn"], DATA["churn"]))
    check = checks.Check(kind="champion", metric="accuracy", margin=0.005, alpha=0.05,
                         slices=("segment",))
    result = checks.run(_suite(check), worse, DATA, champion=GOOD)
    (res,) = result.checks
    # the bound is scipy's paired t interval of the per-row differences (one-sided 95%)
    X, y = DATA[FEATURES].to_numpy(), DATA["churn"].to_numpy()
    d = (worse.predict(X) == y).astype(float) - (GOOD.predict(X) == y).astype(float)
    low = stats.ttest_rel((worse.predict(X) == y).astype(float),
                          (GOOD.predict(X) == y).astype(float)).confidence_interval(0.90).low
    assert res.value == pytest.approx(low, abs=1e-6)
    assert d.mean() < 0 and low < -0.005 and res.passed is False  # not shown non-inferior
    # the same model is never worse than itself; a generous margin lets a small loss pass
    assert checks.run(_suite(check), GOOD, DATA, champion=GOOD).passed
    generous = checks.Check(kind="champion", metric="accuracy", margin=0.2)
    assert checks.run(_suite(generous), worse, DATA, champion=GOOD).passed
    flipped = _fit(1 - y)
    assert not checks.run(_suite(generous), flipped, DATA, champion=GOOD).passed
    # regression errors: a paired comparison of squared errors
    reg = checks.Suite(target="score", task="regression", features=("tenure", "calls"),
                       checks=[checks.Check(kind="champion", metric="mse", margin=0.0)])
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    noise = np.random.default_rng(0).normal(0, 1, len(DATA))
    scored = DATA.assign(score=2 * DATA.tenure + DATA.calls + noise)
    Xr, yr = scored[["tenure", "calls"]].to_numpy(), scored["score"].to_numpy()
    fitted, mean_only = LinearRegression().fit(Xr, yr), DummyRegressor().fit(Xr, yr)
    assert checks.run(reg, fitted, scored, champion=mean_only).passed
    assert not checks.run(reg, mean_only, scored, champion=fitted).passed


def test_calibration_latency_and_schema_checks() -> None:
    suite = _suite(checks.Check(kind="calibration", max_ece=0.05, max_brier=0.2,
                                slices=("segment",)))
    good = checks.run(suite, GOOD, DATA)
    assert good.passed and good.checks[0].value < 0.05
    over = checks.run(suite, Overconfident(), DATA)
    assert not over.passed and over.checks[0].value > 0.1
    from sklearn.metrics import roc_auc_score

    auc = checks.run(_suite(checks.Check(kind="metric", metric="auc", min=0.5)), GOOD, DATA)
    assert auc.checks[0].value == pytest.approx(roc_auc_score(
        DATA["churn"], GOOD.predict_proba(DATA[FEATURES].to_numpy())[:, 1]), abs=1e-6)
    latency = checks.run(_suite(checks.Check(kind="latency", batch_size=256, repeats=3,
                                             max_ms=60_000)), GOOD, DATA)
    assert latency.passed and "256 rows" in latency.checks[0].detail
    assert not checks.run(_suite(checks.Check(kind="latency", batch_size=256, max_ms=0.0)),
                          GOOD, DATA).passed
    schema = _suite(checks.Check(kind="schema"))
    assert checks.run(schema, GOOD, DATA).passed
    nan_model = lambda cols: np.full(len(cols["spend"]), np.nan)  # noqa: E731
    broken = checks.run(schema, nan_model, DATA)
    assert not broken.passed and "4000 predictions are not finite" in broken.checks[0].detail
    missing = checks.run(schema, GOOD, DATA.drop(columns=["calls"]))
    assert not missing.passed and "input 'calls' is missing" in missing.checks[0].detail


def test_suite_files_are_validated_with_errors_naming_the_check(tmp_path: Path) -> None:
    def load(text: str) -> checks.Suite:
        path = tmp_path / "checks.toml"
        path.write_text(text)
        return checks.load_suite(path)

    head = 'target = "churn"\n[[checks]]\n'
    suite = load(head + 'kind = "metric"\nmetric = "f1"\nmin = 0.5\nslices = "segment"\n')
    assert suite.name == "checks" and suite.checks[0].slices == ("segment",)
    for text, message in [
        (head + 'kind = "metrik"\n', "kind 'metrik' is not a check"),
        (head + 'kind = "metric"\nmetric = "accuracy"\nminimum = 0.7\n',
         "unknown key 'minimum' for a metric check"),
        (head + 'kind = "metric"\nmetric = "rmse"\nmin = 1\n',
         "metric 'rmse' is not a classification metric"),
        (head + 'kind = "metric"\nmetric = "accuracy"\n', "has no bound"),
        (head + 'kind = "invariance"\ncolumn = "spend"\n', "needs exactly one change"),
        ('task = "ranking"\n[[checks]]\nkind = "schema"\n', "task 'ranking'"),
        ('[[checks]]\nkind = "metric"\nmetric = "accuracy"\nmin = 1\n', "needs the label"),
        ("target = \n", "not valid TOML"),
    ]:
        with pytest.raises(CheckSuiteError, match=message) as info:
            load(text)
        assert "checks.toml" in str(info.value) and info.value.hint
    with pytest.raises(CheckSuiteError, match="does not exist"):
        checks.load_suite(tmp_path / "nope.toml")
    suite = _suite(checks.Check(kind="metric", metric="accuracy", min=0.5, slices=("region",)))
    with pytest.raises(CheckSuiteError, match="no slice column 'region'"):
        checks.run(suite, GOOD, DATA)


def test_the_html_report_escapes_every_user_string() -> None:
    data = DATA.assign(segment=np.where(DATA.spend > 60, "<script>alert(1)</script>", "a&b"))
    suite = checks.Suite(name="<img src=x onerror=alert(1)>", target="churn",
                         features=tuple(FEATURES),
                         checks=[checks.Check(kind="metric", metric="accuracy", min=0.5,
                                              slices=("segment",), name="<b>acc</b>")])
    html = checks.run(suite, GOOD, data).to_html()
    assert "<script>" not in html and "<img" not in html and "<b>acc" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "a&amp;b" in html


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("LAMINA_STACK", "LAMINA_CONFIG")}
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=project, text=True,
                          capture_output=True, env=env, timeout=180)


GATE = """name = "gate"
target = "churn"
[[checks]]
kind = "metric"
metric = "accuracy"
min = 0.7
slices = ["segment"]
[[checks]]
kind = "champion"
metric = "accuracy"
margin = 0.05
[[checks]]
kind = "directional"
column = "calls"
add = 2
expect = "increase"
"""


def test_a_gate_failing_on_one_slice_blocks_promote_and_deploy_unless_forced(
    trained: Any,
) -> None:
    project = trained.project
    stack = Stack.load(cwd=project, env={})
    good = registry.register_model("gated", trained.refs["good"], stack=stack)
    blind = registry.register_model("gated", trained.refs["premium_blind"], stack=stack)
    (project / "gate.toml").write_text(GATE)
    ok = _cli(project, "model", "check", "gated", str(good.version), "--suite", "gate.toml",
              "--data", str(trained.holdout))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "suite gate: PASSED" in ok.stdout
    registry.promote("gated", good.version, "champion", reason="baseline", stack=stack)

    report = project / "blind.html"
    bad = _cli(project, "model", "check", "gated", str(blind.version), "--suite", "gate.toml",
               "--data", str(trained.holdout), "--html", str(report))
    assert bad.returncode == 1 and "suite gate: FAILED" in bad.stdout
    assert "vs gated/1" in bad.stdout  # compared with the champion on the same rows
    assert "segment=premium" in bad.stdout and report.read_text().startswith("<!doctype html>")
    run_shown = _cli(project, "show", trained.refs["premium_blind"].split("/")[1])
    assert "registered gated/2 (model)  checks FAILED" in run_shown.stdout
    shown = _cli(project, "model", "show", f"gated/{blind.version}")
    assert "gate: FAILED (suite 'gate' failed (metric:accuracy [segment=premium]" in shown.stdout

    refused = _cli(project, "model", "promote", "gated", str(blind.version), "--reason", "try")
    assert refused.returncode == 1 and "cannot promote to 'champion' gated version 2" in refused.stderr
    assert "--force" in refused.stderr
    with pytest.raises(GateFailedError, match="segment=premium"):
        registry.promote("gated", blind.version, stack=stack)

    spec = project / "gated.toml"
    spec.write_text(f'name = "gated"\n[[variants]]\nname = "main"\n'
                    f'model = "model:gated/{blind.version}"\n')
    deny = _cli(project, "deploy", str(spec), "--dry-run")
    assert deny.returncode == 1 and "cannot deploy gated version 2" in deny.stderr
    allowed = _cli(project, "deploy", str(spec), "--dry-run", "--force")
    assert allowed.returncode == 0, allowed.stderr
    assert '"forced": true' in allowed.stdout and trained.refs["premium_blind"] in allowed.stdout
    from lamina.serving.deployment import pin_models
    from lamina.serving.spec import load_spec

    pinned = pin_models(load_spec(spec), stack, force=True)
    assert pinned.variants[0].model == trained.refs["premium_blind"]
    assert pinned.deployed["models"]["main"] == {
        "ref": "model:gated/2", "name": "gated", "version": 2,
        "resolved": trained.refs["premium_blind"], "namespace": stack.branch.namespace,
        "gate": False, "forced": True}
    forced = _cli(project, "model", "promote", "gated", str(blind.version), "--force",
                  "--reason", "hotfix accepted by risk")
    assert forced.returncode == 0 and "FORCED" in forced.stdout
    history = json.loads(_cli(project, "model", "history", "gated", "--json").stdout)
    assert [(h["version"], h["forced"]) for h in history] == [(1, False), (2, True)]

    # the stored report is in the datastore, its summary with the version
    (result,) = registry.checks("gated", blind.version, stack=stack)
    assert result["passed"] is False and result["champion"] == "gated/1"
    html = stack.artifacts.get_bytes(result["report"]).decode()
    assert "segment=premium" in html
    written = _cli(project, "model", "report", f"gated/{blind.version}", "-o",
                   str(project / "stored.html"))
    assert written.returncode == 0 and (project / "stored.html").read_text() == html
    # require_checks: a version never checked is refused too
    (project / "lamina.toml").write_text('[stacks.strict]\nregistry = { plugin = "builtin", '
                                         'require_checks = true }\n')
    try:
        strict = Stack.load("strict", cwd=project, env={})
        unchecked = registry.register_model("gated", trained.refs["good"], stack=strict)
        with pytest.raises(GateFailedError, match="no check has passed"):
            registry.promote("gated", unchecked.version, stack=strict)
        assert registry.gate("gated", good.version, stack=strict).passed is True
    finally:
        (project / "lamina.toml").unlink()


CHECKED_FLOW = '''
from lamina import Flow, checks
from churn_flow import FEATURES, make_data

flow = Flow("checked")


@flow.step
def data():
    return make_data(1500, seed=2)


@flow.step
def model(data):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(data[FEATURES].to_numpy(), data["churn"])


@flow.step
def gate(model, data):
    suite = checks.Suite(name="in-flow", target="churn", features=tuple(FEATURES), checks=[
        checks.Check(kind="metric", metric="accuracy", min=0.7, slices=("segment",)),
        checks.Check(kind="directional", column="calls", add=2, expect="increase")])
    return checks.run(suite, model, data)
'''


def test_a_suite_runs_as_a_step_and_its_result_is_the_steps_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from registry_util import FLOW

    from lamina.flow.loader import load_flow_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    shutil.copy(FLOW, tmp_path / "churn_flow.py")
    (tmp_path / "checked.py").write_text(CHECKED_FLOW)
    run = load_flow_file(str(tmp_path / "checked.py")).run(stack=Stack.load(cwd=tmp_path,
                                                                            env={}))
    result = run["gate"].value
    assert isinstance(result, checks.SuiteResult) and result.passed, str(result)
    assert [c.name for c in result.checks] == ["metric:accuracy", "directional:calls"]
