"""Flows deployed with `lamina deploy` and executed by a real Airflow 3 (`airflow dags
test`, no scheduler), then inspected through lamina's Client and resumed locally.

Airflow is slow to start each command, so each DAG runs once per session (module-scoped
fixtures) and several tests read the outcome.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from airflow_util import SHOP_FLOW, AirflowHome, output_of, write_project

import lamina
from lamina import Client, load_stack

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

WIDE_FLOW = '''
from pathlib import Path

from lamina import Flow

flow = Flow("af_wide")


@flow.step
def items(count: int = 5) -> list[int]:
    return list(range(count))


@flow.step(foreach="items", retries=1, timeout=300)
def square(items: int, scale: int = 1) -> int:
    return items * items * scale


@flow.step
def total(square: list[int]) -> int:
    return sum(square)


@flow.step
def check(total: int, marker: str = "") -> int:
    if not Path(marker).exists():
        raise RuntimeError(f"marker file {marker} is missing")
    return total
'''


def _deploy(project: Path, target: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "lamina", "deploy", target, "--stack", "af"],
        cwd=project, capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def wide(airflow_home: AirflowHome, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The wide flow run once in Airflow: 50 mapped tasks, then a step that fails."""
    project = tmp_path_factory.mktemp("wide")
    write_project(project, airflow_home.dags, prefix="wide_")
    (project / "flow.py").write_text(WIDE_FLOW)
    marker = project / "marker"
    _deploy(project, "flow.py")
    conf = json.dumps({"count": 50, "scale": 3, "marker": str(marker)})
    done = airflow_home.dags_test("wide_af_wide", conf)
    airflow_run = airflow_home.latest_run_id("wide_af_wide")
    return {"project": project, "done": done, "airflow_run": airflow_run, "marker": marker}


def _stack(project: Path):
    return load_stack("af", cwd=project)


def _lamina_run(project: Path, dag_id: str):
    runs = Client(_stack(project)).runs(tag=f"airflow-dag:{dag_id}")
    assert len(runs) == 1, [r.id for r in runs]
    return runs[0]


def test_foreach_of_50_maps_to_50_airflow_task_instances(airflow_home: AirflowHome, wide: dict) -> None:
    states = airflow_home.task_states("wide_af_wide", wide["airflow_run"])
    square = [(index, state) for task, index, state in states if task == "square"]
    assert [i for i, _ in square] == list(range(50)), output_of(wide["done"])[-5000:]
    assert {s for _, s in square} == {"success"}
    by_task = {task: state for task, index, state in states if index == -1}
    assert by_task["items"] == by_task["total"] == by_task["prepare_square"] == "success"
    assert by_task["check"] == "failed"
    assert by_task["lamina_finish"] == "failed"  # the DAG run fails with the lamina run


def test_conf_params_reach_the_steps_and_airflow_ids_are_recorded(wide: dict) -> None:
    run = _lamina_run(wide["project"], "wide_af_wide")
    assert run.record.params == {"count": 50, "scale": 3, "marker": str(wide["marker"])}
    assert run["total"].value == 3 * sum(i * i for i in range(50))
    assert run.record.orchestrator == "airflow"
    assert run.record.orchestrator_run_id == f"wide_af_wide/{wide['airflow_run']}"
    assert f"airflow-run:{wide['airflow_run']}" in run.record.tags


def test_failing_step_fails_its_task_with_the_traceback_in_the_log(wide: dict) -> None:
    out = output_of(wide["done"])
    assert "RuntimeError: marker file" in out
    assert 'flow.py", line' in out and "in check" in out  # the step's own frame
    run = _lamina_run(wide["project"], "wide_af_wide")
    assert run.record.status == "failed"
    failed = [t for t in run.tasks() if t.record.status == "failed"]
    assert [(t.record.step, t.record.index) for t in failed] == [("check", 0)]
    assert "marker file" in failed[0].record.error


def test_lamina_resume_completes_the_airflow_run_locally(wide: dict) -> None:
    project = wide["project"]
    origin = _lamina_run(project, "wide_af_wide")
    wide["marker"].write_text("here")
    resumed = lamina.resume(origin.id, stack=_stack(project))
    assert resumed.record.status == "succeeded"
    assert resumed["check"].value == 3 * sum(i * i for i in range(50))
    reused = [t for t in resumed.tasks() if t.record.reused_from]
    assert len(reused) >= 52  # items, the 50 squares and total come from the Airflow run
    # recorded as what ran it (here, not Airflow), without the Airflow run's own labels
    assert resumed.record.orchestrator == "local" and not resumed.record.orchestrator_run_id
    assert not [t for t in resumed.record.tags if t.startswith(("airflow-run:", "airflow-dag:"))]
    assert resumed.record.resumed_from == origin.id
    diff = Client(_stack(project)).diff(origin.id, resumed.id)  # `lamina diff` across engines
    assert diff.code_files == [] and diff.step_code == [] and diff.params == []
    assert [c.what for c in diff.artifacts] == ["check[0]"]


def test_quickstart_succeeds_in_airflow_and_runs_the_deployed_code(
    airflow_home: AirflowHome, tmp_path: Path
) -> None:
    write_project(tmp_path, airflow_home.dags, prefix="qs_")
    shutil.copy(REPO / "examples" / "quickstart" / "flow.py", tmp_path / "flow.py")
    _deploy(tmp_path, "flow.py")
    # edited after deployment: runs must execute the snapshot taken at deploy time
    with open(tmp_path / "flow.py", "a") as handle:
        handle.write(textwrap.dedent("""
            raise SystemExit("this edit was made after deployment")
        """))
    done = airflow_home.dags_test("qs_quickstart", json.dumps({"test_size": 0.3}))
    assert done.returncode == 0, output_of(done)[-5000:]
    run = _lamina_run(tmp_path, "qs_quickstart")
    assert run.record.status == "succeeded"
    assert run.record.params["test_size"] == 0.3
    assert len(run["dataset"].value["y_test"]) == 171  # 30 % of 569 rows
    best = run["best"].value
    assert best["accuracy"] > 0.9
    assert len(run["train"].tasks) == 6
    assert hasattr(best["model"], "predict")
    states = airflow_home.task_states("qs_quickstart", airflow_home.latest_run_id("qs_quickstart"))
    assert sorted(i for t, i, _ in states if t == "train") == list(range(6))


def test_airflow_imports_the_generated_file_before_it_is_written(
    airflow_home: AirflowHome, tmp_path: Path
) -> None:
    from lamina.deploy import deploy
    from lamina.errors import LaminaError

    write_project(tmp_path, airflow_home.dags, prefix="checked_",
                  extra=f", airflow_python = {str(airflow_home.python)!r}")
    (tmp_path / "flow.py").write_text(SHOP_FLOW)  # has a required parameter and a foreach
    where = Path(deploy(tmp_path / "flow.py", stack=_stack(tmp_path)))
    assert where.name == "checked_shop.py" and where.is_file()
    where.unlink()
    # pods cannot reach this machine's SQLite store: refused before anything is written
    # (the provider check itself, for a stack with shared stores, is the same path)
    with open(tmp_path / "lamina.toml", "a") as handle:
        handle.write('compute = { plugin = "k8s", image = "registry/ml:7" }\n')
    with pytest.raises(LaminaError, match="SQLite file on this machine"):
        deploy(tmp_path / "flow.py", stack=_stack(tmp_path))
    assert not where.exists()
