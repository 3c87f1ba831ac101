"""What the orchestrator and compute backends get for one run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.flow.flow import Flow
    from lamina.flow.graph import FlowGraph
    from lamina.records import RunRecord
    from lamina.stack import Stack


@attrs.define
class RunContext:
    """One run being executed: the validated flow, its stack, and how to reuse work.

    :param reuse: outcomes of an earlier run (``lamina resume``) by cache key; a task whose
        key is here is not run again.
    :param cache: the run's default for steps that do not set ``cache=``.
    """

    run_id: str
    flow: Flow
    graph: FlowGraph
    stack: Stack
    artifacts: ArtifactStore
    record: RunRecord
    step_code: dict[str, str]
    cache: bool = False
    reuse: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    reused_from_run: str = ""

    @property
    def hooks(self) -> Any:
        return self.stack.hook
