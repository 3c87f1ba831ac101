"""The feature store's DuckDB connections: a fresh database per job, closed in the
background once DuckDB's work is done, nothing shared across a fork."""

from __future__ import annotations

import multiprocessing

import duckdb
import pytest

from lamina.features.connections import Connections


def test_each_lease_is_a_fresh_database_with_the_settings() -> None:
    pool = Connections(threads=1, memory_limit="300MB")
    try:
        with pool.lease() as first:
            first.con.execute("CREATE TABLE t AS SELECT 1 AS x")
            with pool.lease() as second:
                with pytest.raises(duckdb.CatalogException):
                    second.con.execute("SELECT * FROM t")  # nothing carried over
                for con in (first.con, second.con):
                    assert con.execute("SELECT current_setting('threads')").fetchone() == (1,)
                    assert con.execute(
                        "SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
                    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()
                    assert limit[0].startswith(("286", "300"))  # MiB or MB, as printed
    finally:
        pool.close()  # waits for the closes
    for con in (first.con, second.con):
        with pytest.raises(duckdb.ConnectionException):
            con.execute("SELECT 1")


def test_a_lease_is_retired_once_even_when_the_job_fails() -> None:
    pool = Connections()
    try:
        with pool.lease() as lease:
            lease.release()  # as soon as DuckDB's work is done ...
            closing = pool._worker
            assert closing is not None
            closing.submit(lambda: None).result()  # ... the worker closed it
            with pytest.raises(duckdb.ConnectionException):
                lease.con.execute("SELECT 1")
            lease.release()  # and only once
        with pytest.raises(ZeroDivisionError), pool.lease() as failing:
            raise ZeroDivisionError  # a failing job still gives its connection back
        pool._worker.submit(lambda: None).result()
        with pytest.raises(duckdb.ConnectionException):
            failing.con.execute("SELECT 1")
    finally:
        pool.close()


def _child(pool: Connections, out: multiprocessing.connection.Connection) -> None:
    try:
        with pool.lease() as lease:
            out.send(lease.con.execute("SELECT 7").fetchone()[0])
        pool.close()  # waits on the child's own worker, not the parent's
        try:
            lease.con.execute("SELECT 1")
            out.send("not closed")  # the close went to the parent's worker: lost
        except duckdb.ConnectionException:
            out.send("closed")
    except Exception as exc:  # reported to the parent, which fails the test
        out.send(repr(exc))


def test_a_forked_child_closes_on_its_own_worker() -> None:
    pool = Connections()
    with pool.lease():
        pass  # the parent's worker thread now exists
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(pool, send))
    proc.start()
    proc.join(60)
    if proc.is_alive():  # it hung on its parent's worker
        proc.kill()
    assert proc.exitcode == 0
    assert [receive.recv(), receive.recv()] == [7, "closed"]
    with pool.lease() as lease:  # the parent's pool works on
        assert lease.con.execute("SELECT 1").fetchone() == (1,)
    pool.close()


def test_a_new_connection_waits_for_the_pending_closes() -> None:
    # a query must not start before the memory of the one before is back
    import threading
    import time

    closed = threading.Event()

    class SlowToClose:
        def close(self) -> None:
            time.sleep(0.3)
            closed.set()

    pool = Connections()
    try:
        pool.retire(SlowToClose())
        con = pool.take()
        assert closed.is_set()
        con.close()
    finally:
        pool.close()
