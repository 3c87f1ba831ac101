"""What runs inside a Dask worker: one lamina task, the way ``python -m lamina task`` runs
it (the run's code snapshot from the datastore, the outcome written back to it).

A Dask worker is a long-lived process, so what is the same for every task of a run is
loaded once per process and kept: the stack for the datastore URL, the run's manifest
and its flow, imported from the code snapshot. A task then costs its inputs, the step
and its two records, like a task of the local compute's worker pool.
"""

from __future__ import annotations

import collections
import socket
import threading
from typing import TYPE_CHECKING, Any

from lamina.errors import LaminaError

if TYPE_CHECKING:
    from lamina.records import TaskOutcome, TaskSpec

#: The topic on which a worker announces that a task with a timeout has started.
STARTED_TOPIC = "lamina-task-started"
_MAX_RUNS = 32

# One task at a time per worker process: the core captures a step's stdout/stderr and its
# metrics per process, so two steps in two threads of one process would mix them up.
_LOCK = threading.Lock()
_stacks: dict[str, Any] = {}
_flows: dict[tuple[str, str], Any] = {}
_manifests: collections.OrderedDict[tuple[str, str], dict[str, Any]] = (
    collections.OrderedDict()
)


def _stack(url: str) -> Any:
    stack = _stacks.get(url)
    if stack is None:
        from lamina.stack import Stack

        stack = _stacks[url] = Stack.for_datastore_url(url)
    return stack


def _manifest(stack: Any, url: str, run_id: str) -> dict[str, Any]:
    key = (url, run_id)
    manifest = _manifests.get(key)
    if manifest is None:
        from lamina.runtime.remote import read_manifest

        manifest = read_manifest(stack.artifacts, run_id)
        _manifests[key] = manifest
        while len(_manifests) > _MAX_RUNS:
            _manifests.popitem(last=False)
    return manifest


def _flow(stack: Any, url: str, manifest: dict[str, Any]) -> Any:
    key = (url, repr((manifest.get("flow_file"), sorted((manifest.get("code_files") or {}).items()))))
    flow = _flows.get(key)
    if flow is None:
        from lamina.runtime.remote import load_snapshot_flow

        flow = _flows[key] = load_snapshot_flow(stack.artifacts, manifest)
    return flow


def _announce_start(spec: TaskSpec) -> None:
    """Tell the client the task really started (it may have queued on the scheduler), so
    its timeout counts from now."""
    from distributed import get_worker

    worker = get_worker()
    worker.log_event(
        STARTED_TOPIC,
        {"task": spec.task_id, "attempt": spec.attempt, "worker": worker.address},
    )


def run_task(spec: TaskSpec) -> TaskOutcome:
    """Run one task attempt on this worker and return its recorded outcome.

    A failure of the step is the outcome (with its traceback), not an exception; an
    exception here means the task could not start (datastore unreachable, no manifest).
    """
    with _LOCK:
        if spec.timeout:
            _announce_start(spec)
        url = spec.datastore_url
        stack = _stack(url)
        manifest = _manifest(stack, url, spec.run_id)
        flow = _flow(stack, url, manifest)
        step = flow.steps.get(spec.step)
        if step is None:
            raise LaminaError(
                f"the code snapshot of run {spec.run_id} has no step '{spec.step}' "
                f"(worker on {socket.gethostname()})",
                hint=f"steps: {', '.join(flow.steps)}",
            )
        from lamina.runtime.task import execute_task

        return execute_task(spec, step.fn, stack)


def prepare_run(url: str, run_id: str) -> str:
    """Run on every worker (on its event loop) at the start of a run: read the run's
    manifest, so a worker that cannot see the datastore is named before a task is lost.
    Takes no lock and imports no flow: a busy worker must keep answering its scheduler.
    Returns "" or what is wrong."""
    try:
        _manifest(_stack(url), url, run_id)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""
