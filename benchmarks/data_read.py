"""Reading a PostgreSQL table into Arrow: ``lamina.data.read`` (the ``postgres`` source of
lamina-data-sql) against the bare ADBC driver it uses and against pandas ``read_sql`` on a
SQLAlchemy engine (psycopg2), the usual way a step reads a warehouse without lamina.
pandas >= 2.2 accepts only SQLAlchemy 2 engines and the workspace resolves SQLAlchemy 1.4,
so pandas gets the engine's DBAPI connection: the same fetch-all-rows path, without
SQLAlchemy's result layer on top (which would only slow the peer down).

The table has 10,000,000 rows x 6 columns (int8, int4, float8, float8, text, timestamptz),
made server-side with ``generate_series`` in a fresh database (dropped at the end). Each
probe runs in a fresh process; the three sides alternate; the median and the best time are
reported (on a shared machine the best is the steadier measure of what a side costs). Time is
the read only (imports, the stack's loading and a 10-row warm-up read, which imports what
each side imports lazily, are done before the clock starts);
lamina's time includes what a read records (the content hash of the result). Memory is
the process's peak resident size during the read, above its size before it, against the
Arrow table's own size. Run from the repository root::

    python benchmarks/data_read.py                   # 10,000,000 rows, 5 probes a side
    python benchmarks/data_read.py --quick           # 100,000 rows, 1 probe, no doc update
    python benchmarks/data_read.py --server postgresql://USER@HOST:PORT/postgres
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import command_line, median, table
from report import machine_line, write_section

PROBE = r'''
import json, resource, sys, time

import psutil

side, url, config = sys.argv[1], sys.argv[2], sys.argv[3]
query = "select * from bench limit 10"  # the warm-up: every module imported, then the read
if side == "adbc":
    import adbc_driver_postgresql.dbapi as pg

    def read():
        with pg.connect(url) as conn, conn.cursor() as cur:
            cur.execute(query)
            return cur.fetch_arrow_table()
elif side == "lamina":
    import lamina.data
    from lamina.stack import Stack

    stack = Stack.load(config_file=config)
    stack.data_source("warehouse")

    def read():
        return lamina.data.read("warehouse", query, stack=stack)
else:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))

    import warnings

    warnings.simplefilter("ignore", UserWarning)  # pandas >= 2.2 takes SQLAlchemy 2 engines

    def read():
        conn = engine.raw_connection()  # the DBAPI connection under the engine (psycopg2)
        try:
            return pd.read_sql(query, conn)
        finally:
            conn.close()
read()
query = "select * from bench"
before = psutil.Process().memory_info().rss
t = time.perf_counter()
result = read()
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
size = result.nbytes if side != "pandas" else int(result.memory_usage(deep=True).sum())
print(json.dumps({"seconds": seconds, "peak_above": max(peak - before, 0), "bytes": size,
                  "rows": len(result)}))
'''

SIDES = (("adbc", "bare ADBC driver (adbc-driver-postgresql)"),
         ("lamina", "lamina.data.read (postgres source, read recorded)"),
         ("pandas", "pandas read_sql, SQLAlchemy engine + psycopg2"))


def _admin(server: str, sql: str, db: str = "postgres") -> None:
    import psycopg

    base = server.rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/{db}", autocommit=True) as conn:
        conn.execute(sql)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows, no doc update")
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL server's URL (trust auth or a password in it)")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--probes", type=int, default=None, help="probes per side (5)")
    parser.add_argument("--sides", default="adbc,lamina,pandas",
                        help="which sides to run (comma-separated; the doc needs all three)")
    args = parser.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 10_000_000)
    probes = args.probes or (1 if args.quick else 5)
    db = f"lamina_bench_{uuid.uuid4().hex[:10]}"
    url = f"{args.server.rsplit('/', 1)[0]}/{db}"
    _admin(args.server, f'CREATE DATABASE "{db}"')
    try:
        _admin(args.server, f"""
            CREATE TABLE bench AS SELECT i::int8 AS id, (i % 1000)::int4 AS bucket,
                   random() AS x, i * 0.5::float8 AS y, 'label-' || (i % 97) AS label,
                   timestamptz '2026-01-01' + i * interval '1 second' AS at
            FROM generate_series(1, {rows}) AS i""", db)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "lamina.toml"
            config.write_text(f'[stacks.bench.data.warehouse]\nplugin = "postgres"\nurl = "{url}"\n')
            env = {k: v for k, v in os.environ.items() if not k.startswith("LAMINA_")}
            sides = [(s, label) for s, label in SIDES if s in args.sides.split(",")]
            results: dict[str, list[dict]] = {side: [] for side, _ in sides}
            for _ in range(probes):
                for side, _label in sides:
                    done = subprocess.run([sys.executable, "-c", PROBE, side, url, str(config)],
                                          capture_output=True, text=True, env=env, cwd=tmp,
                                          timeout=3600)
                    if done.returncode != 0:
                        raise SystemExit(f"{side} probe failed:\n{done.stderr}")
                    results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        _admin(args.server, f'DROP DATABASE IF EXISTS "{db}"')
    arrow_bytes = results["adbc"][0]["bytes"]
    adbc_s = median([r["seconds"] for r in results["adbc"]])
    adbc_best = min(r["seconds"] for r in results["adbc"])
    out_rows = []
    for side, label in sides:
        times = [r["seconds"] for r in results[side]]
        secs, best = median(times), min(times)
        peak = median([r["peak_above"] for r in results[side]])
        assert all(r["rows"] == rows for r in results[side]), (side, results[side])
        out_rows.append([label, f"{secs:.2f}", f"{secs / adbc_s:.2f}x", f"{best:.2f}",
                         f"{best / adbc_best:.2f}x", f"{peak / 2**20:,.0f}",
                         f"{peak / arrow_bytes:.2f}x"])
    text = (
        f"{rows:,} rows x 6 columns (int8, int4, float8, float8, text, timestamptz) from "
        f"PostgreSQL; Arrow table {arrow_bytes / 2**20:,.0f} MiB; median of {probes} "
        f"probe(s) per side, each a fresh process. {machine_line()}.\n\n"
        + table(["read", "median s", "vs ADBC", "best s", "best vs ADBC",
                 "peak MiB above start", "peak / Arrow table"], out_rows)
        + f"\n\nCommand: `{command_line()}`"
    )
    print(text)
    if not args.quick and not args.rows and len(sides) == len(SIDES):
        write_section("data-read", "## Data sources: PostgreSQL into Arrow\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
