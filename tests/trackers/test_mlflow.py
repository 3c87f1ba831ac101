"""lamina-tracking-mlflow against a real MLflow: its SQLite tracking store in-process, and
``mlflow server`` on loopback; everything asserted through MLflow's own client."""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from envs_util import ensure_env, free_port, stop_process, wait_for_port
from mlflow.tracking import MlflowClient
from trackers_util import churn_flow, promote, register, write_config

from lamina import Stack
from lamina.errors import ConfigError, TrackerWarning


def _mlflow_run(client: MlflowClient, run_id: str):
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              filter_string=f"tags.`lamina_run_id` = '{run_id}'")
    assert len(runs) == 1, runs
    return runs[0]


def _check_results(client: MlflowClient, mlflow_run: str, run_id: str, stack: Stack) -> None:
    """The model step's stored bytes, identical to the datastore's, with their reference."""
    files = {f.path for f in client.list_artifacts(mlflow_run, "lamina/model")}
    task = stack.metadata.list_tasks(run_id, "model")[0]
    assert files == {f"lamina/model/result.{task.output.serializer}",
                     "lamina/model/result.ref.json"}
    local = Path(client.download_artifacts(mlflow_run, "lamina/model"))
    stored = Path(stack.datastore.blob_path(task.output.key)).read_bytes()
    assert (local / f"result.{task.output.serializer}").read_bytes() == stored
    assert json.loads((local / "result.ref.json").read_text())["key"] == task.output.key


def _check_mirrored_run(client: MlflowClient, run, stack: Stack) -> str:
    found = _mlflow_run(client, run.id)
    assert client.get_experiment(found.info.experiment_id).name == "churn"
    assert found.info.status == "FINISHED" and found.info.run_name == run.id
    assert found.data.params == {"C": "0.5", "rows": "300"}
    tags = found.data.tags
    assert tags["team"] == "growth" and tags["owner"] == "ana" and tags["nightly"] == ""
    assert tags["lamina_flow"] == "churn" and tags["lamina_status"] == "succeeded"
    assert tags["lamina_code_hash"] == run.record.code_hash
    metrics = found.data.metrics
    assert metrics["model/accuracy"] > 0.9 and metrics["model/rows"] == 300.0
    history = client.get_metric_history(found.info.run_id, "cv/score")
    assert sorted((m.step, round(m.value, 6)) for m in history) == [(0, 0.8), (1, 0.85), (2, 0.9)]
    return found.info.run_id


def _check_registry(client: MlflowClient, stack: Stack, run_id: str, mlflow_run: str) -> None:
    v1 = register(stack, run_id, version=1)
    mv = client.get_model_version("churn", "1")
    assert mv.run_id == mlflow_run and mv.source.endswith("lamina/model")
    assert mv.tags["lamina_version"] == "1" and mv.tags["lamina_ref"] == v1.ref
    assert mv.tags["lamina_registered_by"] == "ana" and mv.tags["lamina_metadata_auc"] == "0.91"
    assert mv.description == "nightly retrain"
    register(stack, run_id, version=1)                     # the hook again: no duplicate
    assert len(client.search_model_versions("name = 'churn'")) == 1
    promote(stack, v1, "champion")
    champion = client.get_model_version_by_alias("churn", "champion")
    assert str(champion.version) == "1"
    assert champion.tags["lamina_alias_champion_reason"] == "beats v0 on every slice"
    assert champion.tags["lamina_alias_champion_by"] == "ana"
    # version 2 of the same run's model becomes champion; then the alias is removed
    v2 = register(stack, run_id, version=2)
    promote(stack, v2, "champion", previous=1)
    assert client.get_model_version_by_alias("churn", "champion").tags["lamina_version"] == "2"
    promote(stack, v2, "champion", previous=2, remove=True)
    assert "champion" not in client.get_registered_model("churn").aliases


