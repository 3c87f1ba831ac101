"""Task state on contextvars, in one process: two tasks running at once in two threads
each see their own ``lamina.current``, metrics and captured output; output outside a task
reaches the real stream; task hooks get a context holding the stack."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from client_util import project_stack

from lamina import current, hookimpl
from lamina.records import TaskSpec
from lamina.runtime.task import _Dispatch, execute_task


@pytest.fixture
def stack(tmp_path: Path):
    stack = project_stack(tmp_path / "project")
    yield stack
    stack.close()


def spec(step: str, index: int, run_id: str = "run-1") -> TaskSpec:
    return TaskSpec(run_id=run_id, flow="f", step=step, index=index, attempt=1,
                    datastore_url="")


def text(stack, key: str) -> str:
    return stack.artifacts.get_bytes(key).decode() if key else ""


def test_two_tasks_in_two_threads_keep_their_own_state(stack) -> None:
    both_started = threading.Barrier(2, timeout=30)

    def step(name: str):
        def fn() -> dict:
            both_started.wait()  # from here on both tasks run at once
            seen = set()
            for i in range(200):
                print(f"{name} {i}")
                print(f"{name} err {i}", file=sys.stderr)
                seen.add((current.run_id, current.step, current.index))
            current.log_metric("mine", float(current.index))
            both_started.wait()  # neither ends before the other printed everything
            return {"seen": sorted(seen)}
        return fn

    outcomes = {}

    def run(name: str, index: int) -> None:
        outcomes[name] = execute_task(spec(name, index, run_id=f"run-{name}"), step(name), stack)

    threads = [threading.Thread(target=run, args=(n, i)) for i, n in enumerate(("a", "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for index, name in enumerate(("a", "b")):
        outcome = outcomes[name]
        assert outcome.status == "succeeded", outcome.error
        assert stack.artifacts.load(outcome.output)["seen"] == [(f"run-{name}", name, index)]
        assert outcome.metrics == {"mine": float(index)}
        assert text(stack, outcome.stdout_key).splitlines() == [f"{name} {i}" for i in range(200)]
        assert text(stack, outcome.stderr_key).splitlines() == [
            f"{name} err {i}" for i in range(200)]
    assert not isinstance(sys.stdout, _Dispatch) and not isinstance(sys.stderr, _Dispatch)
    assert current.run_id is None and not current.in_task


def test_the_dispatcher_is_there_while_a_task_runs_and_gone_after(stack, capsys) -> None:
    release = threading.Event()
    entered = threading.Event()
    before = sys.stdout

    def fn() -> int:
        entered.set()
        release.wait(30)
        return 1

    thread = threading.Thread(target=execute_task, args=(spec("s", 0), fn, stack))
    thread.start()
    entered.wait(30)
    assert isinstance(sys.stdout, _Dispatch) and sys.stdout.real is before
    release.set()
    thread.join(30)
    assert sys.stdout is before
    print("after the task")  # outside any task: the real stream
    assert "after the task" in capsys.readouterr().out


def test_a_thread_the_step_starts_is_captured_when_it_is_the_only_task(stack) -> None:
    def fn() -> int:
        helper = threading.Thread(target=lambda: print("from a helper thread"))
        helper.start()
        helper.join()
        return current.index

    outcome = execute_task(spec("s", 3), fn, stack)
    assert text(stack, outcome.stdout_key) == "from a helper thread\n"


def test_task_hooks_get_the_stack_and_the_run_in_their_context(stack) -> None:
    seen = []

    class Plugin:
        @hookimpl
        def lamina_before_task(self, spec, context):
            seen.append(("before", context.stack, context.run_id, context.step,
                         context.index, context.attempt, current.step))

        @hookimpl
        def lamina_on_task_error(self, context, error):
            seen.append(("error", context.stack, str(error)))

    stack.plugins.register(Plugin(), name="ctx-test")  # this stack's own plugin manager

    def fails() -> None:
        raise ValueError("bad")

    execute_task(spec("s", 2), fails, stack)
    assert seen == [
        ("before", stack, "run-1", "s", 2, 1, "s"),
        ("error", stack, "bad"),
    ]


def test_an_old_plugin_without_context_keeps_working(stack) -> None:
    calls = []

    class Old:
        @hookimpl
        def lamina_after_task(self, spec, outcome):
            calls.append((spec.step, outcome.status))

    stack.plugins.register(Old(), name="old-test")
    execute_task(spec("s", 0), lambda: 1, stack)
    assert calls == [("s", "succeeded")]
