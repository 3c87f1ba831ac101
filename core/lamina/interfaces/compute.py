"""The compute layer: run one task somewhere and report its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from lamina.records import Resources, TaskOutcome, TaskSpec


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


@runtime_checkable
class PodCompute(Protocol):
    """A compute whose tasks run as Kubernetes pods. An orchestrator that runs tasks on
    such a compute (an Airflow ``KubernetesPodOperator``) takes the pod from
    :meth:`pod_manifest` rather than re-deriving it from the options, so every option the
    compute knows (env, secrets, pull secrets, placement, service account...) reaches
    every pod.
    """

    def pod_manifest(
        self,
        *,
        name: str,
        command: list[str] | None = None,
        resources: Resources | None = None,
        timeout: float | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A whole ``v1/Pod`` manifest (plain dicts) as this compute would run a task:
        ``command`` None leaves the container's command to the caller; ``resources`` and
        ``timeout`` are a step's."""


@runtime_checkable
class RendersTasks(Protocol):
    """A compute that can show, without reaching its backend, the exact requests it would
    submit (``lamina render``)."""

    def render_tasks(self, specs: Sequence[TaskSpec]) -> list[dict[str, Any]]:
        """The manifests or API requests that submitting ``specs`` would send, in order
        (Kubernetes Jobs, AWS Batch job definitions and submissions...)."""
