"""The ``airflow`` orchestrator passes the orchestrator conformance suite: ``run`` on this
machine, and one tiny flow deployed as a DAG and run by a real Airflow 3 (``airflow dags
test``, no scheduler)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow_util import AirflowHome, output_of, write_project

import lamina
from lamina.testing import OrchestratorSuite

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class TestAirflowOrchestrator(OrchestratorSuite):
    deploys = True

    @pytest.fixture
    def orchestrator_stack(self, airflow_home: AirflowHome, tmp_path: Path) -> Iterator[Any]:
        self.airflow = airflow_home
        write_project(tmp_path, airflow_home.dags, prefix="conformance_")
        with lamina.load_stack("af", cwd=tmp_path, env={}) as stack:
            yield stack

    def execute_deployment(self, stack: Any, flow: Any, where: str,
                           params: dict[str, Any]) -> None:
        dag_id = stack.orchestrator.dag_id(flow.name)
        assert Path(where) == self.airflow.dags / f"{dag_id}.py"
        done = self.airflow.dags_test(dag_id, json.dumps(params))
        assert done.returncode == 0, output_of(done)[-5000:]
        states = {task for task, _, state in self.airflow.task_states(
            dag_id, self.airflow.latest_run_id(dag_id)) if state == "success"}
        assert {"numbers", "square", "total"} <= states, states
