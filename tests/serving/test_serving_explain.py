"""lamina-explain-shap with real shap on real scikit-learn models: per-prediction SHAP
values from ``POST /v2/models/{name}/explain`` on a real `lamina serve` process, and the
global importance of a registered version (the registry's hook, the CLI)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lamina.sdk import ServingError, hookimpl

FLOW = '''
import numpy as np
from lamina import Flow
from lamina.serving import Model, Schema

flow = Flow("explained")
FEATURES = ["tenure", "spend", "tickets", "noise"]


@flow.step
def data(rows: int = 400) -> dict:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    logit = 2.5 * x[:, 0] - 1.0 * x[:, 1] + 0.3 * x[:, 2]
    return {"X": x, "y": (logit + rng.normal(scale=0.3, size=rows) > 0).astype(int)}


def _servable(est, data):
    return Model(est, schema=Schema.infer(data["X"], est.predict(data["X"][:5]),
                                          input_names=FEATURES, output_names=["churn"]))


@flow.step
def tree(data: dict) -> Model:
    from sklearn.ensemble import RandomForestClassifier

    return _servable(RandomForestClassifier(n_estimators=25, max_depth=4, random_state=0)
                     .fit(data["X"], data["y"]), data)


@flow.step
def linear(data: dict) -> Model:
    from sklearn.linear_model import LogisticRegression

    return _servable(LogisticRegression().fit(data["X"], data["y"]), data)


@flow.step
def knn(data: dict) -> Model:
    from sklearn.neighbors import KNeighborsClassifier

    return _servable(KNeighborsClassifier().fit(data["X"], data["y"]), data)
'''


def _lamina(project: Path, *args: str) -> subprocess.CompletedProcess:
    from serving_util import clean_env

    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=project, env=clean_env(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def explained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, Any]]:
    """A project with the three models of one run, a background data set, and the
    explain_shap options pointing at it; yields (project, run id, the data)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    project = tmp_path_factory.mktemp("explain-project")
    (project / "explained.py").write_text(FLOW)
    (project / "lamina.toml").write_text(
        '[stacks.local]\ndatastore = "file://.lamina"\n\n'
        '[plugins.explain_shap]\nbackground = "background.parquet"\nmax_rows = 200\n')
    rng = np.random.default_rng(1)
    background = rng.normal(loc=0.5, size=(300, 4))
    pq.write_table(pa.table({n: background[:, i] for i, n in
                             enumerate(["tenure", "spend", "tickets", "noise"])}),
                   project / "background.parquet")
    done = _lamina(project, "run", "explained.py")
    assert done.returncode == 0, done.stderr
    from lamina.client import Client
    from lamina.stack import Stack

    run = Client(Stack.load(cwd=project, env={})).latest_run("explained")
    yield project, run.id, background


def _post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def _rows(x: np.ndarray) -> dict[str, Any]:
    return {"inputs": [{"name": "input-0", "datatype": "FP64", "shape": list(x.shape),
                        "data": x.ravel().tolist()}]}


def _tensors(answer: dict[str, Any]) -> dict[str, np.ndarray]:
    return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in answer["outputs"]}


@pytest.mark.slow
def test_explain_route_on_the_local_server(explained: tuple[Path, str, Any]) -> None:
    from serving_util import Server, get

    from lamina.stack import Stack

    project, run_id, background = explained
    refs = {k: f"explained/{run_id}/{k}" for k in ("tree", "linear", "knn")}
    server = Server(project, ["--name", "churn-api", "--variant", f"tree={refs['tree']}:50",
                              "--variant", f"linear={refs['linear']}:50",
                              "--variant", f"knn={refs['knn']}:0"])
    try:
        stack = Stack.load(cwd=project, env={})
        from lamina.client import Client

        run = Client(stack).run(run_id)
        x = np.random.default_rng(7).normal(size=(6, 4))
        base = f"{server.base}/v2/models/churn-api/versions"

        # a tree model: exact tree SHAP of the probability of churn
        status, answer = _post(f"{base}/tree/explain", {**_rows(x), "id": "req-1"})
        assert status == 200, answer
        assert answer["model_version"] == "tree" and answer["id"] == "req-1"
        assert answer["parameters"]["model"] == refs["tree"]
        assert answer["explanation"] == {"features": ["tenure", "spend", "tickets", "noise"],
                                         "explainer": "tree", "output": "predict_proba[:, 1]"}
        t = _tensors(answer)
        assert t["shap_values"].shape == (6, 4)
        forest = run["tree"].value.obj
        expected = forest.predict_proba(x)[:, 1]
        np.testing.assert_allclose(t["output"], expected, atol=1e-9)
        np.testing.assert_allclose(t["base_values"] + t["shap_values"].sum(axis=1), expected,
                                   atol=1e-6)
        # tenure drives the label most: it moves predictions most
        assert np.abs(t["shap_values"]).mean(axis=0).argmax() == 0

        # a linear model: log-odds, base value over the configured background data
        status, answer = _post(f"{base}/linear/explain", _rows(x))
        assert status == 200, answer
        t = _tensors(answer)
        logistic = run["linear"].value.obj
        expected = logistic.decision_function(x)
        np.testing.assert_allclose(t["base_values"] + t["shap_values"].sum(axis=1), expected,
                                   atol=1e-6)
        np.testing.assert_allclose(t["base_values"],
                                   logistic.decision_function(background[:200]).mean(), atol=1e-6)
        np.testing.assert_allclose(
            t["shap_values"], logistic.coef_[0] * (x - background[:200].mean(axis=0)), atol=1e-6)

        # not a tree or a linear model: 501 with the reason; bad input: 400 naming the field
        status, answer = _post(f"{base}/knn/explain", _rows(x))
        assert status == 501
        assert answer["error"].startswith(f"explain is not available for {refs['knn']}: "
                                          "KNeighborsClassifier is neither a linear model")
        status, answer = _post(f"{base}/tree/explain", _rows(x[:, :3]))
        assert status == 400 and answer["field"].startswith("input")
        status, answer = _post(f"{base}/tree/explain", {"inputs": "nope"})
        assert status == 400 and answer["field"] == "inputs"
        request = urllib.request.Request(f"{base}/tree/explain", method="GET")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 405
        err.value.close()
        # the route is in the server's OpenAPI document
        status, _, raw = get(f"{server.base}/v2/openapi.json")
        assert status == 200
        paths = json.loads(raw)["paths"]
        assert {"/v2/models/churn-api/explain",
                "/v2/models/churn-api/versions/{version}/explain"} <= set(paths)
        # infer is untouched by the plugin
        status, answer = _post(f"{server.base}/v2/models/churn-api/versions/tree/infer", _rows(x))
        assert status == 200 and answer["outputs"][0]["name"] == "churn"
    finally:
        server.stop()


