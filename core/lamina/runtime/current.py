"""``lamina.current``: what a running step may ask about itself, and metrics it logs.

The running task's state lives in a :class:`contextvars.ContextVar`, not in module
globals: two tasks running at once in one process (two threads of a Dask worker, two
asyncio tasks) each see their own run id, step, index and metrics.

Outside a task every attribute is None and :meth:`log_metric` only keeps the number in
``current.metrics``, so a step stays an ordinary function in a test or a notebook.

A thread that a step starts itself does not inherit the step's context (Python starts
threads with an empty one). When exactly one task runs in the process, such a thread sees
that task (as it did when task state was process-wide); when several run at once, start
the thread with ``contextvars.copy_context().run`` to keep the task's view.
"""

from __future__ import annotations

import contextvars
import math
import threading
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.cards import Card
    from lamina.runtime.context import TaskContext


@attrs.define(eq=False)
class TaskState:
    """What one running task holds: where it is, its metrics, its context for hooks and
    what it printed (filled by the output capture of :mod:`lamina.runtime.task`)."""

    run_id: str | None = None
    flow: str | None = None
    step: str | None = None
    index: int | None = None
    attempt: int | None = None
    metrics: dict[str, float] = attrs.field(factory=dict)
    context: TaskContext | None = None
    stdout: Any = None
    stderr: Any = None
    run_info: dict[str, Any] | None = None  # the run's namespace, branch, user, tags
    #: (name, metadata) of ``current.register_model(name)`` calls: registered once the
    #: step's output is stored
    registrations: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)

    #: What the task read through ``lamina.data`` (DataInput records), in order.
    data_inputs: list[Any] = attrs.field(factory=list)


def run_info(state: TaskState) -> dict[str, Any] | None:
    """Where the task's run lives (``namespace``, ``project``, ``branch``,
    ``production``, ``user``, ``tags``), read once per task from the run's manifest (or,
    for a run recorded before branches, its record); None outside a task."""
    if state.run_info is not None or state.context is None:
        return state.run_info
    from lamina.namespaces import branch_from_dict, record_namespace

    manifest = state.context.manifest()
    branch = branch_from_dict(manifest.get("branch"))
    if branch is not None:
        info: dict[str, Any] = {
            "namespace": branch.namespace, "project": branch.project, "branch": branch.name,
            "production": branch.production, "user": manifest.get("user") or branch.user,
            "tags": tuple(manifest.get("tags") or ()),
        }
    else:
        record = state.context.run()
        info = {
            "namespace": record_namespace(record.namespace, record.user),
            "project": record.project, "branch": record.branch,
            "production": record.production, "user": record.user, "tags": record.tags,
        }
    state.run_info = info
    return info


_STATE: contextvars.ContextVar[TaskState | None] = contextvars.ContextVar(
    "lamina_current_task", default=None
)
#: Tasks running in this process now, for threads that started without a task context.
_ACTIVE: list[TaskState] = []
_ACTIVE_LOCK = threading.Lock()


def task_state(*, fallback: bool = True) -> TaskState | None:
    """The state of the task running in this context, else (``fallback``) the only task
    running in this process, else None."""
    state = _STATE.get()
    if state is not None or not fallback:
        return state
    active = _ACTIVE
    if len(active) == 1:
        try:
            return active[0]
        except IndexError:  # it finished meanwhile
            return None
    return None


def _outside() -> TaskState:
    """The state outside any task, one per context (a notebook's, a test's)."""
    state = task_state()
    if state is None:
        state = TaskState()
        _STATE.set(state)
    return state


