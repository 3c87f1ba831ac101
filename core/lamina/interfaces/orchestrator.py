"""The orchestration layer: execute a flow's DAG, or compile it for another engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lamina.records import RunRecord


@runtime_checkable
class Orchestrator(Protocol):
    """Drives a run: decides which tasks are ready and hands them to compute.

    An orchestrator whose ``run`` drives lamina's in-process scheduler (an engine that
    only compiles flows for itself, such as Airflow) sets the class attribute
    ``runs_as = "local"``: runs it executes here are recorded as local runs, not as runs
    of the engine.
    """

    def run(self, plan: Any, stack: Any) -> RunRecord:
        """Execute ``plan`` (a :class:`lamina.flow.RunPlan`) to the end and return the
        finished run's record. Raises :class:`lamina.errors.RunInterruptedError` on
        Ctrl-C after leaving the run resumable."""

    def deploy(self, plan: Any, stack: Any, *, dry_run: bool = False) -> str:
        """Compile the flow for this engine (a DAG file, a workflow spec) and return
        where it went, or the text itself with ``dry_run``. Orchestrators that only run
        locally raise :class:`lamina.errors.LaminaError` saying so."""

    def check(self) -> str:
        """Reach the engine; a one-line summary or
        :class:`lamina.errors.BackendUnreachableError`."""
