"""What the orchestrator and compute backends get for one run, and what task hooks get
for one task."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

__all__ = ["RunContext", "TaskContext"]

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.flow.flow import Flow
    from lamina.flow.graph import FlowGraph
    from lamina.namespaces import Branch
    from lamina.records import RunRecord, TaskSpec
    from lamina.runtime.envs import StepEnv
    from lamina.stack import Stack


@attrs.define
class RunContext:
    """One run being executed: the validated flow, its stack, and how to reuse work.

    :param reuse: outcomes of an earlier run (``lamina resume``) by cache key; a task whose
        key is here is not run again.
    :param cache: the run's default for steps that do not set ``cache=``.
    :param datastore_spec: the stack's datastore as the run recorded it (compact JSON),
        copied into every :class:`lamina.records.TaskSpec` for remote tasks.
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
    datastore_spec: str = ""
    #: step name -> the built environment its tasks run in (:mod:`lamina.runtime.envs`)
    envs: dict[str, StepEnv] = attrs.field(factory=dict)

    @property
    def hooks(self) -> Any:
        return self.stack.hook


@attrs.frozen
class TaskContext:
    """What a task hook (``lamina_before_task``, ``lamina_after_task``,
    ``lamina_on_task_error``) gets beside the spec: the task's stack and its run.

    A plugin reads its settings from the stack rather than from module globals::

        @lamina.hookimpl
        def lamina_after_task(spec, outcome, context):
            limit = context.stack.plugin_options("audit").limit

    In a remote task (``python -m lamina task``) the stack is the run's own, rebuilt from
    what the run recorded when it started (its components and their options; secrets are
    re-read from the task's environment).

    :param stack: the stack the task runs on.
    :param spec: the task (run id, step, index, attempt, inputs by reference).
    :param artifacts: the artifact store the task reads and writes.
    """

    stack: Stack
    spec: TaskSpec
    artifacts: ArtifactStore

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.spec.run_id

    @property
    def flow(self) -> str:
        """The flow's name."""
        return self.spec.flow

    @property
    def step(self) -> str:
        """The step's name."""
        return self.spec.step

    @property
    def index(self) -> int:
        """The task's position in its step (0 for a step without foreach)."""
        return self.spec.index

    @property
    def attempt(self) -> int:
        """The attempt number (1, then 2... on retries)."""
        return self.spec.attempt

    @property
    def task_id(self) -> str:
        """``RUN/STEP/INDEX``."""
        return self.spec.task_id

    @property
    def branch(self) -> Branch:
        """The branch of the task's run (:class:`lamina.namespaces.Branch`: its user,
        project, branch and production flag; ``.namespace`` is the run's namespace), as
        the run's manifest recorded it; the stack's for a run recorded before branches."""
        from lamina.namespaces import branch_from_dict

        recorded = branch_from_dict(self.manifest().get("branch"))
        return recorded if recorded is not None else self.stack.branch

    @property
    def namespace(self) -> str:
        """The namespace of the task's run."""
        return self.branch.namespace

    def manifest(self) -> dict[str, Any]:
        """The run's manifest from the datastore: flow, parameters, steps, code snapshot
        and the stack the run recorded (``manifest()["stack"]``)."""
        from lamina.runtime.remote import read_manifest

        return read_manifest(self.artifacts, self.run_id)

    def run(self) -> RunRecord:
        """The run's record from the stack's metadata store (needs a metadata store the
        task can reach; a remote task rebuilds the run's own)."""
        record: RunRecord = self.stack.metadata.get_run(self.run_id)
        return record
