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
            spec = conn.recv()
        except (EOFError, OSError):
            break
        if spec is None:
            break
        outcome = execute_task(spec, steps[spec.step].fn, ctx.artifacts, ctx.hooks)
        conn.send(outcome)
    conn.close()


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
        self.spec: TaskSpec | None = None
        self.deadline: float | None = None
        self.started: float = 0.0
        self.done = 0

    def give(self, spec: TaskSpec) -> None:
        self.spec = spec
        self.started = time.time()
        self.deadline = self.started + spec.timeout if spec.timeout else None
        self.conn.send(spec)

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
        self._ctx: RunContext | None = None
        self._idle: list[_Worker] = []
        self._busy: dict[int, _Worker] = {}  # fileno -> worker
        self._queue: collections.deque[TaskSpec] = collections.deque()
        self._ready: list[TaskOutcome] = []

    # -- Compute protocol -----------------------------------------------------------------

    def start(self, run_context: object) -> None:
        self._ctx = run_context  # type: ignore[assignment]

    def submit(self, spec: TaskSpec) -> None:
        self._queue.append(spec)
        self._dispatch()

    def running(self) -> int:
        return len(self._busy) + len(self._queue)

    def poll(self, timeout: float) -> Sequence[TaskOutcome]:
        self._dispatch()
        if not self._ready and self._busy:
            wait_for = timeout
            deadlines = [w.deadline for w in self._busy.values() if w.deadline is not None]
            if deadlines:
                wait_for = max(0.0, min(wait_for, min(deadlines) - time.time()))
            for conn in wait([w.conn for w in self._busy.values()], timeout=wait_for):
                self._collect(conn)  # type: ignore[arg-type]
            self._expire()
        self._dispatch()
        ready, self._ready = self._ready, []
        return ready

    def shutdown(self, *, cancel: bool) -> None:
        self._queue.clear()
        for worker in list(self._busy.values()):
            worker.kill() if cancel else worker.stop()
        for worker in self._idle:
            worker.stop()
        self._busy.clear()
        self._idle.clear()

    def check(self) -> str:
        return f"local compute: {self.max_in_flight} worker processes on {socket.gethostname()}"

    # -- internals ------------------------------------------------------------------------

    def _dispatch(self) -> None:
        while self._queue and len(self._busy) < self.max_in_flight:
            worker = self._idle.pop() if self._idle else _Worker(self._require_ctx())
            spec = self._queue.popleft()
            try:
                worker.give(spec)
            except OSError:  # the idle worker died meanwhile: start another for this task
                worker.kill()
                self._queue.appendleft(spec)
                continue
            self._busy[worker.conn.fileno()] = worker

    def _require_ctx(self) -> RunContext:
        if self._ctx is None:
            raise RuntimeError("LocalCompute.start() was not called")
        return self._ctx

    def _collect(self, conn: Connection) -> None:
        worker = self._busy.pop(conn.fileno())
        spec = worker.spec
        assert spec is not None
        try:
            outcome: TaskOutcome = conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            code = worker.process.exitcode
            reason = (
                f"the worker process was killed by signal {-code}"
                + (" (SIGKILL: out of memory?)" if code == -signal.SIGKILL else "")
                if code is not None and code < 0
                else f"the worker process exited with code {code}"
            )
            worker.kill()
            self._ready.append(self._synthetic_failure(spec, worker, "killed", reason))
            return
        worker.spec = None
        worker.done += 1
        limit = self.options.max_tasks_per_worker
        if limit is not None and worker.done >= limit:
            worker.stop()
        else:
            self._idle.append(worker)
        self._ready.append(outcome)

    def _expire(self) -> None:
        now = time.time()
        for fileno, worker in list(self._busy.items()):
            if worker.deadline is not None and now >= worker.deadline:
                del self._busy[fileno]
                worker.kill()
                spec = worker.spec
                assert spec is not None
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

