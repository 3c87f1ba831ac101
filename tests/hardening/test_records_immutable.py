"""A finished task's record is never rewritten, and ``lamina task`` refuses an address no
run can have (defect 8 of the hardening trials)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from client_util import cli_env, copy_flow, load, project_stack

from lamina.errors import ImmutableRunError
from lamina.records import TaskOutcome
from lamina.runtime.task import write_outcome


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("immutable") / "project"
    stack = project_stack(root)
    run = load(copy_flow("client_numbers.py", root)).run(stack=stack, n=2)
    yield root, run, stack
    stack.close()


def _task(root: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lamina", "task", "--datastore", url, *args],
                          cwd=root, env=cli_env(), capture_output=True, text=True, timeout=120)


def test_lamina_task_on_a_finished_task_refuses_and_leaves_the_record(finished) -> None:
    root, run, _ = finished
    record = root / ".lamina" / "runs" / run.id / "tasks" / "square" / "1.json"
    before = record.read_bytes()
    proc = _task(root, run.record.datastore_url, "--run", run.id, "--step", "square",
                 "--index", "1")
    assert proc.returncode != 0
    assert f"task {run.id}/square/1 already succeeded" in proc.stderr
    assert "never rewritten" in proc.stderr and "Traceback" not in proc.stderr
    assert record.read_bytes() == before


@pytest.mark.parametrize(("args", "said"), [
    (["--attempt", "-5"], "--attempt -5 is below 1"),
    (["--attempt", "0"], "--attempt 0 is below 1"),
    (["--index", "-1"], "--index -1 is negative"),
])
def test_lamina_task_refuses_impossible_arguments(finished, args, said) -> None:
    root, run, _ = finished
    proc = _task(root, run.record.datastore_url, "--run", run.id, "--step", "square", *args)
    assert proc.returncode != 0
    assert said in proc.stderr and "Traceback" not in proc.stderr


def test_lamina_task_refuses_a_step_no_flow_can_define(finished) -> None:
    root, run, _ = finished
    proc = _task(root, run.record.datastore_url, "--run", run.id, "--step", "../x")
    assert proc.returncode != 0 and "--step '../x'" in proc.stderr


def test_write_outcome_never_replaces_a_succeeded_record(finished) -> None:
    root, run, stack = finished
    key = root / ".lamina" / "runs" / run.id / "tasks" / "square" / "0.json"
    before = json.loads(key.read_text())
    outcome = TaskOutcome(run_id=run.id, step="square", index=0, attempt=9, status="failed",
                          started_at=0.0, finished_at=0.0)
    with pytest.raises(ImmutableRunError, match="already succeeded"):
        write_outcome(stack.artifacts, outcome)
    assert json.loads(key.read_text()) == before


def test_an_engine_failure_after_success_keeps_the_success(finished) -> None:
    from lamina.runtime.task import record_failure

    _root, run, stack = finished
    late = TaskOutcome(run_id=run.id, step="square", index=0, attempt=1, status="failed",
                       started_at=0.0, finished_at=0.0, error="timeout: too slow")
    kept = record_failure(stack.artifacts, late)
    assert kept.status == "succeeded" and kept.output == run["square"][0].ref
