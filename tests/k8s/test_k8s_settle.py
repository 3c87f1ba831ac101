"""Settling a remote task (lamina.compute.remote_common), on a real file datastore: the
task's own record wins, a record of an earlier attempt does not count, an engine success
without a record is a failure, and an engine failure is recorded with its log."""

from __future__ import annotations

import time

import pytest

from lamina.compute.remote_common import parse_index_ranges, settle, task_command
from lamina.records import TaskOutcome, TaskSpec
from lamina.runtime.task import read_outcome, write_outcome
from lamina.stack import Stack

RUN = "20261127T044315123-a1b2c3"


@pytest.fixture
def artifacts(tmp_path):
    stack = Stack.for_datastore_url(str(tmp_path / ".lamina"), cwd=tmp_path)
    yield stack.artifacts
    stack.close()


def spec(attempt: int = 1, index: int = 4) -> TaskSpec:
    return TaskSpec(run_id=RUN, flow="f", step="s", index=index, attempt=attempt,
                    datastore_url="s3://b/p")


def recorded(status: str, attempt: int, index: int = 4) -> TaskOutcome:
    now = time.time()
    return TaskOutcome(run_id=RUN, step="s", index=index, attempt=attempt, status=status,
                       started_at=now, finished_at=now, error="ValueError: x" if status == "failed" else "",
                       exit_reason="exception" if status == "failed" else "")


def test_the_tasks_own_record_wins(artifacts) -> None:
    write_outcome(artifacts, recorded("failed", 2))
    out = settle(artifacts, spec(2), engine_ok=False, reason="oom", message="OOMKilled")
    assert out.exit_reason == "exception" and out.error == "ValueError: x"


def test_a_record_of_an_earlier_attempt_is_not_this_attempts_outcome(artifacts) -> None:
    write_outcome(artifacts, recorded("failed", 1))
    out = settle(artifacts, spec(2), engine_ok=False, reason="oom", message="OOMKilled",
                 log_text="Killed\n")
    assert out.status == "failed" and out.attempt == 2 and out.exit_reason == "oom"
    assert artifacts.get_bytes(out.stderr_key) == b"Killed\n"
    assert read_outcome(artifacts, RUN, "s", 4)["attempt"] == 2  # recorded for resume/show


def test_a_succeeded_record_is_never_replaced_by_a_later_engine_failure(artifacts) -> None:
    write_outcome(artifacts, recorded("succeeded", 1))  # records are immutable once succeeded
    out = settle(artifacts, spec(2), engine_ok=False, reason="oom", message="OOMKilled")
    assert out.status == "succeeded" and out.attempt == 1
    assert read_outcome(artifacts, RUN, "s", 4)["status"] == "succeeded"


def test_engine_success_without_a_record_is_a_failure_with_the_fix(artifacts) -> None:
    out = settle(artifacts, spec(), engine_ok=True)
    assert out.status == "failed" and out.exit_reason == "no-outcome"
    assert "wrote no outcome record" in out.error and "fix:" in out.error


def test_index_ranges_and_the_task_command() -> None:
    assert parse_index_ranges("0,2-4,7") == {0, 2, 3, 4, 7}
    assert parse_index_ranges("") == set() and parse_index_ranges(None) == set()
    cmd = task_command(spec(3, index=9), first_index=5, index_env="X")
    assert cmd[cmd.index("--index") + 1] == "5" and cmd[-2:] == ["--index-env", "X"]
    assert "--index-env" not in task_command(spec(), python="py")


def test_index_env_must_hold_a_task_position(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
    env["JOB_COMPLETION_INDEX"] = "not-a-number"
    proc = subprocess.run(
        [sys.executable, "-m", "lamina", "task", "--datastore", str(tmp_path / ".lamina"),
         "--run", RUN, "--step", "s", "--index-env", "JOB_COMPLETION_INDEX"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "--index-env JOB_COMPLETION_INDEX" in proc.stderr and "not a task position" in proc.stderr
