"""Live logs: ``lamina logs -f`` shows a running task's output before the task ends,
``lamina run --echo`` streams the steps' output prefixed with ``STEP[INDEX]``, and
``lamina logs`` shows every attempt of a retried task."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from client_util import cli_env, copy_flow, lamina, lamina_ok, project_stack

from lamina.client import Client


def _lines(stream) -> queue.Queue[str]:
    """The lines of a child's stream, read by a thread (so a test never blocks on it)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for_run(root: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = Client(project_stack(root)).runs("live-logs")
        if runs:
            return runs[0].id
        time.sleep(0.1)
    raise AssertionError("the run did not start")


def test_logs_follow_shows_a_line_before_the_task_ends(tmp_path: Path) -> None:
    copy_flow("live_logs.py", tmp_path)
    gate = tmp_path / "gate"
    run = subprocess.Popen(
        [sys.executable, "-m", "lamina", "run", "live_logs.py", "--set", f"gate={gate}"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    follow = None
    try:
        run_id = _wait_for_run(tmp_path)
        follow = subprocess.Popen(
            [sys.executable, "-m", "lamina", "logs", "-f", run_id],
            cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        lines = _lines(follow.stdout)
        first = lines.get(timeout=60)
        assert first == "talk[0] waiting for the gate\n"
        # The task is still waiting for the gate: it has not ended.
        assert not gate.exists() and run.poll() is None
        task = Client(project_stack(tmp_path)).run(run_id).refresh()
        assert task.record.status == "running"
        gate.touch()
        assert run.wait(timeout=120) == 0, run.stderr.read() if run.stderr else ""
        assert follow.wait(timeout=60) == 0
        rest = []
        while not lines.empty():
            rest.append(lines.get())
        assert "talk[0] through the gate\n" in rest
        assert rest.index("flaky[0] attempt 1\n") < rest.index("flaky[0]#2 attempt 2\n")
        assert follow.stderr is not None and "talk[0] a warning" in follow.stderr.read()
    finally:
        gate.touch()
        for proc in (run, follow):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def echoed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("echo")
    copy_flow("live_logs.py", root)
    proc = lamina(root, "run", "live_logs.py", "--echo")
    assert proc.returncode == 0, proc.stderr
    return root, proc


def test_run_echo_prefixes_each_line_with_the_task(echoed) -> None:
    _, proc = echoed
    out = proc.stdout.splitlines()
    assert out[:2] == ["talk[0] waiting for the gate", "talk[0] through the gate"]
    assert out[2:4] == ["flaky[0] attempt 1", "flaky[0]#2 attempt 2"]
    assert "talk[0] a warning" in proc.stderr.splitlines()
    assert "flaky[0] RuntimeError: first attempt fails" in proc.stderr.splitlines()


def test_logs_show_every_attempt(echoed) -> None:
    root, _ = echoed
    run_id = Client(project_stack(root)).runs("live-logs")[0].id
    out = lamina_ok(root, "logs", f"{run_id}/flaky/0")
    first, second = out.split(f"==> {run_id}/flaky/0 attempt 2 (succeeded) <==\n")
    assert first.startswith(f"==> {run_id}/flaky/0 attempt 1 (failed) <==\nattempt 1\n")
    assert "RuntimeError: first attempt fails" in first
    assert second == "attempt 2\n"
    assert lamina_ok(root, "logs", f"{run_id}/flaky/0", "--attempt", "2") == "attempt 2\n"
    only_first = lamina_ok(root, "logs", f"{run_id}/flaky", "--attempt", "1", "--stdout")
    assert only_first == "attempt 1\n"
    task = Client(project_stack(root)).run(run_id)["flaky"][0]
    assert [(a.number, a.stdout) for a in task.attempts()] == [(1, "attempt 1\n"), (2, "attempt 2\n")]


def test_resume_echo_streams_the_rerun_steps(echoed) -> None:
    root, _ = echoed
    run_id = Client(project_stack(root)).runs("live-logs")[0].id
    gate = root / "open-gate"
    gate.touch()
    # a new parameter value reruns `talk`; its output is streamed as `run --echo` does
    proc = lamina(root, "resume", run_id, "--set", f"gate={gate}", "--echo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert out[:2] == ["talk[0] waiting for the gate", "talk[0] through the gate"]
    assert "talk[0] a warning" in proc.stderr.splitlines()
