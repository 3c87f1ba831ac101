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
    """Where the running step is (``run_id``, ``flow``, ``step``, ``index``, ``attempt``)
    and the metrics it logged; every attribute is None outside a task."""

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
