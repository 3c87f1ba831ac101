"""A real Airflow 3 for the tests: its own environment (its fastapi pins clash with other
servers'), a temporary AIRFLOW_HOME migrated once per session, `airflow dags test`, and
reads of Airflow's own SQLite database.

The DAGs' tasks run `python -m lamina` with this project's interpreter (the `python`
option of the orchestrator), so the Airflow environment holds Airflow only.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from envs_util import ensure_env

AIRFLOW_REQUIREMENTS = ["apache-airflow==3.*"]

#: A flow with a required parameter, a foreach and per-step options.
SHOP_FLOW = '''
from lamina import Flow

flow = Flow("shop")


@flow.step
def regions(limit: int = 3) -> list[str]:
    return ["eu", "us", "apac"][:limit]


@flow.step(foreach="regions", retries=2, timeout=90, cpu=2)
def sales(regions: str, scale: float = 1.5) -> float:
    return len(regions) * scale


@flow.step
def report(sales: list[float], title: str) -> str:
    return f"{title}: {sum(sales)}"
'''


def airflow_python() -> Path:
    return ensure_env("airflow", AIRFLOW_REQUIREMENTS)


class AirflowHome:
    """One AIRFLOW_HOME with a SQLite database and a dags folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dags = root / "dags"
        self.dags.mkdir(parents=True, exist_ok=True)
        self.python = airflow_python()
        self.airflow = self.python.parent / "airflow"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "LAMINA_"))}
        env.pop("VIRTUAL_ENV", None)
        env.update(
            AIRFLOW_HOME=str(self.root),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="False",
            AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        )
        return env

    def migrate(self) -> None:
        done = subprocess.run([str(self.airflow), "db", "migrate"], env=self.env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    def dags_test(self, dag_id: str, conf: str | None = None) -> subprocess.CompletedProcess:
        args = [str(self.airflow), "dags", "test", dag_id]
        if conf is not None:
            args += ["-c", conf]
        return subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=1500)

    def query(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.root / "airflow.db") as conn:
            return conn.execute(sql, params).fetchall()

    def latest_run_id(self, dag_id: str) -> str:
        rows = self.query("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
                          dag_id)
        assert rows, f"Airflow has no run of {dag_id}"
        return rows[0][0]

    def task_states(self, dag_id: str, run_id: str) -> list[tuple[str, int, str]]:
        """(task_id, map_index, state) of every task instance of one DAG run."""
        return self.query(
            "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ? "
            "ORDER BY task_id, map_index", dag_id, run_id,
        )


def write_project(root: Path, dags: Path, *, prefix: str, extra: str = "") -> Path:
    """A project whose stack `af` deploys to ``dags`` and runs tasks with this interpreter."""
    (root / "lamina.toml").write_text(textwrap.dedent(f"""\
        [stacks.af]
        datastore = "file://.lamina"
        orchestrator = {{ plugin = "airflow", dags_folder = {str(dags)!r}, python = {sys.executable!r}, dag_id_prefix = {prefix!r}{extra} }}
        """))
    return root / "lamina.toml"


def output_of(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr
