"""The ``dask`` compute: lamina's runtime keeps orchestrating, each task is a Dask future.

Specs queue in lamina and go to the scheduler in batches (one ``client.map`` per batch),
never more than ``max_in_flight`` futures at once. A finished future's done-callback puts
its key on a queue that :meth:`DaskCompute.poll` waits on, so collecting outcomes costs
O(1) per task, and finished results are gathered in one round trip per poll.

What Dask does and what lamina adds:

- a worker that dies mid-task: Dask reschedules its tasks on other workers; after
  ``distributed.scheduler.allowed-failures`` deaths it gives up (``KilledWorker``) and the
  task fails here with ``exit_reason="killed"``, so the step's ``retries`` may try again;
- a timeout: Dask has none, so each task with one announces when it really starts (it may
  queue on the scheduler first); past its deadline it is reported failed with
  ``exit_reason="timeout"``, its future cancelled and its worker restarted by the nanny;
- resources: a step's ``gpu``/``memory`` (and ``cpu`` if mapped) become Dask worker
  resources; a task no connected worker can satisfy fails at once with the fix.
"""

from __future__ import annotations

import collections
import logging
import queue
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from lamina.sdk import BackendUnreachableError, LaminaError, TaskOutcome, TaskSpec
from lamina_compute_dask.worker import STARTED_TOPIC, prepare_run, run_task

if TYPE_CHECKING:
    from lamina_compute_dask.plugin import DaskComputeOptions

log = logging.getLogger("lamina.compute.dask")
_RESOURCE_REFRESH = 2.0  # seconds between refreshes of the workers' resources


@attrs.define
class _Flight:
    """One submitted task attempt: its spec, its future and, once known, where it runs."""

    spec: TaskSpec
    future: Any
    submitted: float
    started: float | None = None
    worker: str = ""


