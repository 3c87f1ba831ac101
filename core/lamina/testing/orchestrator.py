"""The orchestrator conformance suite: :class:`OrchestratorSuite`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest

from lamina.errors import LaminaError, RunFailedError
from lamina.interfaces import Orchestrator
from lamina.testing.flows import missing_fixture, write_flow

#: A diamond with a foreach: ``numbers`` fans out to ``square``; ``total`` and ``count``
#: both take the squares; ``report`` joins them.
FLOW = '''\
from lamina import Flow

flow = Flow("FLOW_NAME")


@flow.step
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@flow.step(foreach="numbers")
def square(numbers: int, fail: int = 0) -> int:
    if numbers == fail:
        raise ValueError(f"cannot square {numbers}")
    return numbers * numbers


@flow.step
def total(square: list[int]) -> int:
    return sum(square)


@flow.step
def count(square: list[int]) -> int:
    return len(square)


@flow.step
def report(total: int, count: int) -> str:
    return f"{count} squares, total {total}"
'''


#: The flow a deploying orchestrator's engine runs: small, since engines are slow to start
#: each task.
DEPLOYED_FLOW = '''\
from lamina import Flow

flow = Flow("FLOW_NAME")


@flow.step
def numbers(n: int = 3) -> list[int]:
    return list(range(1, n + 1))


@flow.step(foreach="numbers")
def square(numbers: int) -> int:
    return numbers * numbers


@flow.step
def total(square: list[int]) -> int:
    return sum(square)
'''


class OrchestratorSuite:
    """Conformance of a :class:`lamina.interfaces.Orchestrator`, through real runs.

    Override the ``orchestrator_stack`` fixture to return (or yield) a
    :class:`lamina.Stack` whose ``orchestrator`` is the component under test. The suite
    writes small flows into ``stack.project_root``. An orchestrator that compiles flows
    for an engine sets ``deploys = True`` and implements :meth:`execute_deployment`, which
    makes the engine run what :meth:`~lamina.interfaces.Orchestrator.deploy` wrote.

    The contract, beyond the Protocol's docstrings:

    - ``run`` executes every step once per task, each after all the steps it takes
      values from, and returns the finished run's record; the metadata store then holds
      the run (``succeeded``, ``finished_at`` set, the orchestrator's name, or its
      ``runs_as`` when it runs flows here with lamina's own scheduler) and one task
      record per task.
    - A step that fails fails the run: its downstream steps never run, the run's record
      is ``failed`` with an error naming the step, and it is finished (immutable).
    - ``deploy`` of an orchestrator that only runs locally raises
      :class:`lamina.errors.LaminaError` with a hint, with and without ``dry_run``. One
      that deploys returns the compiled text with ``dry_run`` (naming the flow) and a
      location otherwise; the engine then runs the flow with the parameters it is given,
      and the run is recorded in the stack's metadata store like a local one.
    """

    #: Whether :meth:`~lamina.interfaces.Orchestrator.deploy` compiles flows.
    deploys: ClassVar[bool] = False

    @pytest.fixture
    def orchestrator_stack(self) -> Any:
        """A stack whose orchestrator is the component under test. Override it."""
        missing_fixture(self, "orchestrator_stack",
                        'yield lamina.load_stack("mine", cwd=project_folder)')

    def execute_deployment(self, stack: Any, flow: Any, where: str,
                           params: dict[str, Any]) -> None:
        """Have the engine run the flow deployed to ``where`` with ``params``, to the end.
        Override it when ``deploys`` is true."""
        raise NotImplementedError(
            f"{type(self).__name__} sets deploys = True but does not implement "
            "execute_deployment(stack, flow, where, params)"
        )

    def _flow(self, stack: Any, source: str = FLOW) -> tuple[Any, Path]:
        name = f"conformance_orch_{uuid.uuid4().hex[:8]}"
        flow = write_flow(stack.project_root, f"{name}.py", source.replace("FLOW_NAME", name))
        return flow, Path(stack.project_root) / f"{name}.py"

    def test_it_is_an_orchestrator(self, orchestrator_stack: Any) -> None:
        component = orchestrator_stack.orchestrator
        assert isinstance(component, Orchestrator), (
            f"{type(component).__name__} lacks methods of lamina.interfaces.Orchestrator"
        )
        summary = component.check()
        assert isinstance(summary, str) and summary.strip()

    def test_a_flow_runs_to_the_end_in_dependency_order(self, orchestrator_stack: Any) -> None:
        flow, _ = self._flow(orchestrator_stack)
        run = flow.run(stack=orchestrator_stack, n=4)
        assert run.status == "succeeded", run.record.error
        assert run["report"].value == "4 squares, total 30"
        assert [t.value for t in run["square"].tasks] == [1, 4, 9, 16]
        record = orchestrator_stack.metadata.get_run(run.id)
        assert record.status == "succeeded" and record.finished_at is not None
        component = orchestrator_stack.orchestrator
        assert record.orchestrator == (getattr(component, "runs_as", "")
                                       or orchestrator_stack.spec("orchestrator").name)
        assert record.params.get("n") == 4
        tasks = orchestrator_stack.metadata.list_tasks(run.id)
        assert sorted((t.step, t.index) for t in tasks) == sorted(
            [("numbers", 0), *(("square", i) for i in range(4)), ("total", 0), ("count", 0),
             ("report", 0)]
        ), "one task record per task"
        done = {(t.step, t.index): t for t in tasks}
        for step, upstream in (("square", "numbers"), ("total", "square"),
                               ("count", "square"), ("report", "total"), ("report", "count")):
            finished = max(t.finished_at for (s, _), t in done.items() if s == upstream)
            started = min(t.started_at for (s, _), t in done.items() if s == step)
            assert finished <= started, f"{step} started before {upstream} finished"

    def test_a_failing_step_fails_the_run(self, orchestrator_stack: Any) -> None:
        flow, _ = self._flow(orchestrator_stack)
        with pytest.raises(RunFailedError) as info:
            flow.run(stack=orchestrator_stack, fail=2)
        run: Any = info.value.run
        record = orchestrator_stack.metadata.get_run(run.id)
        assert record.status == "failed" and record.finished_at is not None
        assert "square" in record.error, record.error
        ran = {(t.step, t.status) for t in orchestrator_stack.metadata.list_tasks(run.id)}
        assert ("square", "failed") in ran
        assert not {s for s, status in ran if status == "succeeded"} & {"total", "report"}, (
            "no step downstream of the failure ran"
        )

    def test_deploy_compiles_the_flow_or_says_it_cannot(self, orchestrator_stack: Any) -> None:
        from lamina.deploy import deploy

        _, path = self._flow(orchestrator_stack)
        if not self.deploys:
            for dry_run in (True, False):
                with pytest.raises(LaminaError) as info:
                    deploy(path, stack=orchestrator_stack, dry_run=dry_run)
                assert info.value.hint, "the error says what to do instead"
            return
        text = deploy(path, stack=orchestrator_stack, dry_run=True)
        assert isinstance(text, str) and path.stem in text, "the dry run shows the flow"
        where = deploy(path, stack=orchestrator_stack)
        assert isinstance(where, str) and where.strip()

    def test_a_deployed_flow_runs_in_the_engine(self, orchestrator_stack: Any) -> None:
        if not self.deploys:
            pytest.skip("this orchestrator runs flows locally and deploys nothing")
        from lamina.client import Client
        from lamina.deploy import deploy

        flow, path = self._flow(orchestrator_stack, DEPLOYED_FLOW)
        where = deploy(path, stack=orchestrator_stack)
        self.execute_deployment(orchestrator_stack, flow, where, {"n": 2})
        runs = Client(orchestrator_stack).runs(flow.name)
        assert len(runs) == 1, [r.id for r in runs]
        run = runs[0]
        assert run.status == "succeeded", run.record.error
        assert run.record.params.get("n") == 2
        assert [t.value for t in run["square"].tasks] == [1, 4]
        assert run["total"].value == 5
