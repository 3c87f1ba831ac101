"""A run driven one command at a time, as a DAG's tasks drive it (start, prepare each step,
run each task, finish), without Airflow: the records it leaves must be an ordinary run's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lamina import Client, load_stack
from lamina.deploy import build_deployment_plan
from lamina.errors import LaminaError
from lamina.flow.loader import load_flow_file
from lamina.runtime.remote import run_remote_task
from lamina.runtime.stepwise import finish_run, prepare_step, start_run

FLOW = '''
from lamina import Flow

flow = Flow("nest")


@flow.step
def words(n: int = 3) -> list[str]:
    return ["ab", "cde", "f", "ghij"][:n]


@flow.step
def nothing() -> list[int]:
    return []


@flow.step(foreach="words")
def length(words: str):
    return len(words)


@flow.step(foreach="length")
def double(length: int) -> int:
    return 2 * length


@flow.step(foreach="nothing")
def never(nothing: int) -> int:
    return nothing


@flow.step
def total(double: list[int], never: list[int], label: str = "sum") -> str:
    return f"{label}={sum(double) + sum(never)}"
'''


def _deployed(project: Path):
    (project / "lamina.toml").write_text('[stacks.s]\ndatastore = "file://.lamina"\n')
    (project / "flow.py").write_text(FLOW)
    stack = load_stack("s")
    plan = build_deployment_plan(load_flow_file(project / "flow.py"), stack)
    return stack, plan


def _drive(stack, run_id: str, steps: list[str]) -> dict[str, int]:
    counts = {}
    for step in steps:
        counts[step] = prepare_step(stack.artifacts, run_id, step)
        for index in range(counts[step]):
            run_remote_task(stack.datastore.url, run_id, step, index)
    return counts


def test_a_stepwise_run_is_an_ordinary_run(project: Path) -> None:
    stack, plan = _deployed(project)
    run_id = start_run(stack, flow="nest", deployment_id=plan.deployment_id,
                       params={"n": "4", "label": "s"}, tags=("airflow-dag:x",),
                       orchestrator="airflow", orchestrator_run_id="x/manual_1")
    counts = _drive(stack, run_id, list(plan.graph.order))
    assert counts == {"words": 1, "nothing": 1, "length": 4, "double": 4, "never": 0, "total": 1}
    record = finish_run(stack, run_id)
    assert record.status == "succeeded"
    run = Client(stack).run(run_id)
    assert run["total"].value == "s=20"
    assert run.params == {"n": 4, "label": "s"}  # parsed by the annotations
    assert [t.value for t in run["double"]] == [4, 6, 2, 8]
    assert run["length"][1].record.element == "words='cde'"
    assert run["total"].task.record.inputs["double"] == [t.ref.key for t in run["double"]]
    assert run.record.orchestrator_run_id == "x/manual_1" and run.record.pid == 0
    assert finish_run(stack, run_id).finished_at == record.finished_at  # closed stays closed


def test_a_run_in_progress_shows_the_tasks_that_finished(project: Path) -> None:
    stack, plan = _deployed(project)
    run_id = start_run(stack, flow="nest", deployment_id=plan.deployment_id, params={"n": "2"})
    assert Client(stack).run(run_id).tasks() == []
    prepare_step(stack.artifacts, run_id, "words")
    run_remote_task(stack.datastore.url, run_id, "words", 0)
    assert prepare_step(stack.artifacts, run_id, "length") == 2
    run_remote_task(stack.datastore.url, run_id, "length", 1)  # length/0 still "running"
    run = Client(stack).run(run_id)
    assert run.status == "running"
    assert [(t.record.step, t.record.index, t.status) for t in run.tasks()] == [
        ("words", 0, "succeeded"), ("length", 1, "succeeded")]
    assert run["words"].task.value == ["ab", "cde"]
    proc = subprocess.run([sys.executable, "-m", "lamina", "show", run_id], cwd=project,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "length" in proc.stdout and "succeeded" in proc.stdout


def test_the_deployed_snapshot_runs_not_the_file_on_disk(project: Path) -> None:
    stack, plan = _deployed(project)
    (project / "flow.py").write_text(FLOW.replace("return 2 * length", "return 3 * length"))
    run_id = start_run(stack, flow="nest", deployment_id=plan.deployment_id)
    _drive(stack, run_id, list(plan.graph.order))
    assert finish_run(stack, run_id).status == "succeeded"
    assert Client(stack).run(run_id)["total"].value == "sum=12"


def test_lost_and_failed_tasks_fail_the_run(project: Path) -> None:
    stack, plan = _deployed(project)
    run_id = start_run(stack, flow="nest", deployment_id=plan.deployment_id)
    _drive(stack, run_id, ["words", "nothing"])
    assert prepare_step(stack.artifacts, run_id, "length") == 3
    run_remote_task(stack.datastore.url, run_id, "length", 0)  # tasks 1 and 2 never report
    record = finish_run(stack, run_id)
    assert record.status == "failed"
    assert "left no outcome" in record.error
    tasks = {(t.step, t.index): t.status for t in Client(stack).run(run_id).tasks()}
    assert tasks[("length", 0)] == "succeeded"
    assert tasks[("length", 1)] == tasks[("length", 2)] == "failed"


def test_unknown_deployment_and_foreach_over_a_string(project: Path) -> None:
    stack, plan = _deployed(project)
    with pytest.raises(LaminaError, match="has no deployment 0000"):
        start_run(stack, flow="nest", deployment_id="0000")
    bad = FLOW.replace('return ["ab", "cde", "f", "ghij"][:n]', 'return "abc"').replace(
        "-> list[str]", "")
    (project / "flow.py").write_text(bad)
    plan = build_deployment_plan(load_flow_file(project / "flow.py"), stack)
    run_id = start_run(stack, flow="nest", deployment_id=plan.deployment_id)
    _drive(stack, run_id, ["words"])
    with pytest.raises(LaminaError, match="foreach needs a list-like value"):
        prepare_step(stack.artifacts, run_id, "length")
    record = finish_run(stack, run_id)
    assert record.status == "failed" and "ForeachError" not in record.error
    assert "foreach needs a list-like value" in record.error


def test_cli_prints_run_id_and_task_count_last(project: Path) -> None:
    stack, plan = _deployed(project)
    base = [sys.executable, "-m", "lamina"]
    done = subprocess.run([*base, "--stack", "s", "stepwise", "start", "--flow", "nest",
                           "--deployment", plan.deployment_id, "--params", '{"n": 2}'],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip().splitlines()[-1]
    assert Client(stack).run(run_id).params["n"] == 2
    subprocess.run([*base, "stepwise", "prepare", "--datastore", stack.datastore.url, "--run",
                    run_id, "--step", "words"], check=True, capture_output=True)
    run_remote_task(stack.datastore.url, run_id, "words", 0)
    xcom = project / "xcom" / "return.json"
    done = subprocess.run([*base, "stepwise", "prepare", "--datastore", stack.datastore.url,
                           "--run", run_id, "--step", "length", "--xcom-file", str(xcom)],
                          capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "2"
    assert xcom.read_text() == "[0, 1]"
    done = subprocess.run([*base, "--stack", "s", "stepwise", "finish", "--run", run_id],
                          capture_output=True, text=True)
    assert done.returncode == 1 and "lamina resume" in done.stderr
    bad = subprocess.run([*base, "--stack", "s", "stepwise", "start", "--flow", "nest",
                          "--deployment", plan.deployment_id, "--params", "[1]"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "JSON object" in bad.stderr
