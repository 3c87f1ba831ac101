"""What every remote compute backend (Kubernetes, AWS Batch, ...) shares.

A remote task is one command, ``python -m lamina task ...``, that reads everything from the
datastore and writes its outcome record back. The engine (a Job, an array job) only knows
whether the container exited well. This module builds that command, groups a step's tasks
into contiguous ranges for bulk fan-out, and *settles* a finished task: the outcome record
the task wrote wins (it carries the step's traceback); when there is none, the engine's
exit reason becomes a failed outcome, recorded like any other so that ``lamina show`` and
``lamina logs`` see it.
"""

from __future__ import annotations

import re
import shlex
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

from lamina.records import TaskOutcome, TaskSpec

#: exit_reason values a remote backend reports, beside the task's own "exception".
EXIT_REASONS: dict[str, str] = {
    "oom": "OutOfMemory",
    "timeout": "TaskTimeout",
    "preempted": "Preempted",
    "exit": "NonZeroExit",
    "no-outcome": "NoOutcomeRecord",
    "lost": "JobLost",
    "engine": "EngineFailure",
    "cancelled": "Cancelled",
}

_CREDENTIAL = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|ACCESS_KEY|API_KEY)", re.I)


def looks_like_credential(name: str) -> bool:
    """Whether an environment variable's name suggests it holds a credential (such a value
    must come from a secret reference, never from a manifest or a command line)."""
    return bool(_CREDENTIAL.search(name))


def task_command(
    spec: TaskSpec, *, first_index: int | None = None, index_env: str | None = None,
    python: str = "python",
) -> list[str]:
    """The container command of one task, or of a range of tasks: with ``index_env`` the
    engine's position variable is added to ``first_index`` inside the task process."""
    index = spec.index if first_index is None else first_index
    cmd = [
        python, "-m", "lamina", "task",
        "--datastore", spec.datastore_url,
        "--run", spec.run_id,
        "--step", spec.step,
        "--index", str(index),
        "--attempt", str(spec.attempt),
    ]
    if index_env:
        cmd += ["--index-env", index_env]
    return cmd


def command_line(cmd: Sequence[str]) -> str:
    """The command as one shell-quoted line, for messages."""
    return " ".join(shlex.quote(c) for c in cmd)


def contiguous_batches(specs: Iterable[TaskSpec], limit: int) -> list[list[TaskSpec]]:
    """Group specs into runs of consecutive indexes of one step and attempt, at most
    ``limit`` long: each run becomes one Indexed Job / array job."""
    ordered = sorted(specs, key=lambda s: (s.step, s.attempt, s.index))
    batches: list[list[TaskSpec]] = []
    for spec in ordered:
        last = batches[-1] if batches else None
        if (
            last is not None
            and len(last) < limit
            and last[-1].step == spec.step
            and last[-1].attempt == spec.attempt
            and last[-1].index + 1 == spec.index
            and last[-1].resources == spec.resources
            and last[-1].timeout == spec.timeout
        ):
            last.append(spec)
        else:
            batches.append([spec])
    return batches


def parse_index_ranges(text: str | None) -> set[int]:
    """``"0,2-4,7"`` (a Job's completedIndexes / failedIndexes) as a set of ints."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    return out


def read_attempt_outcome(artifacts: Any, spec: TaskSpec) -> TaskOutcome | None:
    """The outcome record this very attempt wrote, or None (a record of an earlier attempt
    of the same task is not this attempt's outcome)."""
    from lamina.runtime.task import read_outcome

    data = read_outcome(artifacts, spec.run_id, spec.step, spec.index)
    if not data or int(data.get("attempt", 0)) != spec.attempt:
        return None
    return TaskOutcome.from_dict(data)


def settle(
    artifacts: Any,
    spec: TaskSpec,
    *,
    engine_ok: bool,
    reason: str = "exit",
    message: str = "",
    location: str = "",
    started_at: float | None = None,
    log_text: str = "",
    host: str = "",
    hint: str = "",
) -> TaskOutcome:
    """The outcome of a task the engine reports finished.

    The task's own record wins when it exists: it holds the step's result or traceback. A
    success the engine reports without a record is a failure (``no-outcome``): the task
    never reached the datastore. A failure without a record becomes an outcome with the
    engine's ``reason`` and ``message``; ``log_text`` (the container's log) is stored as
    the task's stderr so that ``lamina logs`` shows what happened.
    """
    recorded = read_attempt_outcome(artifacts, spec)
    if recorded is not None:
        return recorded
    if engine_ok:
        reason = "no-outcome"
        message = (
            f"the engine reports task {spec.task_id} (attempt {spec.attempt}) succeeded, but "
            f"it wrote no outcome record to the datastore {spec.datastore_url}"
        )
        hint = hint or (
            "the container must run `python -m lamina task` with lamina and the flow's "
            "packages installed and reach the same datastore (a shared URL such as s3://, "
            "with credentials from secret references)"
        )
    return failure_outcome(
        artifacts, spec, reason=reason, message=message + (f" (fix: {hint})" if hint else ""),
        location=location, started_at=started_at, log_text=log_text, host=host,
    )


def failure_outcome(
    artifacts: Any,
    spec: TaskSpec,
    *,
    reason: str,
    message: str,
    location: str = "",
    started_at: float | None = None,
    log_text: str = "",
    host: str = "",
) -> TaskOutcome:
    """Record (and return) a failed outcome the engine, not the task, knows about."""
    from lamina.runtime.task import write_outcome

    now = time.time()
    stderr_key = artifacts.put_bytes(log_text.encode()) if log_text else ""
    outcome = TaskOutcome(
        run_id=spec.run_id,
        step=spec.step,
        index=spec.index,
        attempt=spec.attempt,
        status="failed",
        started_at=started_at if started_at is not None else now,
        finished_at=now,
        error=f"{reason}: {message}",
        error_type=EXIT_REASONS.get(reason, "EngineFailure"),
        location=location,
        exit_reason=reason,
        stderr_key=stderr_key,
        cache_key=spec.cache_key,
        host=host or socket.gethostname(),
    )
    write_outcome(artifacts, outcome)
    return outcome
