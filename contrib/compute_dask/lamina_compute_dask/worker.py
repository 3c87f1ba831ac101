"""What runs inside a Dask worker: one lamina task, the way ``python -m lamina task`` runs
it (the run's own stack rebuilt from its record, the run's code snapshot from the
datastore, the outcome written back to it).

A Dask worker is a long-lived process, so what is the same for every task of a run is
loaded once per process and kept: the run's stack (rebuilt from the manifest, reached
through the datastore the spec names), the manifest and the flow, imported from the code
snapshot. A task then costs its inputs, the step and its two records, like a task of the
local compute's worker pool.

Several tasks run at once in one worker process (one per Dask thread): the core keeps a
task's state (``lamina.current``, its captured stdout/stderr, its metrics) in
``contextvars``, so each thread sees its own. Only filling the caches below takes a lock.

A step with its own environment (``env=``) runs in a subprocess of that environment's
Python, built on the node from the run's recorded lock the first time (and cached under
the node's environments folder, see ``lamina.runtime.envs``).
"""

from __future__ import annotations

import collections
import socket
import threading
from typing import TYPE_CHECKING, Any

from lamina.sdk import LaminaError

if TYPE_CHECKING:
    from lamina.sdk import TaskOutcome, TaskSpec

#: The topic on which a worker announces that a task with a timeout has started.
STARTED_TOPIC = "lamina-task-started"
_MAX_RUNS = 32

# Guards the caches (building a run's stack, importing its flow), never a task's run.
_CACHE_LOCK = threading.RLock()
_plugins: Any = None
#: (how the datastore is reached, run id) -> (the run's stack, its manifest)
_runs: collections.OrderedDict[tuple[str, str], tuple[Any, dict[str, Any]]] = (
    collections.OrderedDict()
)
_flows: dict[tuple[str, str], Any] = {}


def _plugin_manager() -> Any:
    global _plugins
    if _plugins is None:
        from lamina.sdk import PluginManager

        _plugins = PluginManager()
    return _plugins


def _bootstrap(datastore_spec: str, url: str) -> str:
    return datastore_spec or url


def _run(datastore_spec: str, url: str, run_id: str) -> tuple[Any, dict[str, Any]]:
    """The run's stack (rebuilt from its record) and manifest, once per process."""
    key = (_bootstrap(datastore_spec, url), run_id)
    with _CACHE_LOCK:
        cached = _runs.get(key)
        if cached is None:
            from lamina.sdk import task_stack

            cached = task_stack(
                run_id, datastore_spec=datastore_spec, datastore_url=url,
                plugins=_plugin_manager(),
            )
            _runs[key] = cached
            while len(_runs) > _MAX_RUNS:
                _runs.popitem(last=False)
        else:
            _runs.move_to_end(key)
        return cached


def _flow(stack: Any, boot: str, manifest: dict[str, Any]) -> Any:
    key = (boot, repr((manifest.get("flow_file"), sorted((manifest.get("code_files") or {}).items()))))
    with _CACHE_LOCK:  # importing a snapshot changes sys.path and sys.modules
        flow = _flows.get(key)
        if flow is None:
            from lamina.sdk import load_snapshot_flow

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
    exception here means the task could not start (datastore unreachable, no manifest, a
    component of the run's stack that cannot be rebuilt here).
    """
    if spec.timeout:
        _announce_start(spec)
    stack, manifest = _run(spec.datastore_spec, spec.datastore_url, spec.run_id)
    if spec.step in (manifest.get("envs") or {}):
        # the step has its own environment: built on this node from the recorded lock
        # (once, cached), the task runs there as `python -m lamina task`
        from lamina.sdk import run_task_in_env

        outcome = run_task_in_env(spec, stack.artifacts, manifest)
        if outcome is not None:
            return outcome
    flow = _flow(stack, _bootstrap(spec.datastore_spec, spec.datastore_url), manifest)
    step = flow.steps.get(spec.step)
    if step is None:
        raise LaminaError(
            f"the code snapshot of run {spec.run_id} has no step '{spec.step}' "
            f"(worker on {socket.gethostname()})",
            hint=f"steps: {', '.join(flow.steps)}",
        )
    from lamina.sdk import execute_task

    return execute_task(spec, step.fn, stack)


def prepare_run(url: str, run_id: str, datastore_spec: str = "") -> str:
    """Run on every worker at the start of a run: rebuild the run's stack and read its
    manifest, so a worker that cannot see the datastore (or rebuild the stack) is named
    before a task is lost. Imports no flow. Returns "" or what is wrong."""
    try:
        _run(datastore_spec, url, run_id)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""
