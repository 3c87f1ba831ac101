"""DuckDB connections for the feature store: a fresh one for every job.

Each query runs on its own in-memory database, closed when the query is done: closing is
what returns the memory DuckDB keeps after a query (its allocator holds on to what a
query freed, about half the join's peak), so one join's memory is never carried into the
next. Closing one after a large join takes 30-40 ms at 1M rows and 0.13-0.2 s at 10M: for
the point-in-time join, :meth:`Connections.retire` does it on a background thread while
the rows are put in order, and the next :meth:`Connections.take` waits for it.

Measured and not kept: closing in the background the connection of a large scan that a
join follows (``apply`` learning about its source): the join then peaked at 1.30 GiB
instead of 1.15 at 1M x 10M rows, even waiting for the close, so those are closed on the
caller's thread; and opening the next database ahead on the background thread (a join on
it peaked 15-25 % higher in memory), so opening one (20-50 ms) stays on the caller's
path.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from lamina.errors import FeatureStoreError
from lamina.features.sources import literal


def connect(threads: int | None = None, memory_limit: str | None = None) -> Any:
    """A fresh in-memory DuckDB connection in UTC (naive timestamps are taken as UTC)."""
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise FeatureStoreError(
            "the feature store's point-in-time engine needs DuckDB, which is not installed",
            hint="pip install 'lamina[features]'  (or: pip install 'duckdb>=1.1')",
        ) from None
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone='UTC'")
    if threads:
        con.execute(f"SET threads={int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit={literal(memory_limit)}")
    return con


_FORKED: list[Any] = []  # a parent's workers, kept from the collector in a child


class Connections:
    """Fresh DuckDB connections with the given settings, closed in the background.

    :meth:`lease` opens one for a job (after the pending closes are done); :meth:`retire`
    closes a used one on a worker thread; :meth:`close` waits for the pending closes and
    stops the worker.

    A forked child does not touch its parent's worker (its thread is not in the child):
    it starts its own."""

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        self.threads = threads
        self.memory_limit = memory_limit
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        self._last_close: Future[Any] | None = None
        self._pid = os.getpid()

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # never wait on the parent's objects here
            _FORKED.append(self._worker)
            self._lock = threading.Lock()
            self._worker, self._last_close, self._pid = None, None, os.getpid()

    def take(self) -> Any:
        """A fresh connection, yours to close (or to :meth:`retire`), once the closes
        still pending are done."""
        self._check_fork()
        pending = self._last_close
        if pending is not None:
            pending.exception()  # waits; a failed close has nothing more to give back
        return connect(self.threads, self.memory_limit)

    def retire(self, con: Any) -> Future[Any]:
        """Close ``con`` on the worker thread; the future ends when its memory is freed."""
        self._check_fork()
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=1,
                                                  thread_name_prefix="lamina-duckdb")
            # one worker: the closes run in order, so the last one ends after the others
            self._last_close = self._worker.submit(con.close)
            return self._last_close

    @contextlib.contextmanager
    def lease(self) -> Iterator[Lease]:
        """``with connections.lease() as lease:`` a fresh connection as ``lease.con``,
        retired on leaving unless ``lease.release()`` did it earlier, as soon as DuckDB's
        work was done."""
        lease = Lease(self, self.take())
        try:
            yield lease
        finally:
            lease.release()

    def close(self) -> None:
        """Wait for the pending closes and stop the worker."""
        self._check_fork()
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)


class Lease:
    """A connection taken from :class:`Connections` until :meth:`release`."""

    def __init__(self, pool: Connections, con: Any) -> None:
        self.pool = pool
        self.con = con
        self._released = False

    def release(self) -> None:
        """Close the connection in the background (once; later calls do nothing)."""
        if not self._released:
            self._released = True
            self.pool.retire(self.con)