class DaskCompute:
    """Runs each task as a Dask future on a cluster (see :class:`DaskComputeOptions`)."""

    def __init__(self, options: DaskComputeOptions) -> None:
        self.options = options
        self.max_in_flight = options.max_in_flight
        self._client: Any = None
        self._cluster: Any = None
        self._ctx: Any = None
        self._nonce = uuid.uuid4().hex[:8]
        self._queue: collections.deque[TaskSpec] = collections.deque()
        self._flights: dict[str, _Flight] = {}  # dask key -> flight
        self._timed: dict[str, _Flight] = {}  # the flights whose spec has a timeout
        # (task id, attempt) -> (when, worker): timed tasks that announced their start
        self._starts: dict[tuple[str, int], tuple[float, str]] = {}
        # done futures, from Dask's callback thread to the collector thread
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # (key, outcome or None for a future that failed), from the collector to poll()
        self._finished: queue.SimpleQueue[tuple[str, TaskOutcome | None]] = queue.SimpleQueue()
        self._collector: threading.Thread | None = None
        self._ready: list[TaskOutcome] = []
        self._worker_resources: list[dict[str, float]] = []
        self._resources_at = 0.0
        self._closing = False

    # -- Compute protocol -----------------------------------------------------------------

    def start(self, run_context: object) -> None:
        self._ctx = run_context
        try:
            self._connect()
            ctx: Any = run_context
            if not self.options.wait_for_resources:
                self._wait_for_a_worker()
            if self.options.check_datastore:
                self._prepare_workers(
                    ctx.stack.redact(ctx.stack.datastore.url), ctx.run_id, getattr(ctx, "datastore_spec", "")
                )
            self._client.subscribe_topic(STARTED_TOPIC, self._on_started)
            self._collector = threading.Thread(
                target=self._collect_loop, name="lamina-dask-collector", daemon=True
            )
            self._collector.start()
        except BaseException:
            self._close_client()
            raise

    def submit(self, spec: TaskSpec) -> None:
        self._queue.append(spec)

    def running(self) -> int:
        return len(self._queue) + len(self._flights) + len(self._ready)

    def poll(self, timeout: float) -> Sequence[TaskOutcome]:
        self._dispatch()
        if not self._ready and self._flights:
            finished: list[tuple[str, TaskOutcome | None]] = []
            try:
                finished.append(self._finished.get(timeout=self._wait_time(timeout)))
            except queue.Empty:
                pass
            while True:
                try:
                    finished.append(self._finished.get_nowait())
                except queue.Empty:
                    break
            self._collect(finished)
            self._expire()
        self._dispatch()
        ready, self._ready = self._ready, []
        return ready

    def shutdown(self, *, cancel: bool) -> None:
        self._queue.clear()
        self._stop_collector()
        futures = [f.future for f in self._flights.values()]
        self._flights.clear()
        self._timed.clear()
        self._starts.clear()
        if futures and self._client is not None:
            try:
                self._client.cancel(futures, force=True)
            except Exception as err:  # the scheduler may be gone already
                log.warning("cancelling %d Dask futures failed: %s", len(futures), err)
        if self._cluster is not None or self._closing:
            self._close_client()  # a LocalCluster lives for one run
        # else: keep the connection to an existing cluster for the stack's next run;
        # Stack.close() (close()) drops it

    def close(self) -> None:
        """Release the client and any LocalCluster this component started."""
        self._closing = True
        try:
            self.shutdown(cancel=True)
        finally:
            self._closing = False

    def check(self) -> str:
        import distributed

        if not self.options.address:
            return (
                f"dask {distributed.__version__}: a LocalCluster of {self.options.n_workers} "
                f"worker processes x {self.options.threads_per_worker} threads is started for "
                "each run (set address to use an existing cluster)"
            )
        client = self._new_client()
        try:
            workers = client.scheduler_info(n_workers=-1).get("workers", {})
        finally:
            client.close()
        threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
        resources: dict[str, float] = {}
        for w in workers.values():
            for name, amount in (w.get("resources") or {}).items():
                resources[name] = resources.get(name, 0) + amount
        text = (
            f"dask scheduler {self.options.address}: {len(workers)} workers, {threads} threads"
            f" (distributed {distributed.__version__})"
        )
        if resources:
            text += "; resources " + ", ".join(f"{k}={v:g}" for k, v in sorted(resources.items()))
        if not workers:
            text += "; no worker is connected yet, tasks will wait for one"
        return text

    # -- connecting -----------------------------------------------------------------------

    def _new_client(self) -> Any:
        from distributed import Client

        address = self.options.address
        try:
            return Client(
                address, timeout=self.options.connect_timeout, set_as_default=False
            )
        except (OSError, TimeoutError) as err:
            raise BackendUnreachableError(
                f"compute 'dask': cannot reach the Dask scheduler at {address} within "
                f"{self.options.connect_timeout:g} s ({type(err).__name__}: {err})",
                hint=f"start it (`dask scheduler`, then `dask worker {address}`), fix "
                "`address` in the stack's compute table, or leave `address` empty to start "
                "a LocalCluster",
            ) from None

    def _connect(self) -> None:
        if self._client is not None:
            if self._client.status == "running":
                return
            self._close_client()  # the connection was lost: start afresh
        if self.options.address:
            self._client = self._new_client()
            return
        from distributed import Client, LocalCluster

        self._cluster = LocalCluster(
            n_workers=self.options.n_workers,
            threads_per_worker=self.options.threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        self._client = Client(self._cluster, set_as_default=False)

    def _close_client(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        for thing in (client, cluster):
            if thing is None:
                continue
            try:
                thing.close()
            except Exception as err:
                log.warning("closing %r failed: %s", thing, err)

    def _wait_for_a_worker(self) -> None:
        try:
            self._client.wait_for_workers(1, timeout=self.options.connect_timeout)
        except TimeoutError:
            raise BackendUnreachableError(
                f"compute 'dask': the scheduler at {self._where()} has no worker after "
                f"{self.options.connect_timeout:g} s",
                hint=f"start workers (`dask worker {self._where()}`), or set "
                "wait_for_resources = true for an adaptive cluster that starts them on demand",
            ) from None

    def _prepare_workers(self, url: str, run_id: str, datastore_spec: str = "") -> None:
        problems = {
            addr: msg
            for addr, msg in self._client.run(prepare_run, url, run_id, datastore_spec).items()
            if msg
        }
        if problems:
            listed = "; ".join(f"worker {addr}: {msg}" for addr, msg in sorted(problems.items()))
            raise LaminaError(
                f"compute 'dask': {len(problems)} worker(s) cannot run tasks of run {run_id} "
                f"from the datastore {url}: {listed}",
                hint="every worker must see the datastore at the same URL (a shared folder "
                "mounted at the same path, or S3) and have lamina and the flow's packages "
                "installed",
            )

    def _where(self) -> str:
        if self.options.address:
            return self.options.address
        return getattr(self._cluster, "scheduler_address", "the LocalCluster")

    # -- submitting -----------------------------------------------------------------------

    def _dask_resources(self, spec: TaskSpec) -> dict[str, float]:
        wanted: dict[str, float] = {}
        for ours, theirs in self.options.resources.items():
            amount = getattr(spec.resources, ours, None)
            if amount:
                wanted[theirs] = float(amount)
        return wanted

    def _satisfiable(self, wanted: dict[str, float]) -> bool:
        if not wanted or self.options.wait_for_resources:
            return True
        now = time.monotonic()
        if now - self._resources_at > _RESOURCE_REFRESH:
            workers = self._client.scheduler_info(n_workers=-1).get("workers", {})
            self._worker_resources = [dict(w.get("resources") or {}) for w in workers.values()]
            self._resources_at = now
        return any(
            all(have.get(name, 0) >= amount for name, amount in wanted.items())
            for have in self._worker_resources
        )

    def _key(self, spec: TaskSpec) -> str:
        return f"lamina-{spec.run_id}-{spec.step}-{spec.index}-a{spec.attempt}-{self._nonce}"

    def _dispatch(self) -> None:
        room = self.max_in_flight - len(self._flights)
        if room <= 0 or not self._queue:
            return
        groups: dict[tuple[tuple[str, float], ...], list[TaskSpec]] = {}
        while self._queue and room > 0:
            spec = self._queue.popleft()
            room -= 1
            wanted = self._dask_resources(spec)
            if not self._satisfiable(wanted):
                self._fail(
                    spec, "resources", "UnsatisfiableResources",
                    f"no worker of the Dask cluster at {self._where()} offers "
                    + ", ".join(f"{k}={v:g}" for k, v in wanted.items())
                    + " (the step's resources); start workers with --resources \""
                    + " ".join(f"{k}={v:g}" for k, v in wanted.items())
                    + "\" or set wait_for_resources = true",
                )
                continue
            groups.setdefault(tuple(sorted(wanted.items())), []).append(spec)
        now = time.time()
        for resources, specs in groups.items():
            for start in range(0, len(specs), self.options.batch_size):
                chunk = specs[start : start + self.options.batch_size]
                keys = [self._key(s) for s in chunk]
                futures = self._client.map(
                    run_task, chunk, key=keys, pure=False, retries=0,
                    resources=dict(resources) or None,
                )
                for spec, key, future in zip(chunk, keys, futures, strict=True):
                    flight = self._flights[key] = _Flight(spec, future, now)
                    if spec.timeout:
                        self._timed[key] = flight
                    future.add_done_callback(self._on_done)

    # -- collecting -----------------------------------------------------------------------

    def _on_done(self, future: Any) -> None:  # runs on a Dask callback thread
        self._done.put(future)

    def _on_started(self, event: Any) -> None:  # runs on the client's event loop
        _, msg = event
        # it may arrive before the flight is registered: _timed_started() picks it up
        self._starts[(msg.get("task"), msg.get("attempt"))] = (
            time.time(), str(msg.get("worker", ""))
        )

    def _collect_loop(self) -> None:
        """Gather finished results in batches, off the runtime's thread, so a round trip
        to the workers never stalls the scheduling loop (and more finish per trip)."""
        while True:
            batch = [self._done.get()]
            while True:
                try:
                    batch.append(self._done.get_nowait())
                except queue.Empty:
                    break
            if any(f is None for f in batch):
                return
            ok = [f for f in batch if f.status == "finished"]
            for future in batch:
                if future.status != "finished":
                    self._finished.put((future.key, None))
            if not ok:
                continue
            try:
                outcomes = self._client.gather(ok)
            except Exception:  # one of them vanished meanwhile: take them one by one
                outcomes = []
                for future in ok:
                    try:
                        outcomes.append(future.result(timeout=self.options.connect_timeout))
                    except Exception:
                        outcomes.append(None)
            for future, outcome in zip(ok, outcomes, strict=True):
                self._finished.put((future.key, outcome))

    def _stop_collector(self) -> None:
        if self._collector is not None:
            self._done.put(None)
            self._collector.join(timeout=30)
            self._collector = None
        self._done = queue.SimpleQueue()
        self._finished = queue.SimpleQueue()

    def _collect(self, finished: list[tuple[str, TaskOutcome | None]]) -> None:
        for key, outcome in finished:
            flight = self._flights.pop(key, None)
            if flight is None:  # timed out or cancelled meanwhile
                continue
            if flight.spec.timeout:
                self._timed.pop(key, None)
                self._starts.pop((flight.spec.task_id, flight.spec.attempt), None)
            if outcome is not None:
                self._ready.append(outcome)
            else:
                self._failed_future(flight)

    def _failed_future(self, flight: _Flight) -> TaskOutcome:
        """Record (and queue) the outcome of a future that produced none of its own."""
        from distributed import KilledWorker

        spec, future = flight.spec, flight.future
        if future.status == "cancelled":
            return self._fail(
                spec, "cancelled", "Cancelled",
                f"the Dask scheduler at {self._where()} dropped the task (was it restarted, "
                "or did this process lose its connection to it?)",
                started=flight.started,
            )
        if future.status == "finished":
            return self._fail(
                spec, "worker-error", "ResultLost",
                f"the task finished but its result could not be fetched from its Dask worker "
                f"(the scheduler at {self._where()} lost it, did the worker die?)",
                started=flight.started,
            )
        try:
            exc = future.exception(timeout=self.options.connect_timeout)
            tb = future.traceback(timeout=self.options.connect_timeout)
        except Exception as err:
            exc, tb = err, None
        if isinstance(exc, KilledWorker):
            return self._fail(
                spec, "killed", "KilledWorker",
                f"the Dask workers running this task died {exc.allowed_failures + 1} times "
                f"(the last one: {getattr(exc.last_worker, 'address', exc.last_worker)}), so "
                "Dask stopped retrying it (distributed.scheduler.allowed-failures); a step "
                "that exhausts its worker's memory or crashes the interpreter does this",
                started=flight.started,
            )
        text = "".join(traceback.format_exception(type(exc), exc, tb)) if tb else ""
        return self._fail(
            spec, "worker-error", type(exc).__name__,
            f"the task could not run on its Dask worker: {exc}", started=flight.started,
            trace=text,
        )

    def _fail(
        self, spec: TaskSpec, reason: str, error_type: str, message: str, *,
        started: float | None = None, trace: str = "",
    ) -> TaskOutcome:
        """Record and queue a failed outcome for a task that could not report its own; when
        the task's record says it succeeded (a worker that recorded it died before Dask got
        the result, and the rerun found it done), that success is queued instead."""
        ctx = self._ctx
        step = ctx.flow.steps.get(spec.step) if ctx is not None else None
        outcome = TaskOutcome(
            run_id=spec.run_id, step=spec.step, index=spec.index, attempt=spec.attempt,
            status="failed", started_at=started or time.time(), finished_at=time.time(),
            error=f"{reason}: {message}", error_type=error_type,
            location=getattr(step, "where", ""), traceback=trace, exit_reason=reason,
            cache_key=spec.cache_key, host=socket.gethostname(),
        )
        if ctx is not None:
            from lamina.sdk import record_failure

            outcome = record_failure(ctx.artifacts, outcome)
        self._ready.append(outcome)
        return outcome

    # -- timeouts -------------------------------------------------------------------------

    def _timed_started(self) -> list[_Flight]:
        """The timed flights whose task has started (as announced by its worker)."""
        started = []
        for flight in self._timed.values():
            if flight.started is None:
                announced = self._starts.pop((flight.spec.task_id, flight.spec.attempt), None)
                if announced is None:
                    continue
                flight.started, flight.worker = announced
            started.append(flight)
        return started

    def _wait_time(self, timeout: float) -> float:
        deadlines = [(f.started or 0.0) + (f.spec.timeout or 0) for f in self._timed_started()]
        if deadlines:
            return max(0.0, min(timeout, min(deadlines) - time.time()))
        return timeout

    def _expire(self) -> None:
        now = time.time()
        for flight in self._timed_started():
            spec = flight.spec
            if now < (flight.started or now) + (spec.timeout or 0):
                continue
            key = flight.future.key
            del self._flights[key]
            del self._timed[key]
            self._client.cancel([flight.future], force=True)
            stopped = self._stop_worker(flight.worker)
            self._fail(
                spec, "timeout", "TaskTimeout",
                f"the task ran longer than its timeout of {spec.timeout:g} s on Dask worker "
                f"{flight.worker} and was "
                + ("stopped (the worker was restarted)" if stopped else "abandoned (it may "
                   "still be running: stop_timed_out is off, or the worker has no nanny to "
                   "restart it)"),
                started=flight.started,
            )

    def _stop_worker(self, address: str) -> bool:
        if not self.options.stop_timed_out or not address:
            return False
        try:
            self._client.restart_workers([address], timeout=max(30.0, self.options.connect_timeout))
        except Exception as err:
            log.warning("could not restart Dask worker %s after a timeout: %s", address, err)
            return False
        return True

    def __repr__(self) -> str:
        where = self.options.address or f"LocalCluster(n_workers={self.options.n_workers})"
        return f"DaskCompute({where}, max_in_flight={self.max_in_flight})"
