"""One small flow run locally, on a real Dask cluster and through a real Airflow gives the
same content hash for every artifact (a dict holding a fitted model included), so
`lamina diff` sees no change; and an Airflow trigger with a misspelled conf key fails with
that message, not with a confusing one from the finish task."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_util import AirflowHome, output_of

from lamina import Client
from lamina.stack import Stack

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dask"))
from dask_util import DaskCluster, outputs
from envs_util import running

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

FLOW = '''
import numpy as np
from sklearn.linear_model import LogisticRegression

from lamina import Flow

flow = Flow("same")


@flow.step
def grid() -> list:
    return [{"C": 0.5, "solver": "lbfgs"}, {"C": 2.0, "solver": "lbfgs"}]


@flow.step(foreach="grid")
def fit(grid: dict) -> dict:
    X = np.arange(40, dtype=float).reshape(20, 2)
    model = LogisticRegression(C=grid["C"], solver=grid["solver"]).fit(X, np.array([0, 1] * 10))
    return {"model": model, "config": grid, "score": float(model.score(X, [0, 1] * 10))}


@flow.step
def best(fit: list, label: str = "run") -> dict:
    top = max(fit, key=lambda f: (f["score"], f["config"]["C"]))
    return {**top, "label": label, "arrays": (top["model"].coef_, top["model"].intercept_)}
'''


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    with running(DaskCluster(tmp_path_factory.mktemp("dask"))) as started:
        yield started


@pytest.fixture(scope="module")
def project(airflow_home: AirflowHome, cluster: DaskCluster,
            tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("same")
    shared = ('datastore = "file://shared"\n'
              'metadata = { plugin = "sqlite", path = "shared/metadata.db" }\n')
    (root / "lamina.toml").write_text(
        f"[stacks.local]\n{shared}\n"
        f'[stacks.dask]\n{shared}compute = {{ plugin = "dask", address = "{cluster.address}" }}\n\n'
        f"[stacks.af]\n{shared}"
        f'orchestrator = {{ plugin = "airflow", dags_folder = {str(airflow_home.dags)!r}, '
        f'python = {sys.executable!r}, dag_id_prefix = "same_" }}\n'
    )
    (root / "flow.py").write_text(FLOW)
    return root


def _lamina(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lamina", *args], cwd=root,
                          capture_output=True, text=True, timeout=600)


def _stack(root: Path) -> Stack:
    return Stack.load("local", cwd=root, env={})


def test_local_dask_and_airflow_runs_hash_every_artifact_alike(
    airflow_home: AirflowHome, project: Path
) -> None:
    for stack in ("local", "dask"):
        done = _lamina(project, "run", "flow.py", "--stack", stack)
        assert done.returncode == 0, done.stderr[-3000:]
    deployed = _lamina(project, "deploy", "flow.py", "--stack", "af")
    assert deployed.returncode == 0, deployed.stderr
    done = airflow_home.dags_test("same_same")
    assert done.returncode == 0, output_of(done)[-5000:]

    client = Client(_stack(project))
    airflow_run, dask_run, local_run = client.runs(flow="same")[:3]
    assert airflow_run.record.orchestrator == "airflow"
    assert dask_run.record.status == local_run.record.status == "succeeded"
    assert airflow_run.record.status == "succeeded"
    hashes = [{s: outputs(run, s) for s in run.steps} for run in (local_run, dask_run, airflow_run)]
    assert hashes[0] == hashes[1] == hashes[2]
    assert len(hashes[0]["fit"]) == 2 and type(airflow_run["best"].value["model"]).__name__ == (
        "LogisticRegression")

    for other in (dask_run, airflow_run):
        diff = _lamina(project, "diff", local_run.id, other.id, "--json", "--stack", "local")
        assert diff.returncode == 0, diff.stderr
        assert json.loads(diff.stdout)["artifacts"] == []


def test_a_misspelled_conf_key_fails_the_start_task_and_nothing_else_confuses(
    airflow_home: AirflowHome, project: Path
) -> None:
    if not (airflow_home.dags / "same_same.py").exists():
        assert _lamina(project, "deploy", "flow.py", "--stack", "af").returncode == 0
    done = airflow_home.dags_test("same_same", json.dumps({"lable": "x"}))
    out = output_of(done)
    assert done.returncode != 0 or "failed" in out
    assert "lable" in out  # the start task names the unknown key
    assert "no run 'None'" not in out
    assert "no lamina run to close: lamina_start failed before it recorded one" in out
