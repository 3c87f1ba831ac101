"""The same flow deployed from two branches of a project (production and alice's) gives
two Airflow DAGs, and both run in a real Airflow side by side (`airflow dags test`), each
run acting for its own branch in every task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_util import AirflowHome, output_of, write_project

from lamina import Client, load_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

FLOW = '''
from lamina import Flow, current

flow = Flow("movies")


@flow.step
def where() -> str:
    """The namespace the task acts for: its stack was rebuilt from the run's record."""
    return current.context.stack.branch.namespace


@flow.step
def total(where: str, n: int = 3) -> str:
    return f"{where}:{sum(range(n))}"
'''


def _deploy(project: Path, user: str, *flags: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["LAMINA_USER"] = user
    done = subprocess.run(
        [sys.executable, "-m", "lamina", "deploy", "flow.py", "--stack", "af", *flags],
        cwd=project, capture_output=True, text=True, env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_two_branches_deploy_two_dags_that_both_run(
    airflow_home: AirflowHome, tmp_path: Path
) -> None:
    write_project(tmp_path, airflow_home.dags, prefix="")
    config = tmp_path / "lamina.toml"
    config.write_text('project = "churn"\n' + config.read_text())
    (tmp_path / "flow.py").write_text(FLOW)

    prod_out = _deploy(tmp_path, "bob", "--production")
    _deploy(tmp_path, "alice")  # alice's own branch, by default
    assert "production branch of project churn, deployed by bob" in prod_out
    assert (airflow_home.dags / "churn.prod.movies.py").is_file()
    assert (airflow_home.dags / "churn.alice.movies.py").is_file()

    runs = {}
    for branch in ("prod", "alice"):
        dag_id = f"churn.{branch}.movies"
        done = airflow_home.dags_test(dag_id)
        assert done.returncode == 0, output_of(done)[-5000:]
        airflow_run = airflow_home.latest_run_id(dag_id)
        states = {t: s for t, _, s in airflow_home.task_states(dag_id, airflow_run)}
        assert states == dict.fromkeys(
            ("lamina_start", "where", "total", "lamina_finish"), "success"), states
        found = Client(load_stack("af", cwd=tmp_path), namespace=None).runs(
                tag=f"airflow-dag:{dag_id}")
        assert len(found) == 1
        runs[branch] = found[0]

    # each DAG's tasks acted for the branch that deployed it, whoever Airflow runs as
    assert runs["prod"]["total"].value == "project:churn/branch:prod:3"
    assert runs["alice"]["total"].value == "project:churn/branch:alice:3"
    assert runs["prod"].id != runs["alice"].id
