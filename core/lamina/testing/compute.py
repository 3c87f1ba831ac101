"""The compute conformance suite: :class:`ComputeSuite`."""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

import pytest

from lamina.errors import RunFailedError
from lamina.interfaces import Compute
from lamina.testing.flows import missing_fixture, write_flow

FLOW = '''\
import time
from pathlib import Path

from lamina import Flow

flow = Flow("conformance_compute")


@flow.step
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@flow.step(foreach="numbers", compute=COMPUTE, retries=RETRIES)
def square(numbers: int, fail: int = 0, flaky: str = "") -> int:
    print(f"squaring {numbers}")
    if numbers == fail:
        raise ValueError(f"cannot square {numbers}")
    if flaky and not Path(flaky).exists():
        Path(flaky).write_text("the first attempt failed here")
        raise RuntimeError("a transient failure")
    return numbers * numbers


@flow.step(compute=TOTAL_COMPUTE)
def total(square: list[int]) -> int:
    return sum(square)
'''

SLOW_FLOW = '''\
import time

from lamina import Flow

flow = Flow("conformance_compute_timeout")


@flow.step(compute=COMPUTE, timeout=TIMEOUT)
def sleepy(seconds: float = 60.0) -> str:
    time.sleep(seconds)
    return "woke up"
'''


DYING_FLOW = '''\
import os

from lamina import Flow

flow = Flow("conformance_compute_dying")


@flow.step(compute=COMPUTE)
def dies(code: int = 3) -> str:
    print("about to die", flush=True)
    os._exit(code)
'''


