"""Schedules and triggers of flows deployed to Airflow: a cron schedule, a flow started by
another flow's success (Airflow Assets), an event whose payload sets parameters. The
trigger is executed in a real Airflow 3 (`airflow dags test` of both DAGs, no scheduler):
the upstream DAG's successful run records the asset event that queues the downstream DAG,
which then runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from airflow_util import AirflowHome, output_of, write_project

from lamina import Client, load_stack
from lamina.deploy import deploy

UPSTREAM = '''
from lamina import Flow

flow = Flow("af_up")


@flow.step
def produce(size: int = 3) -> list[int]:
    return list(range(size))
'''

DOWNSTREAM = '''
from lamina import EventTrigger, Flow

flow = Flow("af_down", schedule="@daily", trigger_on_finish="af_up",
            trigger=EventTrigger("orders-ready", params={"label": "uri"}))


@flow.step
def consume(label: str = "none") -> str:
    return f"consumed {label}"
'''


def _project(root: Path, dags: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_project(root, dags, prefix="trig_")
    (root / "up.py").write_text(textwrap.dedent(UPSTREAM))
    (root / "down.py").write_text(textwrap.dedent(DOWNSTREAM))
    return root


def test_schedule_and_triggers_map_to_airflow_schedules_and_assets(project: Path) -> None:
    _project(project, project)
    down = deploy("down.py", stack=load_stack("af"), dry_run=True)
    assert ("schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable('0 0 * * *', "
            "timezone='UTC'), assets=(Asset('lamina://flow/af_up') | "
            "Asset('lamina://event/orders-ready'))),") in down
    assert "EVENTS = {'lamina://event/orders-ready': {'label': 'uri'}}" in down
    up = deploy("up.py", stack=load_stack("af"), dry_run=True)
    assert "FINISHED = Asset('lamina://flow/af_up')" in up
    assert "    schedule=None," in up  # no schedule, no trigger: runs only when triggered


def test_asset_names_are_qualified_by_the_project_branch(project: Path, monkeypatch) -> None:
    monkeypatch.setenv("LAMINA_USER", "alice")
    _project(project, project)
    toml = project / "lamina.toml"
    toml.write_text('project = "churn"\n' + toml.read_text())
    down = deploy("down.py", stack=load_stack("af"), dry_run=True)
    assert "Asset('lamina://flow/churn.alice.af_up')" in down
    assert "FINISHED = Asset('lamina://flow/churn.alice.af_down')" in down


def test_event_payload_sets_parameters(project: Path) -> None:
    _project(project, project)
    text = deploy("down.py", stack=load_stack("af"), dry_run=True)
    helpers: dict = {}
    exec(text[text.index("FINISHED ="):text.index("\nFLOW =")], {"Asset": str}, helpers)
    exec(text[text.index("def event_params"):text.index("with DAG(")], helpers)

    class Event:
        extra = {"payload": {"uri": "s3://orders/1", "other": 2}}

    events = {"lamina://event/orders-ready": [Event()]}
    assert helpers["event_params"](events) == {"label": "s3://orders/1"}
    assert helpers["event_params"]({}) == {}


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_dag_triggered_by_another_flows_success_runs_in_airflow(
    airflow_home: AirflowHome, tmp_path: Path,
) -> None:
    root = _project(tmp_path / "project", airflow_home.dags)
    for flow in ("up.py", "down.py"):
        done = subprocess.run([sys.executable, "-m", "lamina", "deploy", flow, "--stack", "af"],
                              cwd=root, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    # what a running Airflow does by itself: parse the DAG files, recording which DAG is
    # scheduled on which asset (new DAGs unpaused, so a queued run would start)
    env = {**airflow_home.env, "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
    done = subprocess.run([str(airflow_home.airflow), "dags", "reserialize"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, output_of(done)[-3000:]
    up = airflow_home.dags_test("trig_af_up")
    assert up.returncode == 0, output_of(up)[-4000:]
    events = airflow_home.query(
        "SELECT a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id")
    assert ("lamina://flow/af_up",) in events
    queued = airflow_home.query("SELECT target_dag_id FROM asset_dag_run_queue")
    assert ("trig_af_down",) in queued  # what the scheduler starts next
    down = airflow_home.dags_test("trig_af_down")
    assert down.returncode == 0, output_of(down)[-4000:]
    stack = load_stack("af", cwd=root)
    runs = {r.flow: r for r in Client(stack=stack).runs()}
    assert runs["af_up"].status == runs["af_down"].status == "succeeded"
    assert runs["af_down"]["consume"].value == "consumed none"
    assert json.loads(json.dumps(runs["af_up"]["produce"].value)) == [0, 1, 2]
