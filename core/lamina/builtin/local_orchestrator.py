"""The ``local`` orchestrator: drives a run in this process with the scheduler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.builtin.plugin import LocalOrchestratorOptions
    from lamina.records import RunRecord
    from lamina.runtime.context import RunContext


class LocalOrchestrator:
    """Executes the DAG here; tasks go to the stack's compute (a local pool by default,
    or a remote backend, per step)."""

    def __init__(self, options: LocalOrchestratorOptions) -> None:
        self.options = options

    def run(self, plan: RunContext, stack: Any) -> RunRecord:
        from lamina.runtime.progress import make_progress
        from lamina.runtime.scheduler import Scheduler

        scheduler = Scheduler(
            plan, fail_fast=self.options.fail_fast, progress=make_progress(self.options.progress)
        )
        return scheduler.run()

    def deploy(self, plan: Any, stack: Any, *, dry_run: bool = False) -> str:
        raise LaminaError(
            "the local orchestrator runs flows here and has nothing to deploy",
            hint="set `orchestrator` in the stack to a scheduler such as airflow",
        )

    def check(self) -> str:
        return "local orchestrator: runs flows in this process"