class ComputeSuite:
    """Conformance of a :class:`lamina.interfaces.Compute`, through real runs.

    Override the ``compute_stack`` fixture to return (or yield, while the backend is up) a
    :class:`lamina.Stack` whose datastore the backend's tasks can reach. Set the class
    attribute ``compute_name`` to the component's name when the stack offers it under
    ``[stacks.NAME.compute_overrides.COMPONENT]`` rather than as its ``compute``: the
    suite's steps then ask for it with ``compute="COMPONENT"``. The suite writes small
    flows into ``stack.project_root`` and runs them with ``Flow.run(stack=...)``.

    The contract, beyond the Protocol's docstrings:

    - Every task the backend runs reports exactly one outcome per attempt through
      ``poll``; the values a step returns, and what it printed (a failed task's too), are
      read back from the datastore by the run (a foreach's results in index order).
    - A step that raises is reported ``failed`` with ``exit_reason="exception"``, the
      exception's type, message, traceback and the step's ``file:line``; its downstream
      steps do not run and the run fails (:class:`lamina.errors.RunFailedError` unless
      ``raise_on_failure=False``).
    - A task whose process dies without reporting (``os._exit``, a signal, the OOM
      killer) is reported ``failed`` with an ``exit_reason`` other than ``exception``
      and an error that says so; the run fails, it never hangs.
    - A failed attempt with retries left is submitted again with ``attempt`` + 1.
    - A task that runs past its step's ``timeout`` is stopped and reported failed with
      ``exit_reason="timeout"``, soon after the timeout, not when the task ends. Where an
      emulated engine cannot enforce deadlines, skip that one test with the reason.
    """

    #: The component the steps ask for (``compute=...``); None: the stack's own compute.
    compute_name: ClassVar[str | None] = None
    #: The step timeout of the timeout test, in seconds.
    timeout_seconds: ClassVar[float] = 1.0

    @pytest.fixture
    def compute_stack(self) -> Any:
        """A stack running this component's tasks. Override it."""
        missing_fixture(self, "compute_stack",
                        'yield lamina.load_stack("mine", cwd=project_folder)')

    def _flow(self, stack: Any, source: str, **values: Any) -> Any:
        values.setdefault("TOTAL_COMPUTE", repr(self.compute_name))
        values.setdefault("COMPUTE", repr(self.compute_name))
        for name in sorted(values, key=len, reverse=True):  # TOTAL_COMPUTE before COMPUTE
            source = source.replace(name, str(values[name]))
        filename = f"conformance_compute_{uuid.uuid4().hex[:8]}.py"
        return write_flow(stack.project_root, filename, source)

    def test_it_is_a_compute(self, compute_stack: Any) -> None:
        component = compute_stack.compute_for(self.compute_name)
        assert isinstance(component, Compute), (
            f"{type(component).__name__} lacks methods of lamina.interfaces.Compute"
        )
        assert isinstance(component.max_in_flight, int) and component.max_in_flight >= 1
        summary = component.check()
        assert isinstance(summary, str) and summary.strip()

    def test_a_foreach_runs_and_its_results_come_back(self, compute_stack: Any) -> None:
        flow = self._flow(compute_stack, FLOW, RETRIES=0)
        run = flow.run(stack=compute_stack)
        assert run.status == "succeeded", run.record.error
        assert [t.value for t in run["square"].tasks] == [1, 4, 9]
        assert run["total"].value == 14
        tasks = run["square"].tasks
        assert [t.index for t in tasks] == [0, 1, 2]
        assert "squaring 2" in tasks[1].stdout, "what the step printed is kept"
        for task in [*tasks, run["total"].task]:
            record = task.record
            assert (record.status, record.attempt) == ("succeeded", 1)
            assert record.started_at is not None and record.finished_at is not None
            assert record.started_at <= record.finished_at

    def test_a_failing_task_is_reported_with_its_error(self, compute_stack: Any) -> None:
        flow = self._flow(compute_stack, FLOW, RETRIES=0)
        with pytest.raises(RunFailedError) as info:
            flow.run(stack=compute_stack, fail=2)
        run: Any = info.value.run
        assert run.status == "failed"
        failed = [t.record for t in run["square"].tasks if t.record.status == "failed"]
        assert [t.index for t in failed] == [1], [t.record for t in run["square"].tasks]
        record = failed[0]
        assert record.error_type == "ValueError"
        assert "cannot square 2" in record.error
        assert "raise ValueError" in record.traceback
        assert "conformance_compute_" in record.location and ":" in record.location
        assert record.exit_reason == "exception", record.exit_reason
        printed = [t.stdout for t in run["square"].tasks if t.index == 1]
        assert "squaring 2" in printed[0], "what a failed task printed is kept"
        assert not [t for t in run.tasks("total") if t.record.status == "succeeded"], (
            "a step downstream of a failure never runs"
        )

    def test_a_task_whose_process_dies_is_reported_failed(self, compute_stack: Any) -> None:
        flow = self._flow(compute_stack, DYING_FLOW)
        run = flow.run(stack=compute_stack, raise_on_failure=False)
        record = run["dies"].task.record
        assert (run.status, record.status) == ("failed", "failed")
        assert record.exit_reason not in ("", "exception"), record.exit_reason
        assert record.error.strip(), "the error says what happened"

    def test_a_failed_attempt_is_retried(self, compute_stack: Any) -> None:
        marker = compute_stack.project_root / f"flaky-{uuid.uuid4().hex[:8]}"
        # only the retried step runs on the backend (the single-task path is covered above)
        flow = self._flow(compute_stack, FLOW, RETRIES=1, TOTAL_COMPUTE=None)
        run = flow.run(stack=compute_stack, n=1, flaky=str(marker))
        assert marker.exists(), "the first attempt ran"
        assert run.status == "succeeded", run.record.error
        record = run["square"].tasks[0].record
        assert (record.status, record.attempt) == ("succeeded", 2)
        assert run["total"].value == 1

    def test_a_task_over_its_timeout_is_stopped(self, compute_stack: Any) -> None:
        flow = self._flow(compute_stack, SLOW_FLOW, TIMEOUT=self.timeout_seconds)
        started = time.monotonic()
        run = flow.run(stack=compute_stack, raise_on_failure=False)
        took = time.monotonic() - started
        record = run["sleepy"].task.record
        assert (run.status, record.status) == ("failed", "failed")
        assert record.exit_reason == "timeout", (record.exit_reason, record.error)
        assert took < 45, f"the task was stopped after {took:.0f} s, not soon after its timeout"
