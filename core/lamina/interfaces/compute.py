"""The compute layer: run one task somewhere and report its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lamina.records import TaskOutcome, TaskSpec


@runtime_checkable
class Compute(Protocol):
    """Runs tasks. The orchestrator submits specs and polls for outcomes.

    A remote backend launches ``python -m lamina task --datastore-spec JSON --run RUN
    --step S --index I`` for each spec (the command
    :func:`lamina.compute.remote_common.task_command` builds; the task runs on the run's
    recorded stack); the task writes its outcome to the datastore, and :meth:`poll` reads
    it back. The local backend runs tasks in a pool of worker processes.
    """

    #: How many tasks this backend wants in flight at once.
    max_in_flight: int

    def start(self, run_context: object) -> None:
        """Called once before the first submit of a run, with the runtime's context (the
        flow, the stack, the datastore). Start pools, clients, sessions here."""

    def submit(self, spec: TaskSpec) -> None:
        """Start one task attempt. Must return quickly (do not wait for the task)."""

    def poll(self, timeout: float) -> Sequence[TaskOutcome]:
        """Return the outcomes of tasks that finished since the last call, waiting up to
        ``timeout`` seconds for at least one. A task that exceeded its ``timeout`` is
        stopped and reported as failed with ``exit_reason="timeout"``."""

    def running(self) -> int:
        """How many submitted tasks have not been reported by :meth:`poll` yet."""

    def shutdown(self, *, cancel: bool) -> None:
        """Release everything. With ``cancel``, stop running tasks first; leave nothing
        running or orphaned."""

    def check(self) -> str:
        """Reach the backend; return a one-line summary or raise
        :class:`lamina.errors.BackendUnreachableError`."""
