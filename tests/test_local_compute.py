"""The local compute on every platform: start methods (fork, forkserver, spawn), what a
fresh worker receives (the flow from its file, or its pickled steps for a notebook's flow;
the stack and hand-registered plugins), and worker clean-up when the runtime dies, with
no Linux-only call (a lifeline pipe instead of PR_SET_PDEATHSIG)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

import lamina
from lamina import Flow, Stack
from lamina.builtin.local_compute import (
    LocalCompute,
    default_start_method,
    resolve_start_method,
)
from lamina.builtin.plugin import LocalComputeOptions
from lamina.errors import ConfigError, LaminaError, RunFailedError

METHODS = [m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()]


def _stack_toml(project: Path, method: str, workers: int = 2) -> None:
    (project / "lamina.toml").write_text(
        f'[stacks.local]\ncompute = {{ plugin = "local", workers = {workers}, '
        f'start_method = "{method}" }}\n'
    )


def _flow_file(project: Path, body: str, name: str = "pflow.py") -> Path:
    path = project / name
    path.write_text(textwrap.dedent(body))
    return path


# -- choosing the start method -------------------------------------------------------------


def test_default_start_method_is_fork_on_linux_and_spawn_on_macos_and_windows():
    assert default_start_method("linux") == "fork"
    assert default_start_method("darwin") == "spawn"
    assert default_start_method("win32") == "spawn"


def test_option_wins_over_environment_which_wins_over_platform_default():
    env = {"LAMINA_START_METHOD": "forkserver"}
    assert resolve_start_method("spawn", env) == "spawn"
    assert resolve_start_method(None, env) == "forkserver"
    assert resolve_start_method(None, {}) == default_start_method()
    assert resolve_start_method(None, {}, platform="win32") == "spawn"


def test_an_unknown_start_method_in_the_environment_is_a_clear_error():
    with pytest.raises(ConfigError, match="LAMINA_START_METHOD") as err:
        resolve_start_method(None, {"LAMINA_START_METHOD": "threads"})
    assert "fork, forkserver, spawn" in str(err.value) and "fix:" in str(err.value)


def test_fork_is_refused_by_windows_rules_with_the_fix():
    with pytest.raises(ConfigError, match="not available on win32") as err:
        resolve_start_method("fork", {}, platform="win32")
    assert 'start_method = "spawn"' in str(err.value)
    assert resolve_start_method("forkserver", {}, platform="darwin") == "forkserver"


def test_an_unknown_start_method_in_the_config_names_the_key(project: Path):
    (project / "lamina.toml").write_text('[stacks.local]\ncompute = { plugin = "local", start_method = "thread" }\n')
    with pytest.raises(ConfigError, match="start_method") as err:
        Stack.load()
    assert "lamina.toml" in str(err.value)


def test_the_compute_reports_its_start_method(project: Path):
    compute = LocalCompute(LocalComputeOptions(workers=1, start_method="spawn"))
    assert compute.start_method == "spawn"
    assert "(spawn)" in compute.check() and "spawn" in repr(compute)


# -- what a fresh worker runs --------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_a_flow_file_runs_in_each_start_method(project: Path, method: str):
    _stack_toml(project, method)
    path = _flow_file(project, '''
        import multiprocessing, os
        from lamina import Flow

        flow = Flow("pfile")
        SCALE = 3

        def helper(x):
            return x * SCALE

        @flow.step
        def xs() -> list[int]:
            return list(range(20))

        @flow.step(foreach="xs")
        def scaled(xs: int) -> tuple:
            return helper(xs), os.getpid(), multiprocessing.get_start_method()

        @flow.step
        def total(scaled: list) -> int:
            return sum(s[0] for s in scaled)
    ''')
    run = _load(path).run()
    assert run["total"].value == 3 * sum(range(20))
    results = run["scaled"].value
    assert {r[2] for r in results} == {method}, "tasks did not run in workers of that kind"
    assert os.getpid() not in {r[1] for r in results}
    assert len({r[1] for r in results}) <= 2  # long-lived workers, not a process per task


@pytest.mark.parametrize("method", METHODS)
def test_one_stack_runs_two_flows_one_after_the_other(project: Path, method: str):
    _stack_toml(project, method, workers=1)
    stack = Stack.load()  # its compute, and so its workers' set-up, serves both runs
    first, second = Flow("first"), Flow("second")

    @first.step
    def a() -> int:
        return 1

    @second.step
    def b() -> int:
        return 2

    assert first.run(stack=stack)["a"].value == 1
    assert second.run(stack=stack)["b"].value == 2
    assert first.run(stack=stack)["a"].value == 1


def _load(path: Path) -> Flow:
    from lamina.flow.loader import load_flow_file

    return load_flow_file(str(path))


def test_spawned_workers_of_a_notebook_flow_get_its_pickled_steps(project: Path):
    _stack_toml(project, "spawn", workers=1)
    flow = Flow("nb")
    offset = 7  # a closure value, as a notebook cell would have

    def fmt(x: int) -> str:
        return f"<{x}>"

    @flow.step
    def xs() -> list[int]:
        return [1, 2, 3]

    @flow.step(foreach="xs")
    def shown(xs: int) -> str:
        return fmt(xs + offset)

    @flow.step
    def where() -> tuple:
        return os.getpid(), multiprocessing.get_start_method()

    @flow.step
    def boom(shown: list) -> None:
        raise ValueError("from a notebook step")

    with pytest.raises(RunFailedError) as err:
        flow.run()
    run = err.value.run
    assert run["shown"].value == ["<8>", "<9>", "<10>"]
    record = run.failed_tasks()[0].record
    # cloudpickle drops the file name of code it pickles; the worker puts it back
    assert record.location == f"{__file__}:{boom.__code__.co_firstlineno + 2}"
    pid, method = run["where"].value
    assert pid != os.getpid() and method == "spawn"


def test_a_step_that_cannot_be_pickled_for_spawn_is_named(project: Path):
    _stack_toml(project, "spawn", workers=1)
    flow = Flow("unpicklable")
    lock = threading.Lock()

    @flow.step
    def guarded() -> int:
        with lock:
            return 1

    with pytest.raises(LaminaError, match="step 'guarded'") as err:
        flow.run()
    assert "start_method" in str(err.value) and "fix:" in str(err.value)


def test_a_flow_file_changed_after_the_run_started_is_refused_by_spawned_workers(project: Path):
    _stack_toml(project, "spawn", workers=1)
    path = _flow_file(project, '''
        from lamina import Flow

        flow = Flow("edited")

        @flow.step
        def one() -> int:
            return 1
    ''')
    flow = _load(path)
    stack = Stack.load()

    class EditsTheFile:  # runs in the runtime process, after the code snapshot is taken
        @lamina.hookimpl
        def lamina_before_run(self, run):
            path.write_text(path.read_text().replace("return 1", "return 2"))

    stack.plugins.register(EditsTheFile(), name="edits")
    with pytest.raises(RunFailedError) as err:
        flow.run(stack=stack)
    record = err.value.run.failed_tasks()[0].record
    assert record.error_type == "WorkerSetupError"
    assert "changed after run" in record.error and str(path) in record.error


def test_a_flow_file_that_runs_itself_at_import_is_stopped_with_the_fix(project: Path):
    _stack_toml(project, "spawn", workers=1)
    path = _flow_file(project, '''
        from lamina import Flow

        flow = Flow("unguarded")

        @flow.step
        def one() -> int:
            return 1

        flow.run()  # no `if __name__ == "__main__":`
    ''')
    result = subprocess.run([sys.executable, str(path)], cwd=project, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert 'if __name__ == "__main__"' in result.stderr


def test_task_hooks_of_a_hand_registered_plugin_run_in_spawned_workers(project: Path):
    _stack_toml(project, "spawn", workers=1)
    marks = project / "hooks.txt"

    class TaskRecorder:
        @lamina.hookimpl
        def lamina_after_task(self, spec, outcome):
            with open(marks, "a") as f:
                f.write(f"{spec.step}:{os.getpid()}\n")

    stack = Stack.load()
    stack.plugins.register(TaskRecorder(), name="task-recorder")
    flow = Flow("hooked-spawn")

    @flow.step
    def one() -> int:
        return 1

    flow.run(stack=stack)
    step, pid = marks.read_text().split()[0].split(":")
    assert step == "one" and int(pid) != os.getpid()


def test_a_hand_registered_plugin_that_cannot_be_pickled_is_named(project: Path):
    _stack_toml(project, "spawn", workers=1)

    class Holder:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        @lamina.hookimpl
        def lamina_before_task(self, spec):
            pass

    stack = Stack.load()
    stack.plugins.register(Holder(), name="holder")
    flow = Flow("holder")

    @flow.step
    def one() -> int:
        return 1

    with pytest.raises(LaminaError, match="plugin 'holder'") as err:
        flow.run(stack=stack)
    assert "entry point" in str(err.value)


# -- clean-up when the runtime dies --------------------------------------------------------

RUNNER = '''
import sys, time
from lamina import Flow

flow = Flow("orphan")

@flow.step
def items() -> list[int]:
    return [0, 1]

@flow.step(foreach="items")
def wait(items: int) -> int:
    import os
    with open(f"pid-{items}", "w") as f:
        f.write(str(os.getpid()))
    time.sleep(120)
    return items

if __name__ == "__main__":
    flow.run()
'''


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 of the runtime")
@pytest.mark.parametrize("method", METHODS)
def test_workers_exit_when_the_runtime_is_killed_without_pdeathsig(project: Path, method: str):
    from lamina.builtin import local_compute

    source = Path(local_compute.__file__).read_text()
    assert "PDEATHSIG" not in source.replace("``PR_SET_PDEATHSIG``", "")  # no Linux-only call
    _stack_toml(project, method)
    path = _flow_file(project, RUNNER, name="orphan_flow.py")
    runtime = subprocess.Popen([sys.executable, str(path)], cwd=project,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pid_files = [project / "pid-0", project / "pid-1"]
    deadline = time.monotonic() + 60
    while not all(p.exists() and p.read_text() for p in pid_files):
        assert runtime.poll() is None, runtime.stderr.read() if runtime.stderr else ""
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.05)
    workers = [int(p.read_text()) for p in pid_files]
    assert all(psutil.pid_exists(pid) for pid in workers)
    runtime.send_signal(signal.SIGKILL)  # no clean-up code of the runtime runs
    runtime.wait(timeout=30)
    deadline = time.monotonic() + 10
    while not all(_gone(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived the killed runtime"
        time.sleep(0.05)


def test_a_fork_unsafe_library_makes_the_workers_start_fresh(project: Path) -> None:
    """Once something in the process cannot live in a forked copy (delta-rs' runtime),
    the fork start method gives way to forkserver for the workers started after."""
    from lamina.runtime.forks import mark_fork_unsafe

    _stack_toml(project, "fork")
    path = _flow_file(project, '''
        import multiprocessing
        from lamina import Flow

        flow = Flow("unsafe")

        @flow.step(foreach="xs")
        def method(xs: int) -> str:
            return multiprocessing.get_start_method()

        @flow.step
        def xs() -> list[int]:
            return [1, 2]
    ''')
    flow = _load(path)
    assert set(flow.run()["method"].value) == {"fork"}
    mark_fork_unsafe("a test's runtime")
    assert set(flow.run()["method"].value) == {"forkserver"}