class _Current:
    """Where the running step is (``run_id``, ``flow``, ``step``, ``index``, ``attempt``,
    ``task_id``), whose run it is (``namespace``, ``project``, ``branch``,
    ``is_production``, ``user``, ``tags``) and the metrics it logged; every attribute is
    None outside a task."""

    @staticmethod
    def _info(key: str) -> Any:
        state = task_state()
        if state is None:
            return None
        info = run_info(state)
        return None if info is None else info[key]

    @property
    def run_id(self) -> str | None:
        state = task_state()
        return state.run_id if state else None

    @property
    def flow(self) -> str | None:
        state = task_state()
        return state.flow if state else None

    @property
    def step(self) -> str | None:
        state = task_state()
        return state.step if state else None

    @property
    def index(self) -> int | None:
        state = task_state()
        return state.index if state else None

    @property
    def attempt(self) -> int | None:
        state = task_state()
        return state.attempt if state else None

    @property
    def task_id(self) -> str | None:
        """``RUN/STEP/INDEX``: the task's address (``lamina show`` takes it)."""
        state = task_state()
        if state is None or state.run_id is None:
            return None
        return f"{state.run_id}/{state.step}/{state.index}"

    @property
    def namespace(self) -> str | None:
        """The namespace of the task's run (``user:alice``,
        ``project:churn/branch:prod``): where a Client created in the step reads."""
        return self._info("namespace")  # type: ignore[no-any-return]

    @property
    def project(self) -> str | None:
        """The run's project (``""`` for a flow without one)."""
        return self._info("project")  # type: ignore[no-any-return]

    @property
    def branch(self) -> str | None:
        """The run's branch of its project (``""`` without a project)."""
        return self._info("branch")  # type: ignore[no-any-return]

    @property
    def is_production(self) -> bool | None:
        """Whether the run is a production run (``--production``)."""
        return self._info("production")  # type: ignore[no-any-return]

    @property
    def user(self) -> str | None:
        """Who launched the run."""
        return self._info("user")  # type: ignore[no-any-return]

    @property
    def tags(self) -> tuple[str, ...] | None:
        """The tags the run was launched with."""
        value = self._info("tags")
        return None if value is None else tuple(value)

    @property
    def metrics(self) -> dict[str, float]:
        """The metrics logged so far by this task (or, outside a task, by this context)."""
        return _outside().metrics

    @property
    def context(self) -> TaskContext | None:
        """The running task's :class:`lamina.runtime.context.TaskContext` (its stack and
        run), or None outside a task."""
        state = task_state()
        return state.context if state else None

    @property
    def in_task(self) -> bool:
        """Whether a task is running here."""
        return self.run_id is not None

    def log_metric(self, name: str, value: float) -> None:
        """Record a number with the task (shown by ``lamina show`` and ``lamina diff``)."""
        number = float(value)
        if math.isnan(number):
            step = self.step
            raise LaminaError(
                f"metric {name!r} is NaN" + (f" in step '{step}'" if step else ""),
                hint="log a number, or skip the metric when it is undefined",
            )
        _outside().metrics[name] = number

    def register_model(self, name: str, step: str | None = None, *,
                       metadata: dict[str, Any] | None = None) -> Any:
        """Register a model in the registry (see :mod:`lamina.registry`) from a step.

        ``current.register_model("churn")`` registers *this* step's output as the next
        version of ``churn``, once the step has returned and its output is stored (a
        step that fails registers nothing); it returns None. With ``step="train"`` the
        output of that earlier step of this run is registered now and the new
        :class:`lamina.interfaces.ModelVersion` returned. The version lives in the run's
        namespace (its branch, or production).

        :param metadata: JSON-safe fields kept with the version (metrics, description).
        """
        state = task_state()
        if state is None or state.run_id is None or state.context is None:
            raise LaminaError(
                f"current.register_model({name!r}) was called outside a running step",
                hint="call it inside a step, or lamina.registry.register_model(NAME, "
                "'RUN/STEP') / `lamina model register RUN/STEP --name NAME` outside one",
            )
        from lamina.registry import check_model_name, register_model

        check_model_name(name)
        if step is None or step == state.step:
            state.registrations.append((name, dict(metadata or {})))
            return None
        return register_model(name, f"{state.flow}/{state.run_id}/{step}",
                              metadata=metadata, stack=state.context.stack)

    def __repr__(self) -> str:
        if not self.in_task:
            return "<lamina.current: outside a task>"
        return f"<lamina.current: {self.run_id}/{self.step}/{self.index} attempt {self.attempt}>"

    @property
    def card(self) -> Card:
        """The running task's card: ``current.card.append("# Report")`` (see lamina.cards)."""
        from lamina.cards.context import current_card

        return current_card()


current = _Current()


def record_data_input(read: Any) -> bool:
    """Append a :class:`lamina.interfaces.data_source.DataInput` to the running task's
    record (``lamina.data.read`` calls it); False outside a task, where nothing is
    recorded."""
    state = task_state()
    if state is None or state.run_id is None:
        return False
    state.data_inputs.append(read)
    return True


def enter_task(
    run_id: str, flow: str, step: str, index: int, attempt: int,
    *, context: TaskContext | None = None,
) -> contextvars.Token[TaskState | None]:
    """Make this context a task's; returns the token :func:`leave_task` takes."""
    state = TaskState(run_id, flow, step, index, attempt, context=context)
    with _ACTIVE_LOCK:
        _ACTIVE.append(state)
    return _STATE.set(state)


def leave_task(token: contextvars.Token[TaskState | None]) -> dict[str, float]:
    """End the task entered with ``token``; return the metrics it logged."""
    state = _STATE.get()
    _STATE.reset(token)
    if state is None:
        return {}
    with _ACTIVE_LOCK:
        for i, active in enumerate(_ACTIVE):
            if active is state:
                del _ACTIVE[i]
                break
    return dict(state.metrics)
