"""The ``local`` compute: a pool of long-lived worker processes on this machine.

Workers are forked once per run from the process that holds the flow, so a task costs a
message over a pipe, not a Python start-up: specs go out by reference and outcomes come
back by reference. A worker that overruns its task's timeout, or dies (a segfault, the OOM
killer), is replaced and its task reported failed with the reason.
"""

from __future__ import annotations

import collections
import ctypes
import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING

from lamina.records import TaskOutcome, TaskSpec

if TYPE_CHECKING:
    from lamina.builtin.plugin import LocalComputeOptions
    from lamina.runtime.context import RunContext

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the runtime process dies (even by ``kill -9``),
    so no orphan keeps running a task of a dead run."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:  # not Linux: workers notice the closed pipe instead
        pass


def _worker_main(conn: Connection, ctx: RunContext, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runtime's to handle
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    from lamina.runtime.task import execute_task

    steps = ctx.flow.steps
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            break
        if batch is None:
            break
        # In order, one outcome per task as soon as it is done: the runtime knows that the
        # first task it has no outcome for is the one running.
        for spec in batch:
            outcome = execute_task(spec, steps[spec.step].fn, ctx.stack, artifacts=ctx.artifacts)
            conn.send(outcome)
    conn.close()


#: Tasks handed to one worker ahead of time when tasks are short, so that it never waits
#: for the runtime between two of them (the runtime's turn-around is then off the critical
#: path): about _AHEAD seconds of work, at most _DEPTH_SHORT tasks. Long tasks are handed
#: out one at a time, so that the work stays balanced between workers.
_DEPTH_SHORT = 16
_AHEAD = 0.05  # seconds


class _Worker:
    def __init__(self, ctx: RunContext) -> None:
        mp = multiprocessing.get_context("fork")
        parent_conn, child_conn = mp.Pipe(duplex=True)
        self.process = mp.Process(
            target=_worker_main, args=(child_conn, ctx, os.getpid()), daemon=True
        )
        self.process.start()
        child_conn.close()
        self.conn = parent_conn
        self.assigned: collections.deque[TaskSpec] = collections.deque()
        self.deadline: float | None = None
        self.started: float = 0.0
        self.done = 0

    @property
    def spec(self) -> TaskSpec | None:
        """The task running now (the oldest one without an outcome)."""
        return self.assigned[0] if self.assigned else None

    def give(self, specs: list[TaskSpec]) -> None:
        was_idle = not self.assigned
        self.conn.send(specs)
        self.assigned.extend(specs)
        if was_idle:
            self._head_started(time.time())

    def _head_started(self, now: float) -> None:
        self.started = now
        head = self.spec
        self.deadline = now + head.timeout if head is not None and head.timeout else None

    def finished_head(self) -> TaskSpec:
        spec = self.assigned.popleft()
        self.done += 1
        if self.assigned:
            self._head_started(time.time())
        else:
            self.deadline = None
        return spec

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


class LocalCompute:
    """Runs tasks in forked worker processes that live for the whole run."""

    def __init__(self, options: LocalComputeOptions) -> None:
        self.options = options
        self.max_in_flight = options.resolved_workers()
        #: how many tasks the scheduler may hand over before their turn (see _DEPTH_SHORT)
        self.max_queued = self.max_in_flight * (_DEPTH_SHORT + 2)
        self._ctx: RunContext | None = None
        self._workers: dict[int, _Worker] = {}  # fileno -> every live worker
        self._queue: collections.deque[TaskSpec] = collections.deque()
        self._ready: list[TaskOutcome] = []
        self._task_seconds: float | None = None  # moving average of task durations

    # -- Compute protocol -----------------------------------------------------------------

    def start(self, run_context: object) -> None:
        self._ctx = run_context  # type: ignore[assignment]

    def submit(self, spec: TaskSpec) -> None:
        self._queue.append(spec)
        self._dispatch()

    def running(self) -> int:
        return sum(len(w.assigned) for w in self._workers.values()) + len(self._queue)

    def poll(self, timeout: float) -> Sequence[TaskOutcome]:
        self._dispatch()
        busy = [w for w in self._workers.values() if w.assigned]
        if not self._ready and busy:
            wait_for = timeout
            deadlines = [w.deadline for w in busy if w.deadline is not None]
            if deadlines:
                wait_for = max(0.0, min(wait_for, min(deadlines) - time.time()))
            for conn in wait([w.conn for w in busy], timeout=wait_for):
                self._collect(conn)  # type: ignore[arg-type]
            self._expire()
        self._dispatch()
        ready, self._ready = self._ready, []
        return ready

    def shutdown(self, *, cancel: bool) -> None:
        self._queue.clear()
        for worker in list(self._workers.values()):
            worker.kill() if cancel and worker.assigned else worker.stop()
        self._workers.clear()

    def check(self) -> str:
        return f"local compute: {self.max_in_flight} worker processes on {socket.gethostname()}"

    # -- internals ------------------------------------------------------------------------

    def _depth(self) -> int:
        if self._task_seconds is None:
            return 2
        return max(1, min(_DEPTH_SHORT, int(_AHEAD / max(self._task_seconds, 1e-6))))

    def _dispatch(self) -> None:
        if not self._queue:
            return
        depth = self._depth()
        limit = self.options.max_tasks_per_worker
        while len(self._workers) < self.max_in_flight and self._queue:
            worker = _Worker(self._require_ctx())
            self._workers[worker.conn.fileno()] = worker
        # least loaded first, so that a fresh or idle worker gets work before a busy one
        for worker in sorted(self._workers.values(), key=lambda w: len(w.assigned)):
            if not self._queue:
                break
            room = depth - len(worker.assigned)
            if limit is not None:
                room = min(room, limit - worker.done - len(worker.assigned))
            if room <= 0:
                continue
            batch = [self._queue.popleft() for _ in range(min(room, len(self._queue)))]
            try:
                worker.give(batch)
            except OSError:  # the worker died meanwhile: its tasks go back to the queue
                self._queue.extendleft(reversed(batch))
                self._remove(worker, requeue=True)

    def _remove(self, worker: _Worker, *, requeue: bool) -> None:
        """Forget a dead or stopped worker; put the tasks it had not started back first."""
        for key, known in list(self._workers.items()):
            if known is worker:
                del self._workers[key]
        if requeue:
            self._queue.extendleft(reversed(list(worker.assigned)))
            worker.assigned.clear()
        worker.kill()

    def _require_ctx(self) -> RunContext:
        if self._ctx is None:
            raise RuntimeError("LocalCompute.start() was not called")
        return self._ctx

    def _collect(self, conn: Connection) -> None:
        worker = self._workers[conn.fileno()]
        while worker.assigned:
            try:
                outcome: TaskOutcome = conn.recv()
            except (EOFError, OSError):
                self._worker_died(worker)
                return
            worker.finished_head()
            took = outcome.finished_at - outcome.started_at
            avg = self._task_seconds
            self._task_seconds = took if avg is None else 0.8 * avg + 0.2 * took
            self._ready.append(outcome)
            if not conn.poll():
                break
        limit = self.options.max_tasks_per_worker
        if limit is not None and worker.done >= limit and not worker.assigned:
            self._workers.pop(conn.fileno(), None)
            worker.stop()

    def _worker_died(self, worker: _Worker) -> None:
        spec = worker.spec
        assert spec is not None
        worker.process.join(timeout=5)
        code = worker.process.exitcode
        reason = (
            f"the worker process was killed by signal {-code}"
            + (" (SIGKILL: out of memory?)" if code == -signal.SIGKILL else "")
            if code is not None and code < 0
            else f"the worker process exited with code {code}"
        )
        worker.assigned.popleft()
        self._remove(worker, requeue=True)
        self._ready.append(self._synthetic_failure(spec, worker, "killed", reason))

    def _expire(self) -> None:
        now = time.time()
        for worker in list(self._workers.values()):
            spec = worker.spec
            if spec is not None and worker.deadline is not None and now >= worker.deadline:
                worker.assigned.popleft()
                self._remove(worker, requeue=True)
                self._ready.append(
                    self._synthetic_failure(
                        spec, worker, "timeout",
                        f"the task ran longer than its timeout of {spec.timeout:g} s and was stopped",
                    )
                )

    def _synthetic_failure(
        self, spec: TaskSpec, worker: _Worker, reason: str, message: str
    ) -> TaskOutcome:
        """An outcome for a task whose worker could not report one; recorded like any other."""
        from lamina.runtime.task import write_outcome

        ctx = self._require_ctx()
        step = ctx.flow.steps[spec.step]
        outcome = TaskOutcome(
            run_id=spec.run_id,
            step=spec.step,
            index=spec.index,
            attempt=spec.attempt,
            status="failed",
            started_at=worker.started,
            finished_at=time.time(),
            error=f"{reason}: {message}",
            error_type="TaskTimeout" if reason == "timeout" else "WorkerDied",
            location=step.where,
            exit_reason=reason,
            cache_key=spec.cache_key,
            host=socket.gethostname(),
            pid=worker.process.pid or 0,
        )
        write_outcome(ctx.artifacts, outcome)
        return outcome

    def __repr__(self) -> str:
        return f"LocalCompute(workers={self.max_in_flight})"