@pytest.mark.slow
def test_runs_and_registry_mirrored_into_a_sqlite_store(project: Path) -> None:
    stack = write_config(project, '[plugins.tracking_mlflow]\n'
                                  'tracking_uri = "sqlite:///mlflow.db"\nartifacts = ["model"]\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackerWarning)
        run = churn_flow().run(stack=stack, tags=["team=growth", "owner:ana", "nightly"], C=0.5)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    mlflow_run = _check_mirrored_run(client, run, stack)
    _check_results(client, mlflow_run, run.id, stack)            # the chosen step
    assert not any(t.startswith("tracker-failed") for t in stack.metadata.get_run(run.id).tags)
    _check_registry(client, stack, run.id, mlflow_run)

    # a failed run is mirrored too: FAILED, with what its finished tasks logged
    from lamina import Flow

    broken = Flow("broken")

    @broken.step
    def fit() -> int:
        from lamina import current

        current.log_metric("loss", 0.25)
        return 1

    @broken.step
    def evaluate(fit: int) -> int:
        raise ValueError("no holdout set")

    failed = broken.run(stack=stack, raise_on_failure=False)
    found = _mlflow_run(client, failed.id)
    assert found.info.status == "FAILED" and found.data.tags["lamina_status"] == "failed"
    assert found.data.metrics == {"fit/loss": 0.25}
    assert client.get_experiment(found.info.experiment_id).name == "broken"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on a free loopback port, its store on SQLite, its
    artifacts served through it. In an environment of its own: the project's pins
    SQLAlchemy 1.4 (Airflow's bound), on which MLflow 3's server does not start."""
    import mlflow as client_side

    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    py = ensure_env("mlflow-server", [f"mlflow=={client_side.__version__}"])
    mlflow = py.with_name("mlflow")
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'store.db'}",
         "--artifacts-destination", str(root / "artifacts")],
        cwd=root, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    try:
        wait_for_port(port, timeout=120, process=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


@pytest.mark.slow
def test_runs_and_registry_mirrored_to_an_mlflow_server(project: Path, mlflow_server: str) -> None:
    # no artifacts chosen: registering the model logs its bytes into the run
    stack = write_config(project, f'[plugins.tracking_mlflow]\ntracking_uri = "{mlflow_server}"\n'
                                  'experiment = "churn"\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackerWarning)
        run = churn_flow().run(stack=stack, tags=["team=growth", "owner:ana", "nightly"], C=0.5)
    client = MlflowClient(tracking_uri=mlflow_server)
    mlflow_run = _check_mirrored_run(client, run, stack)
    assert client.list_artifacts(mlflow_run, "lamina/model") == []
    _check_registry(client, stack, run.id, mlflow_run)
    _check_results(client, mlflow_run, run.id, stack)


def test_a_tracker_that_is_down_never_fails_the_run(project: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_PASSWORD_FOR_TEST", "hunter2-not-shown")
    dead = f"http://ana:${{MLFLOW_PASSWORD_FOR_TEST}}@127.0.0.1:{free_port()}"
    stack = write_config(project, f'[plugins.tracking_mlflow]\ntracking_uri = "{dead}"\n'
                                  'retries = 1\ntimeout = 2\n')
    flow = churn_flow()
    with pytest.warns(TrackerWarning, match=r"tracking_mlflow: could not mirror run churn/.* "
                                            r"after 2 attempt\(s\).*tagged tracker-failed:mlflow"
                      ) as shown:
        run = flow.run(stack=stack, rows=60)
    assert not any("hunter2" in str(w.message) for w in shown)   # the secret is redacted
    assert run.successful
    assert "tracker-failed:mlflow" in stack.metadata.get_run(run.id).tags
    # registering its model: warned and recorded the same way, nothing raised
    with pytest.warns(TrackerWarning, match="model churn version 1"):
        register(stack, run.id)
    # mirrored again once a tracker answers, as docs/trackers.md shows
    from lamina_tracking_mlflow.plugin import Mirror, MlflowOptions

    later = Mirror(stack, MlflowOptions(tracking_uri="sqlite:///later.db"))
    for failed in stack.metadata.list_runs(tag="tracker-failed:mlflow"):
        later.run(failed)
        stack.metadata.remove_tags(failed.run_id, ["tracker-failed:mlflow"])
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'later.db'}")
    assert _mlflow_run(client, run.id).data.metrics["model/rows"] == 60.0
    assert stack.metadata.list_runs(tag="tracker-failed:mlflow") == []


def test_idle_without_a_tracking_uri_and_bad_options_fail_at_load(project: Path) -> None:
    stack = write_config(project, "")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackerWarning)
        run = churn_flow().run(stack=stack, rows=60)
    assert not (project / "mlruns").exists() and not (project / "mlflow.db").exists()
    assert not any(t.startswith("tracker-failed") for t in stack.metadata.get_run(run.id).tags)
    with pytest.raises(ConfigError, match=r"tracking_uri 'ftp://x' is not an MLflow tracking URI"):
        write_config(project, '[plugins.tracking_mlflow]\ntracking_uri = "ftp://x"\n')
    with pytest.raises(ConfigError, match="retries must be 0 or more"):
        write_config(project, '[plugins.tracking_mlflow]\ntracking_uri = "mlruns"\nretries = -1\n')


@pytest.mark.slow
def test_the_registry_itself_mirrors_versions_and_aliases(project: Path) -> None:
    """Not the hooks called by hand: lamina's own registry registers and promotes, and
    MLflow's registry follows."""
    from lamina import registry

    stack = write_config(project, '[plugins.tracking_mlflow]\n'
                                  'tracking_uri = "sqlite:///mlflow.db"\n')
    run = churn_flow().run(stack=stack, C=0.5)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    v1 = registry.register_model("churn", f"{run.id}/model", metadata={"auc": 0.9},
                                 stack=stack)
    v2 = registry.register_model("churn", f"{run.id}/model", stack=stack)
    assert (v1.version, v2.version) == (1, 2)
    versions = client.search_model_versions("name = 'churn'")
    assert sorted(int(v.tags["lamina_version"]) for v in versions) == [1, 2]
    assert {v.run_id for v in versions} == {_mlflow_run(client, run.id).info.run_id}
    registry.promote("churn", 2, "champion", reason="better on every slice", stack=stack)
    champion = client.get_model_version_by_alias("churn", "champion")
    assert champion.tags["lamina_version"] == "2"
    assert champion.tags["lamina_alias_champion_reason"] == "better on every slice"
    registry.remove_alias("churn", "champion", stack=stack)
    assert "champion" not in client.get_registered_model("churn").aliases
