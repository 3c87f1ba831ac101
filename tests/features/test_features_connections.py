"""The feature store's DuckDB connections: a fresh database per job, the next one opened
in the background, used ones closed in the background, nothing shared across a fork."""

from __future__ import annotations

import multiprocessing

import duckdb
import pytest

from lamina.features.connections import Connections


def test_each_take_is_a_fresh_database_with_the_settings() -> None:
    pool = Connections(threads=1, memory_limit="300MB")
    try:
        first = pool.take()
        first.execute("CREATE TABLE t AS SELECT 1 AS x")
        spare = pool._spare
        assert spare is not None
        second = pool.take()
        assert second is spare.result()  # the one opened in the background
        with pytest.raises(duckdb.CatalogException):
            second.execute("SELECT * FROM t")  # nothing carried from the first
        for con in (first, second):
            assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
            assert con.execute("SELECT current_setting('TimeZone')").fetchone()[0] == "UTC"
            limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
            assert limit.startswith(("286", "300"))  # MiB or MB, as DuckDB prints it
        pool.retire(first).result()
        with pytest.raises(duckdb.ConnectionException):
            first.execute("SELECT 1")
        second.close()
    finally:
        pool.close()


def test_close_closes_the_spare() -> None:
    pool = Connections()
    pool.take().close()
    spare = pool._spare
    assert spare is not None
    pool.close()
    with pytest.raises(duckdb.ConnectionException):
        spare.result().execute("SELECT 1")
    con = pool.take()  # usable again after close: it starts afresh
    assert con.execute("SELECT 42").fetchone() == (42,)
    con.close()
    pool.close()


def _child(pool: Connections, out: multiprocessing.connection.Connection) -> None:
    try:
        con = pool.take()
        out.send(con.execute("SELECT 7").fetchone()[0])
        pool.retire(con).result()
        pool.close()
    except Exception as exc:  # reported to the parent, which fails the test
        out.send(repr(exc))


def test_a_forked_child_opens_its_own_connections() -> None:
    pool = Connections()
    mine = pool.take()  # a spare is now open in this process
    assert pool._spare is not None
    pool._spare.result()
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(pool, send))
    proc.start()
    proc.join(60)
    if proc.is_alive():  # it hung on its parent's objects
        proc.kill()
    assert proc.exitcode == 0
    assert receive.recv() == 7
    # the parent's spare was left alone by the child
    assert pool.take().execute("SELECT 1").fetchone() == (1,)
    mine.close()
    pool.close()