@pytest.mark.slow
def test_global_importance_on_register_and_from_the_cli(explained: tuple[Path, str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from lamina_explain_shap.plugin import stored_importance

    from lamina.sdk import ModelVersion
    from lamina.stack import Stack

    project, run_id, _ = explained
    monkeypatch.chdir(project)
    stack = Stack.load(cwd=project, env={})
    ref = f"explained/{run_id}/linear"
    version = ModelVersion(name="churn", version=4, ref=ref, run_id=run_id,
                           registered_by="ana", registered_at="2026-12-03T10:00:00+00:00")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="explain_shap")
        stack.hook.lamina_model_registered(version=version, stack=stack)  # as the registry does
    stored = stored_importance(stack, ref)
    assert stored is not None and stored["model"] == "churn" and stored["version"] == 4
    assert stored["rows"] == 200 and stored["explainer"] == "linear"
    features = [i["feature"] for i in stored["importance"]]
    assert features[0] == "tenure" and features[-1] == "noise" and len(features) == 4
    values = [i["mean_abs_shap"] for i in stored["importance"]]
    assert values == sorted(values, reverse=True) and values[0] > 0

    # the CLI shows the stored importance, computes one for another model, refuses nonsense
    shown = _lamina(project, "explain", ref)
    assert shown.returncode == 0, shown.stderr
    assert "tenure" in shown.stdout and "mean |SHAP|" in shown.stdout
    tree_ref = f"explained/{run_id}/tree"
    computed = _lamina(project, "explain", tree_ref, "--data", "background.parquet", "--json")
    assert computed.returncode == 0, computed.stderr
    result = json.loads(computed.stdout)
    assert result["ref"] == tree_ref and result["importance"][0]["feature"] == "tenure"
    assert stored_importance(stack, tree_ref) == result
    missing = _lamina(project, "explain", f"explained/{run_id}/knn")
    assert missing.returncode != 0
    assert f"no feature importance is stored for 'explained/{run_id}/knn'" in missing.stderr
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"tenure": [1.0], "spend": [2.0]}), project / "thin.parquet")
    thin = _lamina(project, "explain", ref, "--data", "thin.parquet")
    assert thin.returncode != 0
    assert "has no column(s) tickets, noise" in thin.stderr

    # lamina's own registry: registering computes the importance; a model: reference finds it
    from lamina import registry

    registered = registry.register_model("churn", f"{run_id}/linear", stack=stack)
    by_name = _lamina(project, "explain", f"model:churn/{registered.version}", "--json")
    assert by_name.returncode == 0, by_name.stderr
    shown = json.loads(by_name.stdout)
    assert shown["ref"] == ref and shown["model"] == "churn"
    assert shown["version"] == registered.version


class _Offers:
    """A plugin offering one model route."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def lamina_model_actions(self, stack: Any) -> dict[str, Any]:
        return {self.name: lambda model: lambda inputs, request: {}}


def test_a_plugin_route_cannot_shadow_the_server_or_another_plugin(project: Path) -> None:
    from lamina.serving.server import model_actions
    from lamina.stack import Stack

    stack = Stack.load()
    assert set(model_actions(stack)) >= {"explain"}          # lamina-explain-shap's
    stack.plugins.register(_Offers("infer"), name="greedy")
    with pytest.raises(ServingError, match="a plugin offers the model route 'infer', which the "
                                           "server answers itself"):
        model_actions(stack)
    stack = Stack.load()                                      # a fresh plugin manager
    stack.plugins.register(_Offers("explain"), name="twin")
    with pytest.raises(ServingError, match="two plugins offer the model route 'explain'"):
        model_actions(stack)
