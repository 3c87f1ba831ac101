"""A run that ran on another stack, brought here: production back to the laptop.

``lamina resume RUN --from team --stack local`` and ``lamina pull RUN --from team`` read
the run where it lives: its record from the origin stack's metadata store, its manifest,
task records, code snapshot and results from the datastore it ran on. That datastore is
the origin stack's when its URL is the one the run recorded, else one built from the
recorded URL (credentials and endpoint from the standard environment, as a remote task
finds it). What a resume needs here (the results of the tasks it reuses) is copied into
the local datastore; ``pull`` copies the whole run (record, tasks, datastore records and
every object they name), so that ``lamina show`` and the Client read it locally too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from lamina.client.refs import resolve_run
from lamina.errors import CorruptArtifactError, LaminaError, RunNotFoundError
from lamina.runtime.layout import run_manifest_key

if TYPE_CHECKING:
    from lamina.datastore.artifacts import ArtifactStore
    from lamina.records import RunRecord
    from lamina.stack import Stack

__all__ = ["Origin", "PullReport", "copy_objects", "open_origin", "pull_run"]

_OBJECT_KEY = re.compile(r"^[0-9a-f]{64}$")


@attrs.frozen
class Origin:
    """A run where it lives: its record, its manifest and the datastore holding both."""

    stack: Stack
    record: RunRecord
    artifacts: ArtifactStore
    manifest: dict[str, Any]

    @property
    def elsewhere(self) -> bool:
        """Whether the run's datastore is another one than ``self.stack``'s own."""
        return self.artifacts is not self.stack.artifacts


def open_origin(run_id: str, origin: Stack, *, namespace: str | None = None) -> Origin:
    """Find run ``run_id`` (any run reference) in ``origin``'s metadata store and open the
    datastore it ran on. ``latest`` and ``FLOW/latest`` look in ``namespace`` (None: every
    namespace); a run named by id is found in any namespace.

    :raises RunNotFoundError: no such run in the origin stack's metadata store.
    """
    from lamina.stack import Stack

    try:
        record = resolve_run(origin.metadata, run_id, namespace=namespace, by_id_anywhere=True)
    except RunNotFoundError as err:
        raise RunNotFoundError(
            f"{err.message} (in the metadata store of stack '{origin.name}')",
            hint=f"a run recorded on another stack: name that stack with --from STACK "
            f"(lamina resume {run_id} --from team --stack {origin.name}); "
            + (err.hint or ""),
        ) from None
    artifacts = origin.artifacts
    recorded = record.datastore_url
    if recorded and recorded.rstrip("/") != origin.datastore.url.rstrip("/"):
        # the run ran on another datastore than this stack's: open the one it recorded
        local = recorded.removeprefix("file://")
        if "://" not in local and not os.path.isdir(local):
            raise LaminaError(
                f"run {record.run_id} keeps its results in the folder {recorded}, which is "
                f"not on this machine (stack '{origin.name}' uses {origin.datastore.url})",
                hint="resume or pull from a stack whose datastore is the run's: --from STACK",
            )
        artifacts = Stack.for_datastore_url(recorded, cwd=origin.project_root).artifacts
    manifest = artifacts.get_json(run_manifest_key(record.run_id)) or {}
    return Origin(stack=origin, record=record, artifacts=artifacts, manifest=manifest)


def copy_objects(source: ArtifactStore, target: ArtifactStore, keys: Iterable[str]) -> int:
    """Copy the objects ``keys`` from ``source`` to ``target`` (content-addressed: an
    object the target has is skipped); return how many were copied."""
    copied = 0
    for key in dict.fromkeys(keys):
        if target.datastore.has_blob(key) or not source.datastore.has_blob(key):
            continue
        data = source.get_bytes(key, name=f"object {key[:12]}")
        if target.put_bytes(data) != key:  # pragma: no cover - a corrupt source object
            raise CorruptArtifactError(
                f"object {key} of {source.datastore.url} does not match its name",
                hint="lamina stack check --stack ORIGIN (the origin datastore is damaged)",
            )
        copied += 1
    return copied


def object_keys(value: Any) -> Iterator[str]:
    """Every string in a JSON value that names an object (a 64-hex content hash)."""
    if isinstance(value, str):
        if _OBJECT_KEY.match(value):
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from object_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from object_keys(item)


@attrs.frozen
class PullReport:
    """What a pull did: the run, whether its record was new here, datastore records and
    objects copied."""

    run_id: str
    created: bool
    records: int
    objects: int

    def __str__(self) -> str:
        record = "record copied" if self.created else "record already here"
        return (f"run {self.run_id}: {record}, {self.records} datastore records and "
                f"{self.objects} objects copied")


def pull_run(run_id: str, *, origin: Stack, stack: Stack) -> PullReport:
    """Copy run ``run_id`` from ``origin`` into ``stack``: its record and task records
    (run id kept), its datastore records (manifest, step plans, task outcomes) and every
    object they name (code snapshot, results, logs). Idempotent.

    :raises RunNotFoundError: no such run in the origin stack.
    """
    found = open_origin(run_id, origin)
    run = found.record
    prefix = f"runs/{run.run_id}/"
    source, target = found.artifacts, stack.artifacts
    keys: list[str] = [*run.code_files.values(), run.packages_key]
    records = 0
    for name in source.datastore.list_records(prefix):
        data = source.datastore.get_record(name)
        if data is None:
            continue
        try:
            keys.extend(object_keys(json.loads(data)))
        except ValueError:
            pass
        if target.datastore.get_record(name) != data:
            target.datastore.put_record(name, data)
            records += 1
    tasks = origin.metadata.list_tasks(run.run_id)
    for task in tasks:
        keys.extend(k for k in (task.stdout_key, task.stderr_key) if k)
        if task.output is not None:
            keys.append(task.output.key)
    objects = copy_objects(source, target, (k for k in keys if k))
    created = _copy_record(run, tasks, stack)
    return PullReport(run_id=run.run_id, created=created, records=records, objects=objects)


def _copy_record(run: RunRecord, tasks: list[Any], stack: Stack) -> bool:
    meta = stack.metadata
    try:
        existing: RunRecord | None = meta.get_run(run.run_id)
    except RunNotFoundError:
        existing = None
    if existing is not None and existing.run_id != run.run_id:
        existing = None  # a prefix match on another run: ours is absent
    if existing is not None and existing.finished_at is not None:
        return False
    if existing is None:
        meta.create_run(attrs.evolve(run, status="running", finished_at=None, error=""))
    if tasks:
        meta.record_tasks(tasks)
    if run.finished_at is not None:
        meta.finish_run(run.run_id, status=run.status, finished_at=run.finished_at,
                        error=run.error)
    return existing is None
