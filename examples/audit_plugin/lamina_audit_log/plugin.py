"""The audit-log plugin: one JSON object per line for every lifecycle event.

Configure it in ``lamina.toml``::

    [plugins.audit]
    path = "logs/audit.jsonl"     # relative to the project root; default .lamina/audit.jsonl
    strict = false                # true: a failed write fails the run instead of a warning

The environment variable ``LAMINA_AUDIT_LOG`` overrides ``path`` (operations can redirect
the log without touching the committed config).

Each line has ``event``, ``time`` (UTC, ISO 8601), ``user``, ``host``, ``pid`` and, when the
event has them, ``run_id``, ``flow``, ``step``, ``index``, ``attempt`` and event details.
Lines are appended with one ``write`` on a file opened with ``O_APPEND``, so worker
processes writing at once do not interleave their lines.

Only the standard library and attrs (a lamina dependency) are imported here: lamina
imports every plugin on each ``lamina`` command, so a plugin module must be cheap to import.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import logging
import os
import re
import socket
from typing import Any

import attrs

from lamina.sdk import current, hookimpl

#: The entry-point name the distribution registers this plugin under.
PLUGIN_NAME = "audit"
ENV_PATH = "LAMINA_AUDIT_LOG"
DEFAULT_PATH = ".lamina/audit.jsonl"
_TASK_NAME = re.compile(r"^(?P<run_id>[^/]+)/(?P<step>[^/]+)/(?P<index>\d+)$")

log = logging.getLogger("lamina.audit")


@attrs.frozen
class AuditOptions:
    """Options of ``[plugins.audit]``.

    :param path: the audit log file; relative to the project root.
    :param strict: raise when the log cannot be written (default: log a warning).
    """

    path: str = DEFAULT_PATH
    strict: bool = False


class AuditLog:
    """Appends events to one JSON-lines file."""

    def __init__(self, path: str, *, strict: bool = False) -> None:
        self.path = path
        self.strict = strict
        self._warned = False

    def write(self, event: str, **fields: Any) -> None:
        now = _dt.datetime.now(_dt.UTC)
        record = {
            "event": event,
            "time": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "user": fields.pop("user", None) or _user(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        record.update({k: v for k, v in fields.items() if v is not None})
        line = (json.dumps(record, default=str, sort_keys=False) + "\n").encode("utf-8")
        try:
            folder = os.path.dirname(self.path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            if self.strict:
                raise
            if not self._warned:
                self._warned = True
                log.warning("audit log %s cannot be written: %s", self.path, exc)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return os.environ.get("USER", "unknown")


# One audit log per stack, kept on the stack itself (``stack.plugin_state``): two stacks in
# one process log to their own files. Run, artifact and alert hooks get the stack; task
# hooks get it through their ``context``. Events with no stack at all (a deployment, an
# artifact store built by hand) use the running task's (``current.context``), else the
# default path.


def _log_for(stack: Any = None) -> AuditLog:
    if stack is None and current.context is not None:
        stack = current.context.stack
    if stack is not None:
        state = stack.plugin_state(PLUGIN_NAME)
        if "log" not in state:
            lamina_configure(stack)
        return state["log"]
    return AuditLog(os.path.abspath(os.environ.get(ENV_PATH) or DEFAULT_PATH))


def _task_fields(spec: Any) -> dict[str, Any]:
    return {
        "run_id": spec.run_id,
        "flow": spec.flow,
        "step": spec.step,
        "index": spec.index,
        "attempt": spec.attempt,
    }


def _run_fields(run: Any) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "flow": run.flow,
        "status": run.status,
        "user": run.user or None,
        "stack": run.stack or None,
        "params": run.params or None,
    }


def _artifact_fields(name: str) -> dict[str, Any]:
    m = _TASK_NAME.match(name)
    if not m:
        return {"artifact": name}
    return {"artifact": name, "run_id": m["run_id"], "step": m["step"], "index": int(m["index"])}


# ---------------------------------------------------------------------- configuration


@hookimpl
def lamina_datastores() -> list[Any]:
    from lamina_audit_log.sized import SPEC

    return [SPEC]


@hookimpl
def lamina_plugin_options() -> type:
    return AuditOptions


@hookimpl
def lamina_configure(stack: Any) -> None:
    opts: AuditOptions = stack.plugin_options(PLUGIN_NAME)
    path = os.environ.get(ENV_PATH) or opts.path
    audit = AuditLog(stack.resolve_path(path), strict=opts.strict)
    stack.plugin_state(PLUGIN_NAME)["log"] = audit


# ---------------------------------------------------------------------- runs


@hookimpl
def lamina_before_run(run: Any, stack: Any) -> None:
    _log_for(stack).write("run.started", **_run_fields(run))


@hookimpl
def lamina_after_run(run: Any, stack: Any) -> None:
    _log_for(stack).write("run.succeeded", **_run_fields(run), duration=run.duration)


@hookimpl
def lamina_on_run_error(run: Any, error: BaseException, stack: Any) -> None:
    _log_for(stack).write(
        "run.failed", **_run_fields(run), error=f"{type(error).__name__}: {error}"
    )


# ---------------------------------------------------------------------- tasks


@hookimpl
def lamina_before_task(spec: Any, context: Any) -> None:
    _log_for(context.stack).write("task.started", **_task_fields(spec))


@hookimpl
def lamina_after_task(spec: Any, outcome: Any, context: Any) -> None:
    _log_for(context.stack).write(
        "task.succeeded",
        **_task_fields(spec),
        duration=outcome.finished_at - outcome.started_at,
        output=outcome.output.key if outcome.output else None,
    )


@hookimpl
def lamina_on_task_error(spec: Any, outcome: Any, error: BaseException, context: Any) -> None:
    _log_for(context.stack).write(
        "task.failed",
        **_task_fields(spec),
        error=f"{type(error).__name__}: {error}",
        location=outcome.location or None,
    )


# ---------------------------------------------------------------------- artifacts


@hookimpl
def lamina_before_artifact_save(name: str, value: Any, stack: Any) -> None:
    _log_for(stack).write(
        "artifact.saving", **_artifact_fields(name), type=type(value).__qualname__
    )


@hookimpl
def lamina_after_artifact_save(name: str, ref: Any, created: bool, stack: Any) -> None:
    _log_for(stack).write(
        "artifact.saved",
        **_artifact_fields(name),
        key=ref.key,
        serializer=ref.serializer,
        size=ref.size,
        created=created,
    )


@hookimpl
def lamina_on_artifact_error(name: str, error: BaseException, stack: Any) -> None:
    _log_for(stack).write(
        "artifact.failed", **_artifact_fields(name), error=f"{type(error).__name__}: {error}"
    )


@hookimpl
def lamina_after_artifact_load(ref: Any, value: Any, stack: Any) -> None:
    _log_for(stack).write("artifact.loaded", key=ref.key, serializer=ref.serializer, size=ref.size)


# ---------------------------------------------------------------------- serving, monitoring


@hookimpl
def lamina_model_deployed(deployment: Any, endpoint: str) -> None:
    _log_for().write("model.deployed", endpoint=endpoint, deployment=repr(deployment)[:500])


@hookimpl
def lamina_prediction_logged(records: list[dict[str, Any]]) -> None:
    _log_for().write("predictions.logged", count=len(records))


@hookimpl
def lamina_alert(name: str, severity: str, message: str, details: dict[str, Any],
                 stack: Any) -> None:
    _log_for(stack).write("alert", name=name, severity=severity, message=message, details=details)
