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

import collections
import shlex
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Any

from lamina.logs import get_logger
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

def task_command(
    spec: TaskSpec, *, first_index: int | None = None, index_env: str | None = None,
    python: str = "python",
) -> list[str]:
    """The container command of one task, or of a range of tasks: with ``index_env`` the
    engine's position variable is added to ``first_index`` inside the task process.

    The command carries the stack's datastore component and its recorded options
    (``--datastore-spec``, from ``spec.datastore_spec``; secrets only as ``${VAR}``
    references, which the task reads from its environment), so the task reads the run's
    manifest through the stack's own datastore and rebuilds the run's stack from it. A
    spec without it falls back to ``--datastore URL``."""
    index = spec.index if first_index is None else first_index
    where = (
        ["--datastore-spec", spec.datastore_spec] if spec.datastore_spec
        else ["--datastore", spec.datastore_url]
    )
    cmd = [
        python, "-m", "lamina", "task",
        *where,
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
    from lamina.runtime.task import record_failure

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
    return record_failure(artifacts, outcome)


class RemoteJob:
    """One engine job (an Indexed Job, an array job) running a contiguous range of tasks.

    ``key`` is what the engine's status reads name the job by (its name, or an id the
    engine gave it); ``reported`` holds the positions already handed to the runtime.
    """

    def __init__(self, name: str, specs: list[TaskSpec], *, key: str | None = None) -> None:
        self.name = name
        self.key = key if key is not None else name
        self.specs = specs  # position in the job -> spec
        self.reported: set[int] = set()
        self.created = time.time()

    @property
    def unfinished(self) -> int:
        return len(self.specs) - len(self.reported)


class QueuedRemoteCompute:
    """The skeleton of a remote compute backend whose engine is slow to ask.

    ``submit`` only queues. Each ``poll`` turns the queue into jobs (one per run of
    consecutive indexes, within ``max_in_flight`` and :meth:`_batch_limit`), then, at most
    every ``options.poll_interval`` seconds, reads the engine's state of every job in flight
    once and lets :meth:`_update` settle what finished. A subclass says how to create,
    read, settle and cancel its jobs; the queue, the pacing and the bookkeeping live here.
    """

    #: The logger a subclass's warnings go to.
    logger_name = "lamina.compute"

    def __init__(self, options: Any) -> None:
        self.options = options
        self.max_in_flight: int = options.max_in_flight
        self._ctx: Any = None
        self._queue: collections.deque[TaskSpec] = collections.deque()
        self._jobs: dict[str, RemoteJob] = {}
        self._ready: list[TaskOutcome] = []
        self._last_refresh = 0.0

    # -- what a backend provides ----------------------------------------------------------

    def _create(self, batch: list[TaskSpec]) -> RemoteJob:
        """Create one engine job running ``batch``; raise to put it back in the queue."""
        raise NotImplementedError

    def _engine_state(self) -> dict[str, Any]:
        """The engine's description of the jobs in flight, by :attr:`RemoteJob.key`; a job
        missing from it is lost."""
        raise NotImplementedError

    def _update(self, job: RemoteJob, info: Any | None) -> None:
        """Settle the tasks of ``job`` that finished (``info`` is None for a lost job):
        mark their positions reported and append their outcomes to ``self._ready``."""
        raise NotImplementedError

    def _cancel(self, job: RemoteJob) -> None:
        """Stop a job that still has unfinished tasks."""
        raise NotImplementedError

    def _close(self) -> None:
        """Release clients after shutdown."""

    def _batch_limit(self, room: int) -> int:
        """The most tasks one job may run, given ``room`` free in-flight slots."""
        return room

    # -- Compute protocol -----------------------------------------------------------------

    def submit(self, spec: TaskSpec) -> None:
        self._queue.append(spec)

    def running(self) -> int:
        return len(self._queue) + self._in_flight()

    def poll(self, timeout: float) -> Sequence[TaskOutcome]:
        self._launch()
        if not self._ready and self._jobs:
            wait = self._last_refresh + self.options.poll_interval - time.time()
            if wait > timeout:
                time.sleep(max(0.0, timeout))
            else:
                time.sleep(max(0.0, wait))
                self._refresh()
                self._launch()
        ready, self._ready = self._ready, []
        return ready

    def shutdown(self, *, cancel: bool) -> None:
        self._queue.clear()
        if cancel:
            for job in list(self._jobs.values()):
                if job.unfinished:
                    try:
                        self._cancel(job)
                    except Exception as err:  # keep cancelling the others
                        get_logger(self.logger_name).warning("job cancel failed", job=job.name, error=str(err))
        self._jobs.clear()
        self._close()

    # -- internals ------------------------------------------------------------------------

    def _in_flight(self) -> int:
        return sum(j.unfinished for j in self._jobs.values())

    def _launch(self) -> None:
        room = self.max_in_flight - self._in_flight()
        if room <= 0 or not self._queue:
            return
        if not self._jobs:  # nothing to watch yet: the first status read is one interval away
            self._last_refresh = time.time()
        take = [self._queue.popleft() for _ in range(min(room, len(self._queue)))]
        batches = contiguous_batches(take, limit=self._batch_limit(room))
        for i, batch in enumerate(batches):
            try:
                job = self._create(batch)
            except BaseException:
                self._queue.extendleft(reversed([s for b in batches[i:] for s in b]))
                raise
            self._jobs[job.key] = job

    def _refresh(self) -> None:
        self._last_refresh = time.time()
        state = self._engine_state()
        for key, job in list(self._jobs.items()):
            self._update(job, state.get(key))
            if not job.unfinished:
                del self._jobs[key]

    def _where(self, spec: TaskSpec) -> str:
        """The step's source location, for outcomes the engine (not the task) reports."""
        try:
            return str(self._ctx.flow.steps[spec.step].where)
        except (AttributeError, KeyError):
            return ""
