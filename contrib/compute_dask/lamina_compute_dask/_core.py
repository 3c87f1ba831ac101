"""The core functions a remote compute backend needs that lamina's public surface does not
export yet: how a remote task materializes the run's code snapshot and executes, and
where its outcome record lives. Kept in this one module so that when the core publishes
them (see docs/compute/dask.md), only this file changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamina.records import TaskOutcome, TaskSpec


def read_manifest(artifacts: Any, run_id: str) -> dict[str, Any]:
    """The run's manifest (flow, code snapshot, steps), or ArtifactNotFoundError."""
    from lamina.runtime.remote import _manifest

    return _manifest(artifacts, run_id)


def load_snapshot_flow(artifacts: Any, manifest: dict[str, Any]) -> Any:
    """The run's flow, imported from its code snapshot in the datastore (never the disk)."""
    from lamina.runtime.remote import load_snapshot_flow as load

    return load(artifacts, manifest)


def execute_task(spec: TaskSpec, fn: Any, artifacts: Any, hooks: Any) -> TaskOutcome:
    """Run one task and record its outcome; a step's failure is the outcome, not a raise."""
    from lamina.runtime.task import execute_task as execute

    return execute(spec, fn, artifacts, hooks)


def write_outcome(artifacts: Any, outcome: TaskOutcome) -> None:
    """Record an outcome the task itself could not write (its worker died, it timed out)."""
    from lamina.runtime.task import write_outcome as write

    write(artifacts, outcome)

