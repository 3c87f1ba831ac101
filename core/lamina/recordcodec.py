"""What every metadata store shares, so that stores agree: how a record's structured fields
(params, inputs, metrics...) become JSON text, when a ``running`` run reads as ``crashed``
(its process is gone), and the order tasks are listed in."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lamina.errors import MetadataError

if TYPE_CHECKING:
    from lamina.records import RunRecord, TaskRecord


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    raise TypeError(f"{type(value).__qualname__} is not JSON-serializable")


_ENCODER = json.JSONEncoder(default=_json_default, ensure_ascii=False, check_circular=False)


def encode_field(value: Any, what: str) -> str:
    """``value`` as JSON text; paths, sets, dates and numpy scalars become plain values.

    :param what: what is recorded, for the message (``params of run R``).
    :raises lamina.errors.MetadataError: the value holds something JSON cannot record.
    """
    if not value:
        if isinstance(value, dict):
            return "{}"
        if isinstance(value, (list, tuple)):
            return "[]"
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise MetadataError(
            f"cannot record {what}: {exc}",
            hint="record plain values (str, int, float, bool, None, lists and dicts of them)",
        ) from exc


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host. Never signals it: on Windows, where
    ``os.kill`` would end it, the process is opened and asked whether it has exited."""
    if sys.platform == "win32":
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but belongs to someone else
        return True
    return True


def _windows_process_alive(pid: int) -> bool:
    import ctypes

    kernel32 = getattr(ctypes, "windll").kernel32  # noqa: B009 (absent off Windows)
    synchronize, wait_timeout = 0x00100000, 0x00000102
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        return False
    try:
        return bool(kernel32.WaitForSingleObject(handle, 0) == wait_timeout)
    finally:
        kernel32.CloseHandle(handle)


def with_crashed(runs: list[RunRecord], host: str) -> list[RunRecord]:
    """``runs`` as a reader should see them: a ``running`` run started on ``host`` (this
    machine) whose process is gone reads as ``crashed``. A run of another host is left as
    recorded: its process cannot be checked from here."""
    return [
        attrs.evolve(run, status="crashed")
        if run.status == "running" and run.host == host and run.pid > 0
        and not process_alive(run.pid)
        else run
        for run in runs
    ]


def in_step_order(tasks: list[TaskRecord], steps: list[str] | tuple[str, ...]) -> list[TaskRecord]:
    """``tasks`` in the order every store lists them: by the run's step order (a step the
    run does not name last, by name), then by index."""
    order = {name: position for position, name in enumerate(steps)}
    return sorted(tasks, key=lambda t: (order.get(t.step, len(order)), t.step, t.index))


#: The namespace of each run row, with the rule for rows written before namespaces
#: (``namespace = ''``: the run belongs to ``user:<its user>``), as SQL both stores speak.
NAMESPACE_OF_ROW = "CASE WHEN namespace = '' THEN 'user:' || \"user\" ELSE namespace END"


def namespace_condition(namespace: str, mark: str = "?") -> tuple[str, list[str]]:
    """The SQL condition (and its arguments, ``mark`` as the placeholder) that selects
    the runs of ``namespace`` in a ``runs`` table, answered from the
    ``runs_by_namespace`` index: ``namespace = ?``, plus, for a user's namespace, that
    user's runs recorded before namespaces (``namespace = ''``)."""
    from lamina.namespaces import USER_PREFIX

    if namespace.startswith(USER_PREFIX):
        user = namespace[len(USER_PREFIX):]
        return (f"(namespace = {mark} OR (namespace = '' AND \"user\" = {mark}))",
                [namespace, user])
    return f"namespace = {mark}", [namespace]


#: The columns of ``model_versions`` a store reads, in the order
#: :func:`model_version_from_row` takes them.
MODEL_VERSION_COLUMNS = ("namespace", "name", "version", "ref", "run_id", "registered_by",
                         "registered_at", "metadata")
#: The columns of ``model_alias_changes``, in the order :func:`alias_change_from_row`
#: takes them.
ALIAS_CHANGE_COLUMNS = ("name", "alias", "version", "previous", "user", "at", "reason",
                        "forced")


def model_version_from_row(row: Sequence[Any]) -> Any:
    """A :class:`lamina.interfaces.ModelVersion` from a row of
    :data:`MODEL_VERSION_COLUMNS` (``metadata`` as JSON text or already decoded)."""
    from lamina.interfaces.model_registry import ModelVersion

    namespace, name, version, ref, run_id, by, at, metadata = row
    if isinstance(metadata, str):
        metadata = json.loads(metadata or "{}")
    return ModelVersion(name=name, version=int(version), ref=ref, run_id=run_id,
                        namespace=namespace, registered_by=by, registered_at=at,
                        metadata=metadata or {})


def alias_change_from_row(row: Sequence[Any]) -> Any:
    """A :class:`lamina.interfaces.AliasChange` from a row of :data:`ALIAS_CHANGE_COLUMNS`."""
    from lamina.interfaces.model_registry import AliasChange

    name, alias, version, previous, user, at, reason, forced = row
    return AliasChange(name=name, alias=alias,
                       version=None if version is None else int(version),
                       previous=None if previous is None else int(previous),
                       user=user, at=at, reason=reason, forced=bool(forced))


def check_result_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """A check result (``version`` + the stored JSON) from a row ``(version, result)``."""
    version, result = row
    if isinstance(result, str):
        result = json.loads(result or "{}")
    return {**dict(result or {}), "version": int(version)}
