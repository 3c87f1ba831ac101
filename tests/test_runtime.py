"""The local runtime: parallel tasks on long-lived workers, foreach at scale, failures,
retries, timeouts, crashes, concurrent runs, the step cache and lifecycle hooks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lamina
from lamina import Flow, Stack
from lamina.errors import RunFailedError

FLOWS = Path(__file__).parent / "flows"


def test_independent_steps_run_in_parallel_on_long_lived_workers(project: Path) -> None:
    flow = Flow("parallel")

    @flow.step
    def left() -> tuple[int, float, float]:
        start = time.time()
        time.sleep(0.6)
        return os.getpid(), start, time.time()

    @flow.step
    def right() -> tuple[int, float, float]:
        start = time.time()
        time.sleep(0.6)
        return os.getpid(), start, time.time()

    @flow.step
    def items() -> list[int]:
        return list(range(40))

    @flow.step(foreach="items")
    def pid(items: int, left: tuple, right: tuple) -> int:
        return os.getpid()

    run = flow.run()
    (pid_l, start_l, end_l), (pid_r, start_r, end_r) = run["left"].value, run["right"].value
    assert pid_l != pid_r != os.getpid()
    assert start_l < end_r and start_r < end_l, "the two steps did not overlap in time"
    # 40 tasks, but only as many processes as workers: no process per task
    assert len(set(run["pid"].value)) <= (os.cpu_count() or 1)


def test_thousand_task_foreach_join_gets_results_in_order(project: Path) -> None:
    flow = Flow("wide")

    @flow.step
    def xs() -> list[int]:
        return list(range(1000))

    @flow.step(foreach="xs")
    def double(xs: int) -> int:
        return xs * 2

    @flow.step
    def join(double: list[int]) -> list[int]:
        return double

    run = flow.run()
    assert run["join"].value == [x * 2 for x in range(1000)]
    assert len(run["double"]) == 1000
    assert run.status == "succeeded"


def test_product_foreach_is_row_major(project: Path) -> None:
    flow = Flow("grid")

    @flow.step
    def xs() -> list[int]:
        return [1, 2, 3]

    @flow.step
    def ys() -> list[str]:
        return ["a", "b"]

    @flow.step(foreach=("xs", "ys"))
    def cell(xs: int, ys: str, sep: str = "-") -> str:
        return f"{xs}{sep}{ys}"

    @flow.step(foreach="cell")
    def upper(cell: str) -> str:
        return cell.upper()

    @flow.step
    def join(upper: list[str]) -> list[str]:
        return upper

    run = flow.run(sep=":")
    assert run["join"].value == ["1:A", "1:B", "2:A", "2:B", "3:A", "3:B"]
    assert run["cell"][3].record.element == "xs=2, ys='b'"


def test_empty_foreach_gives_empty_list(project: Path) -> None:
    flow = Flow("empty")

    @flow.step
    def xs() -> list[int]:
        return []

    @flow.step(foreach="xs")
    def each(xs: int) -> int:
        return xs

    @flow.step
    def join(each: list[int]) -> int:
        return len(each)

    assert flow.run()["join"].value == 0


def test_numpy_and_arrow_values_flow_between_steps(project: Path) -> None:
    import numpy as np
    import pyarrow as pa

    flow = Flow("arrays")

    @flow.step
    def matrix() -> np.ndarray:
        return np.arange(12.0).reshape(3, 4)

    @flow.step
    def table(matrix: np.ndarray) -> pa.Table:
        return pa.table({"row_sum": matrix.sum(axis=1)})

    run = flow.run()
    assert run["matrix"].task.ref.serializer == "numpy.npy"
    assert run["table"].value.column("row_sum").to_pylist() == [6.0, 22.0, 38.0]


def test_failing_step_keeps_traceback_lets_siblings_finish_and_fails_run(project: Path) -> None:
    flow = Flow("failing")

    @flow.step
    def xs() -> list[int]:
        return [0, 1, 2, 3]

    @flow.step(foreach="xs")
    def invert(xs: int) -> float:
        return 1 / xs

    @flow.step
    def join(invert: list[float]) -> float:
        return sum(invert)

    with pytest.raises(RunFailedError) as err:
        flow.run()
    run = err.value.run
    assert run.status == "failed"
    assert "lamina resume" in str(err.value)
    failed = run.failed_tasks()
    assert [t.index for t in failed] == [0]
    record = failed[0].record
    assert record.error_type == "ZeroDivisionError"
    line = invert.__code__.co_firstlineno + 2  # decorator, def, body
    assert record.location == f"{__file__}:{line}"
    assert "return 1 / xs" in record.traceback
    assert "ZeroDivisionError" in failed[0].stderr
    # siblings that were already running or queued in the same step are recorded too
    assert {t.index for t in run.tasks("invert") if t.status == "succeeded"} <= {1, 2, 3}
    assert run.tasks("join") == []  # downstream never started


def test_retries_record_the_successful_attempt(project: Path) -> None:
    flow = Flow("retry")
    counter = project / "attempts.txt"

    @flow.step(retries=2)
    def flaky(path: str = str(counter)) -> int:
        with open(path, "a") as f:
            f.write("x")
        if len(Path(path).read_text()) < 2:
            raise RuntimeError("first attempt fails")
        return 7

    run = flow.run()
    assert run["flaky"].value == 7
    assert run["flaky"].task.record.attempt == 2
    assert counter.read_text() == "xx"


def test_timeout_stops_the_task(project: Path) -> None:
    flow = Flow("slow")

    @flow.step(timeout=0.5)
    def sleepy() -> int:
        time.sleep(30)
        return 1

    start = time.time()
    with pytest.raises(RunFailedError) as err:
        flow.run()
    assert time.time() - start < 15
    task = err.value.run["sleepy"].task
    assert task.record.exit_reason == "timeout"
    assert "timeout of 0.5 s" in task.error


def test_worker_killed_by_a_signal_is_reported(project: Path) -> None:
    flow = Flow("crash")

    @flow.step
    def crash() -> int:
        os.kill(os.getpid(), 9)
        return 1

    with pytest.raises(RunFailedError) as err:
        flow.run()
    task = err.value.run["crash"].task
    assert task.record.exit_reason == "killed"
    assert "signal 9" in task.error


def test_foreach_over_a_non_iterable_value_names_the_step(project: Path) -> None:
    flow = Flow("notiter")

    @flow.step
    def count():  # no annotation: only known when it runs
        return 5

    @flow.step(foreach="count")
    def each(count):
        return count

    with pytest.raises(RunFailedError) as err:
        flow.run()
    task = err.value.run["each"].task
    assert "step 'each'" in task.error and "not iterable" in task.error
    assert f"{__file__}:{each.__code__.co_firstlineno}" in task.error


def test_two_runs_of_one_flow_at_once_both_succeed(project: Path) -> None:
    flow_file = FLOWS / "runtime_slow.py"
    cmd = [sys.executable, "-m", "lamina", "run", str(flow_file), "--set", "n=6", "--set", "pause=0.05"]
    procs = [subprocess.Popen(cmd, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    runs = lamina.Client().runs("slow")
    assert len(runs) == 2 and runs[0].id != runs[1].id
    assert all(r.status == "succeeded" and r["total"].value == 150 for r in runs)


def test_step_cache_reuses_identical_tasks_and_records_it(project: Path) -> None:
    flow = Flow("cached")
    log = project / "calls.txt"

    @flow.step
    def xs(n: int = 3) -> list[int]:
        return list(range(n))

    @flow.step(foreach="xs")
    def slow_square(xs: int, path: str = str(log)) -> int:
        with open(path, "a") as f:
            f.write(f"{xs}\n")
        return xs * xs

    first = flow.run(cache=True)
    second = flow.run(cache=True)
    assert second["slow_square"].value == [0, 1, 4]
    assert {t.status for t in second.tasks()} == {"reused"}
    assert second["slow_square"][2].record.reused_from == f"{first.id}/slow_square/2"
    assert log.read_text().count("\n") == 3
    third = flow.run(cache=True, n=4)  # xs changes: its task reruns; old elements are reused
    assert [t.status for t in third.tasks("slow_square")] == ["reused"] * 3 + ["succeeded"]
    flow.run()  # without cache every task runs
    assert log.read_text().count("\n") == 3 + 1 + 3


def test_lifecycle_hooks_see_runs_tasks_and_artifacts(project: Path) -> None:
    events: list[str] = []

    class Recorder:
        @lamina.hookimpl
        def lamina_before_run(self, run):
            events.append(f"before_run:{run.flow}")

        @lamina.hookimpl
        def lamina_after_run(self, run):
            events.append(f"after_run:{run.status}")

        @lamina.hookimpl
        def lamina_on_run_error(self, run, error):
            events.append(f"run_error:{type(error).__name__}")

    stack = Stack.load()
    stack.plugins.register(Recorder(), name="recorder")
    flow = Flow("hooked")

    @flow.step
    def one() -> int:
        return 1

    flow.run(stack=stack)
    assert events == ["before_run:hooked", "after_run:succeeded"]

    @flow.step
    def boom(one: int) -> int:
        raise ValueError("no")

    with pytest.raises(RunFailedError):
        flow.run(stack=stack)
    assert events[-1] == "run_error:RunFailedError"


def test_progress_display_counts_tasks_when_asked_for(project: Path) -> None:
    (project / "lamina.toml").write_text(
        '[stacks.local]\norchestrator = { plugin = "local", progress = "on" }\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "lamina", "run", str(FLOWS / "runtime_slow.py"),
         "--set", "n=5", "--set", "pause=0"],
        cwd=project, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "7/7" in result.stderr  # items + 5 work + total
    assert "failed 0" in result.stderr


def test_progress_is_quiet_when_not_a_terminal(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lamina", "run", str(FLOWS / "runtime_slow.py"),
         "--set", "n=3", "--set", "pause=0"],
        cwd=project, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "5/5" not in result.stderr


def test_flow_defined_interactively_runs_without_a_file(project: Path) -> None:
    script = (
        "from lamina import Flow\n"
        "flow = Flow('notebook')\n"
        "@flow.step\n"
        "def a() -> int:\n    return 20\n"
        "@flow.step\n"
        "def b(a: int, k: int = 1) -> int:\n    return a + k\n"
        "run = flow.run(k=22)\n"
        "print(run['b'].value, run.record.flow_file == '', bool(run.record.step_code['b']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-"], input=script, cwd=project, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["42", "True", "True"]
    assert result.stderr == ""  # the library logs nothing unless asked


def test_corrupted_result_is_detected_with_the_task_named(project: Path) -> None:
    from lamina.errors import CorruptArtifactError

    flow = Flow("corrupt")

    @flow.step
    def numbers() -> list[int]:
        return list(range(1000))

    run = flow.run()
    key = run["numbers"].task.ref.key
    path = project / ".lamina" / "objects" / key[:2] / key
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte altered
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError) as err:
        _ = lamina.Client().run(run.id)["numbers"].value
    assert f"{run.id}/numbers/0" in str(err.value)
    assert key in str(err.value)
    path.write_bytes(bytes(data[:100]))  # truncated
    with pytest.raises(CorruptArtifactError):
        _ = lamina.Client().run(run.id)["numbers"].value
